//! The rows of one group commit, and the few statements that write them.
//!
//! The writer reads what a batch's jobs ask about in few queries ([`super::known`]), applies
//! the jobs in memory, and writes each table's rows into the batch's [`Script`]: on SQLite,
//! where a statement is a call on the writer's own connection, row by row through one
//! prepared statement per table; on PostgreSQL, where each is a round trip, with one
//! `INSERT … SELECT` or `UPDATE … FROM` over all its rows, passed as one JSON parameter
//! ([`crate::store::db::Sql::json_rows`]).

use std::collections::BTreeMap;

use super::{leases::LeaseRow, script::Script};
use crate::{
    audit::Subject,
    database::Backend,
    ids::Oin,
    store::{
        StoreError,
        json_rows::{Json, JsonRows, Values},
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
    /// The stream it is handed over to in its `Send`'s commit, and the end of that lease.
    pub leased: Option<(String, i64)>,
}

/// An `audit_log` row: a record's place in the chain, its columns from `event` to `detail`
/// as written when it was made ready ([`super::ready::ReadyEvent`]), and its hashes.
pub(super) struct AuditRow {
    pub seq: i64,
    pub id: String,
    pub at: i64,
    pub columns: Values,
    pub prev_hash: String,
    pub hash: String,
}

/// Everything one batch writes, in the order its jobs produced it.
#[derive(Default)]
pub(super) struct Rows {
    pub signals: Vec<SignalRow>,
    pub deliveries: Vec<DeliveryRow>,
    /// Chained records, in chain order.
    pub audit: Vec<AuditRow>,
    /// Deliveries leased to streams in this batch, by id.
    pub leased: BTreeMap<String, LeaseRow>,
    /// Newly acknowledged deliveries, when (Unix ms), and whether the copy is erased with the
    /// acknowledgement (no grace period).
    pub acked: Vec<(String, i64, bool)>,
    /// Newly expired deliveries and when (Unix ms).
    pub expired: Vec<(String, i64)>,
    /// What the batch's accepted signals add to the monitor's counters.
    pub counters: super::counters::Counters,
}

// === impl Rows ===

/// The columns of `signals` as the writer inserts them.
const SIGNAL_COLUMNS: &[(&str, Json)] = &[
    ("id", Json::Text),
    ("sender_oin", Json::Text),
    ("idempotency_key", Json::Text),
    ("content_hash", Json::Blob),
    ("signal_type", Json::Text),
    ("purpose", Json::Text),
    ("case_ref", Json::Text),
    ("rule_name", Json::Text),
    ("policy_version", Json::Text),
    ("accepted_at", Json::Int),
    ("audit_seq", Json::Int),
    ("case_ref_hash", Json::Text),
    ("subject_type", Json::Text),
    ("subject_hash", Json::Text),
    ("subject_key_id", Json::Text),
];

/// The columns of `deliveries` as the writer inserts them.
const DELIVERY_COLUMNS: &[(&str, Json)] = &[
    ("id", Json::Text),
    ("signal_id", Json::Text),
    ("position", Json::Int),
    ("recipient_oin", Json::Text),
    ("purposes", Json::Text),
    ("withheld", Json::Text),
    ("payload", Json::Blob),
    ("attempts", Json::Int),
    ("leased_by", Json::Text),
    ("leased_until", Json::Int),
];

/// The columns of `audit_log` (from `event` to `detail` in the order `ReadyEvent` writes them).
const AUDIT_COLUMNS: &[(&str, Json)] = &[
    ("seq", Json::Int),
    ("id", Json::Text),
    ("at", Json::Int),
    ("event", Json::Text),
    ("outcome", Json::Text),
    ("actor_oin", Json::Text),
    ("actor_person", Json::Text),
    ("counterparty_oin", Json::Text),
    ("purpose", Json::Text),
    ("legal_basis", Json::Text),
    ("signal_id", Json::Text),
    ("signal_type", Json::Text),
    ("delivery_id", Json::Text),
    ("case_ref_hash", Json::Text),
    ("subject_type", Json::Text),
    ("subject_hash", Json::Text),
    ("subject_key_id", Json::Text),
    ("trace_id", Json::Text),
    ("span_id", Json::Text),
    ("detail", Json::Text),
    ("prev_hash", Json::Text),
    ("hash", Json::Text),
];

/// A delivery's id and a time (Unix ms): an expiry.
const ID_AT: &[(&str, Json)] = &[("id", Json::Text), ("at", Json::Int)];
/// An acknowledgement: the delivery's id, the time (Unix ms), and 1 when its copy is erased.
const ACKED: &[(&str, Json)] = &[("id", Json::Text), ("at", Json::Int), ("erase", Json::Int)];

impl Rows {
    /// Writes every row: signals before the deliveries that refer to them.
    pub async fn write(self, script: &mut Script<'_>) -> Result<(), StoreError> {
        let mut signals = JsonRows::default();
        for s in self.signals {
            signals.row(|r| {
                r.text(&s.id)
                    .text(s.sender.as_str())
                    .text(&s.idempotency_key)
                    .blob(&s.content_hash)
                    .text(&s.signal_type)
                    .text(&s.purpose)
                    .text(&s.case_ref)
                    .text(&s.rule)
                    .text(&s.policy_version)
                    .int(s.accepted_at)
                    .int(s.audit_seq)
                    .text(s.subject.case_ref_hash.as_deref().unwrap_or_default())
                    .opt_text(s.subject.subject_type.as_deref())
                    .opt_text(s.subject.subject_hash.as_deref())
                    .text(s.subject.subject_key_id.as_deref().unwrap_or_default());
            });
        }
        insert(script, "signals", SIGNAL_COLUMNS, signals, "").await?;
        let mut deliveries = JsonRows::default();
        for d in self.deliveries {
            deliveries.row(|r| {
                r.text(&d.id)
                    .text(&d.signal_id)
                    .int(d.position)
                    .text(d.recipient.as_str())
                    .text(&d.purposes)
                    .text(&d.withheld)
                    .blob(&d.payload)
                    .int(i64::from(d.leased.is_some()))
                    .opt_text(d.leased.as_ref().map(|(holder, _)| holder.as_str()))
                    .opt_int(d.leased.as_ref().map(|(_, until)| *until));
            });
        }
        insert(script, "deliveries", DELIVERY_COLUMNS, deliveries, "").await?;
        let mut audit = JsonRows::default();
        for record in self.audit {
            audit.row(|r| {
                r.int(record.seq)
                    .text(&record.id)
                    .int(record.at)
                    .values(record.columns)
                    .text(&record.prev_hash)
                    .text(&record.hash);
            });
        }
        insert(script, "audit_log", AUDIT_COLUMNS, audit, "").await?;
        // Leases first: an acknowledgement or expiry later in the batch ends them.
        let mut leased = JsonRows::default();
        for (id, lease) in self.leased {
            leased.row(|r| {
                r.text(&id)
                    .opt_text(lease.holder.as_deref())
                    .opt_int(lease.until)
                    .int(lease.streamed);
            });
        }
        let lease_columns = [
            ("id", Json::Text),
            ("holder", Json::Text),
            ("until", Json::Int),
            ("streamed", Json::Int),
        ];
        update(
            script,
            "attempts = attempts + v.streamed, leased_by = v.holder, leased_until = v.until",
            &lease_columns,
            leased,
            "",
        )
        .await?;
        // A settled delivery's lease ends with it, so that only deliveries in flight stay in
        // the `deliveries_leased` index. An acknowledged copy without a grace period is erased
        // in the same statement (one rewrite of the row, not two): `substr(…, 1, 0)` is the
        // empty BLOB and the empty BYTEA (but NULL for an already empty BLOB in SQLite, hence
        // the COALESCE).
        let unacked = " AND deliveries.acked_at IS NULL";
        let mut acked = JsonRows::default();
        for (id, at, erase) in self.acked {
            acked.row(|r| {
                r.text(&id).int(at).int(i64::from(erase));
            });
        }
        let set_acked = "acked_at = v.at, leased_by = NULL, leased_until = NULL, payload = \
                         CASE WHEN v.erase = 1 THEN COALESCE(substr(payload, 1, 0), payload) \
                         ELSE payload END";
        update(script, set_acked, ACKED, acked, unacked).await?;
        // The expired copy is erased the same way.
        let set_expired = "expired_at = v.at, payload = COALESCE(substr(payload, 1, 0), payload), \
                           leased_by = NULL, leased_until = NULL";
        update(script, set_expired, ID_AT, id_at(self.expired), unacked).await?;
        self.counters.write(script).await?;
        Ok(())
    }
}

/// Rows of a delivery id and a time.
fn id_at(rows: Vec<(String, i64)>) -> JsonRows {
    let mut json = JsonRows::default();
    for (id, at) in rows {
        json.row(|r| {
            r.text(&id).int(at);
        });
    }
    json
}

/// Writes the rows into `table`, in the order they were added: on SQLite one prepared
/// `INSERT … VALUES` per row; on PostgreSQL `INSERT INTO table (columns) SELECT … FROM rows
/// ORDER BY key`. `tail` follows either (an upsert's `ON CONFLICT`).
pub(super) async fn insert(
    script: &mut Script<'_>,
    table: &str,
    columns: &[(&str, Json)],
    rows: JsonRows,
    tail: &str,
) -> Result<(), StoreError> {
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    let head = format!("INSERT INTO {table} ({}) ", names.join(", "));
    if script.backend() == Backend::Sqlite {
        let text = format!("{head}VALUES ({}){tail}", placeholders(columns).join(", "));
        return script.run_each(&text, &rows).await;
    }
    script
        .run_over(rows, |sql, rows| {
            // `WHERE true` keeps SQLite from reading an upsert's `ON CONFLICT` as a join's.
            sql.push(&head)
                .json_rows(columns, rows)
                .push(" WHERE true ORDER BY key")
                .push(tail);
        })
        .await
}

/// Writes `UPDATE deliveries SET set FROM (rows) AS v WHERE deliveries.id = v.id and`: on
/// SQLite one prepared `UPDATE … WHERE id = ?1 and` per row, each `v.column` of `set` its
/// placeholder. The rows' first column is the delivery id.
async fn update(
    script: &mut Script<'_>,
    set: &str,
    columns: &[(&str, Json)],
    rows: JsonRows,
    and: &str,
) -> Result<(), StoreError> {
    if script.backend() == Backend::Sqlite {
        let mut set = set.to_string();
        for (i, (name, _)) in columns.iter().enumerate() {
            set = set.replace(&format!("v.{name}"), &format!("?{}", i + 1));
        }
        let text = format!("UPDATE deliveries SET {set} WHERE id = ?1{and}");
        return script.run_each(&text, &rows).await;
    }
    script
        .run_over(rows, |sql, rows| {
            sql.push("UPDATE deliveries SET ")
                .push(set)
                .push(" FROM (")
                .json_rows(columns, rows)
                .push(") AS v WHERE deliveries.id = v.id")
                .push(and);
        })
        .await
}

/// SQLite's numbered placeholders `?1`, `?2`, … for the columns.
fn placeholders(columns: &[(&str, Json)]) -> Vec<String> {
    (1..=columns.len()).map(|i| format!("?{i}")).collect()
}
