//! Exchanges and refusals per day in an officer's scope, for the console's chart: accepted
//! and refused signals counted by UTC day. Counting reads the records, so it is an audit read.

use std::collections::BTreeMap;

use serde_json::json;

use super::{Exchange, ExchangeError, audit_reading::Officer};
use crate::{
    audit::{EventKind, Subject},
    store::AuditFilter,
};

const DAY_MS: i64 = 86_400_000;

/// The counts of one UTC day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayCount {
    /// Start of the day (Unix ms).
    pub day: i64,
    /// Signals accepted.
    pub exchanges: u64,
    /// Signals refused.
    pub refusals: u64,
}

// === impl Exchange ===

impl Exchange {
    /// Accepted and refused signals per UTC day from `from` to `to` (Unix ms), every day of
    /// the range present, within the officer's scope.
    pub async fn daily_counts(
        &self,
        officer: &Officer,
        from: i64,
        to: i64,
    ) -> Result<Vec<DayCount>, ExchangeError> {
        let first = from.div_euclid(DAY_MS) * DAY_MS;
        let mut days: BTreeMap<i64, DayCount> = (0..)
            .map(|i| first + i * DAY_MS)
            .take_while(|day| *day < to)
            .map(|day| {
                (
                    day,
                    DayCount {
                        day,
                        ..DayCount::default()
                    },
                )
            })
            .collect();
        for (kind, event) in [
            (EventKind::SignalAccepted, "signal_accepted"),
            (EventKind::SignalRefused, "signal_refused"),
        ] {
            let filter = AuditFilter {
                from: Some(first),
                to: Some(to),
                event: Some(event.to_string()),
                scope: officer.scope.clone(),
                ..AuditFilter::default()
            };
            for stored in self.walk(filter).await? {
                let day = stored.record.at.div_euclid(DAY_MS) * DAY_MS;
                if let Some(count) = days.get_mut(&day) {
                    match kind {
                        EventKind::SignalAccepted => count.exchanges += 1,
                        _ => count.refusals += 1,
                    }
                }
            }
        }
        let counts: Vec<DayCount> = days.into_values().collect();
        let detail = json!({ "days": counts.len() });
        self.audit_read(&officer.actor, "DailyCounts", Subject::default(), detail)
            .await?;
        Ok(counts)
    }
}
