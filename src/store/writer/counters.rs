//! The monitor's counters in the writer's transaction: the counter keys of the signals a batch
//! accepts are summed in memory and added with one upsert per batch, so a signal is counted
//! exactly when it is committed, and a resend (answered with the original receipt) never.

use std::collections::BTreeMap;

use super::{rows::execute_values, script::Script};
use crate::monitor::CounterKey;

/// What a batch adds to the counters.
#[derive(Default)]
pub(super) struct Counters(BTreeMap<CounterKey, i64>);

// === impl Counters ===

impl Counters {
    /// Counts one accepted signal.
    pub fn add(&mut self, keys: Vec<CounterKey>) {
        for key in keys {
            *self.0.entry(key).or_default() += 1;
        }
    }

    /// Adds the batch's sums to the stored counters. Each key appears once per statement, as
    /// PostgreSQL requires of an upsert.
    pub async fn write(self, script: &mut Script<'_>) -> Result<(), sqlx::Error> {
        let head =
            "INSERT INTO monitor_counters (quarter, region, signal_type, field, value, count) ";
        let tail = " ON CONFLICT (quarter, region, signal_type, field, value) \
                    DO UPDATE SET count = monitor_counters.count + excluded.count";
        execute_values(script, head, tail, 6, self.0, |b, (key, n)| {
            b.bind(key.quarter.to_string())
                .bind(key.region)
                .bind(key.signal_type)
                .bind(key.field)
                .bind(key.value)
                .bind(n);
        })
        .await
    }
}
