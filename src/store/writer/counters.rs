//! The monitor's counters in the writer's transaction: the counter keys of the signals a batch
//! accepts are summed in memory and added with one upsert per batch, so a signal is counted
//! exactly when it is committed, and a resend (answered with the original receipt) never.

use std::collections::BTreeMap;

use super::{rows::insert, script::Script};
use crate::{
    monitor::CounterKey,
    store::{
        StoreError,
        json_rows::{Json, JsonRows},
    },
};

/// The columns of `monitor_counters`.
const COLUMNS: &[(&str, Json)] = &[
    ("quarter", Json::Text),
    ("region", Json::Text),
    ("signal_type", Json::Text),
    ("field", Json::Text),
    ("value", Json::Text),
    ("count", Json::Int),
];

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
    pub async fn write(self, script: &mut Script<'_>) -> Result<(), StoreError> {
        let mut rows = JsonRows::default();
        for (key, n) in self.0 {
            rows.row(|r| {
                r.text(&key.quarter.to_string())
                    .text(&key.region)
                    .text(&key.signal_type)
                    .text(&key.field)
                    .text(&key.value)
                    .int(n);
            });
        }
        let tail = " ON CONFLICT (quarter, region, signal_type, field, value) \
                    DO UPDATE SET count = monitor_counters.count + excluded.count";
        insert(script, "monitor_counters", COLUMNS, rows, tail).await
    }
}
