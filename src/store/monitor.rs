//! Reading the monitor's counters (written by the writer with each accepted signal, see
//! `writer/counters.rs`): the stored counts of some quarters, for a report.

use sqlx::Row;

use super::{Store, StoreError, db::Sql};
use crate::monitor::{CounterKey, Quarter};

// === impl Store ===

impl Store {
    /// Every counter of `quarters`, with its count.
    pub async fn monitor_counts(
        &self,
        quarters: &[Quarter],
    ) -> Result<Vec<(CounterKey, u64)>, StoreError> {
        let names: Vec<String> = quarters.iter().map(ToString::to_string).collect();
        let rows = Sql::new(
            self.backend,
            "SELECT quarter, region, signal_type, field, value, count FROM monitor_counters WHERE quarter IN ",
        )
        .bind_list(names.iter().map(String::as_str))
        .build()?
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let quarter: String = row.try_get("quarter")?;
                let quarter = quarter.parse().map_err(|_| {
                    StoreError::Corrupt(format!("monitor counter of quarter {quarter:?}"))
                })?;
                let count: i64 = row.try_get("count")?;
                let key = CounterKey {
                    quarter,
                    region: row.try_get("region")?,
                    signal_type: row.try_get("signal_type")?,
                    field: row.try_get("field")?,
                    value: row.try_get("value")?,
                };
                Ok((key, u64::try_from(count).unwrap_or(0)))
            })
            .collect()
    }
}
