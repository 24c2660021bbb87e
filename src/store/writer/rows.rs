//! The rows of one group commit, and the few multi-row statements that write them.
//!
//! With sqlx every statement is a round trip to the connection's worker thread, and with
//! one statement per row those round trips, not SQLite, limit the writer (DESIGN.md, "The cost
//! of durability"). So the writer reads what a batch's jobs ask about in few queries
//! ([`super::known`]), applies the jobs in memory, and writes each table with one
//! `INSERT … VALUES (…), (…)` or `UPDATE … FROM (VALUES …)` ([`Rows::write`]), split only
//! where the limit on bound parameters requires, into the batch's [`Script`]. The same
//! statements run on SQLite and PostgreSQL.

use std::collections::BTreeMap;

use super::{leases::LeaseRow, script::Script};
use crate::{
    audit::{AuditRecord, Subject},
    ids::Oin,
    store::{
        columns::{audit_columns, enum_text},
        db::{MAX_PARAMETERS, Values},
    },
};

/// A `signals` row.
pub(super) struct SignalRow {
    pub id: String,
    pub sender: Oin,
    pub idempotency_key: String,
    pub content_hash: [u8; 32],
    pub signal_type: String,
    pub purpose: String,
    pub case_ref: String,
    pub rule: String,
    pub policy_version: String,
    pub accepted_at: i64,
    pub audit_seq: i64,
    pub subject: Subject,
}

/// A `deliveries` row.
pub(super) struct DeliveryRow {
    pub id: String,
    pub signal_id: String,
    pub position: i64,
    pub recipient: Oin,
    /// JSON array.
    pub purposes: String,
    /// JSON array.
    pub withheld: String,
    pub payload: Vec<u8>,
}

/// Everything one batch writes, in the order its jobs produced it.
#[derive(Default)]
pub(super) struct Rows {
    pub signals: Vec<SignalRow>,
    pub deliveries: Vec<DeliveryRow>,
    /// Chained records with their hashes, in chain order.
    pub audit: Vec<(AuditRecord, String)>,
    /// Deliveries leased to streams in this batch, by id.
    pub leased: BTreeMap<String, LeaseRow>,
    /// Newly acknowledged deliveries and when (Unix ms).
    pub acked: Vec<(String, i64)>,
    /// Newly expired deliveries and when (Unix ms).
    pub expired: Vec<(String, i64)>,
    /// Deliveries whose copy is erased in this batch (acknowledged, with no grace period).
    pub erased: Vec<String>,
    /// What the batch's accepted signals add to the monitor's counters.
    pub counters: super::counters::Counters,
}

// === impl Rows ===

impl Rows {
    /// Writes every row: signals before the deliveries that refer to them.
    pub async fn write(self, script: &mut Script<'_>) -> Result<(), sqlx::Error> {
        let signals = "INSERT INTO signals (id, sender_oin, idempotency_key, content_hash, signal_type, purpose, case_ref, rule_name, policy_version, accepted_at, audit_seq, case_ref_hash, subject_type, subject_hash, subject_key_id) ";
        execute_values(script, signals, "", 15, self.signals, |b, s| {
            b.bind(s.id)
                .bind(s.sender.to_string())
                .bind(s.idempotency_key)
                .bind(s.content_hash.to_vec())
                .bind(s.signal_type)
                .bind(s.purpose)
                .bind(s.case_ref)
                .bind(s.rule)
                .bind(s.policy_version)
                .bind(s.accepted_at)
                .bind(s.audit_seq)
                .bind(s.subject.case_ref_hash.unwrap_or_default())
                .bind(s.subject.subject_type)
                .bind(s.subject.subject_hash)
                .bind(s.subject.subject_key_id.unwrap_or_default());
        })
        .await?;
        let deliveries = "INSERT INTO deliveries (id, signal_id, position, recipient_oin, purposes, withheld, payload) ";
        execute_values(script, deliveries, "", 7, self.deliveries, |b, d| {
            b.bind(d.id)
                .bind(d.signal_id)
                .bind(d.position)
                .bind(d.recipient.to_string())
                .bind(d.purposes)
                .bind(d.withheld)
                .bind(d.payload);
        })
        .await?;
        let audit = concat!("INSERT INTO audit_log (", audit_columns!(), ") ");
        execute_values(script, audit, "", 22, self.audit, |b, (record, hash)| {
            let e = record.event;
            b.bind(record.seq)
                .bind(record.id)
                .bind(record.at)
                .bind(enum_text(&e.event))
                .bind(enum_text(&e.outcome))
                .bind(e.actor.map(|oin| oin.to_string()))
                .bind(e.actor_person)
                .bind(e.counterparty.map(|oin| oin.to_string()))
                .bind(e.purpose)
                .bind(e.legal_basis)
                .bind(e.signal_id)
                .bind(e.signal_type)
                .bind(e.delivery_id)
                .bind(e.subject.case_ref_hash)
                .bind(e.subject.subject_type)
                .bind(e.subject.subject_hash)
                .bind(e.subject.subject_key_id)
                .bind(e.trace.trace_id)
                .bind(e.trace.span_id)
                .bind(e.detail.to_string())
                .bind(record.prev_hash)
                .bind(hash);
        })
        .await?;
        // `column1`, `column2` are SQLite's and PostgreSQL's names for the columns of a VALUES
        // list. Leases first: an acknowledgement or expiry later in the batch ends them.
        let leased = "UPDATE deliveries SET attempts = attempts + v.column4, leased_by = v.column2, leased_until = v.column3 FROM (";
        execute_values(
            script,
            leased,
            ") AS v WHERE deliveries.id = v.column1",
            4,
            self.leased,
            |b, (id, lease)| {
                b.bind(id)
                    .bind(lease.holder)
                    .bind(lease.until)
                    .bind(lease.streamed);
            },
        )
        .await?;
        // A settled delivery's lease ends with it, so that only deliveries in flight stay in
        // the `deliveries_leased` index.
        let acked = "UPDATE deliveries SET acked_at = v.column2, leased_by = NULL, leased_until = NULL FROM (";
        let only_unacked = ") AS v WHERE deliveries.id = v.column1 AND deliveries.acked_at IS NULL";
        execute_values(script, acked, only_unacked, 2, self.acked, |b, (id, at)| {
            b.bind(id).bind(at);
        })
        .await?;
        // The expired copy is erased: `substr(…, 1, 0)` is the empty BLOB and the empty BYTEA
        // (but NULL for an already empty BLOB in SQLite, hence the COALESCE).
        let expired = "UPDATE deliveries SET expired_at = v.column2, payload = COALESCE(substr(payload, 1, 0), payload), leased_by = NULL, leased_until = NULL FROM (";
        let still_pending =
            ") AS v WHERE deliveries.id = v.column1 AND deliveries.acked_at IS NULL";
        execute_values(
            script,
            expired,
            still_pending,
            2,
            self.expired,
            |b, (id, at)| {
                b.bind(id).bind(at);
            },
        )
        .await?;
        // An acknowledged copy is erased the same way, in the transaction of its ack.
        let erased =
            "UPDATE deliveries SET payload = COALESCE(substr(payload, 1, 0), payload) FROM (";
        execute_values(
            script,
            erased,
            ") AS v WHERE deliveries.id = v.column1",
            1,
            self.erased,
            |b, id| {
                b.bind(id);
            },
        )
        .await?;
        self.counters.write(script).await?;
        Ok(())
    }
}

/// Most rows in one multi-row statement.
const MOST_ROWS: usize = 128;

/// Writes `head VALUES (…), (…) tail` over `rows`, `columns` values each, into `script`;
/// nothing when there are no rows.
///
/// Each statement takes a power of two of rows, at most [`MOST_ROWS`] (and within
/// [`MAX_PARAMETERS`]): 50 rows are written as 32 + 16 + 2. So a table has at most eight
/// statement texts, and a batch's script one of few, which stay prepared on the writer's
/// connection, instead of a new text to parse and plan for every batch size.
pub(super) async fn execute_values<T>(
    script: &mut Script<'_>,
    head: &str,
    tail: &str,
    columns: usize,
    rows: impl IntoIterator<Item = T, IntoIter: ExactSizeIterator>,
    mut push: impl FnMut(&mut Values<'_>, T),
) -> Result<(), sqlx::Error> {
    let mut rows = rows.into_iter();
    let most = MOST_ROWS.min(MAX_PARAMETERS / columns);
    while rows.len() > 0 {
        let take = chunk(rows.len(), most);
        script
            .run(|sql| {
                sql.push(head)
                    .values(rows.by_ref().take(take), &mut push)
                    .push(tail);
            })
            .await?;
    }
    Ok(())
}

/// The largest power of two at most `left` and `most`.
fn chunk(left: usize, most: usize) -> usize {
    let n = left.min(most).max(1);
    1 << (usize::BITS - 1 - n.leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::chunk;

    #[test]
    fn rows_are_written_in_powers_of_two() {
        let sizes = |mut left: usize| {
            let mut sizes = Vec::new();
            while left > 0 {
                let n = chunk(left, 128);
                sizes.push(n);
                left -= n;
            }
            sizes
        };
        assert_eq!(sizes(50), [32, 16, 2]);
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(300), [128, 128, 32, 8, 4]);
        assert_eq!(chunk(1000, 100), 64);
    }
}
