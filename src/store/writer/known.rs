//! What the database held, before a batch, about the signals and deliveries its jobs name:
//! the idempotency keys of its `Send`s, the deliveries of its `Ack`s, and for its streams the
//! deliveries they ask to lease and their recipients' deliveries in flight. Asked for in the
//! transaction's [`Opening`].
//!
//! Read before any job of the batch is applied, so the writer must add what earlier jobs of
//! the batch did: signals accepted and deliveries acknowledged. Deliveries created in the
//! batch cannot be named by an `Ack` in it: their ids are unknown outside the gateway until
//! the batch commits.

use std::collections::{HashMap, HashSet};

use super::{Job, leased::LeasedCopies, script::Opening};
use crate::{
    audit::Subject,
    ids::Oin,
    store::{
        StoreError,
        columns::{Fields, from_json, signal_subject, subject_of},
        json_rows::{Json, JsonRows},
        link::Row,
    },
};

/// The `source` of the rows that answer for idempotency keys.
const SIGNAL: &str = "signal";
/// The `source` of the rows that answer for acknowledged deliveries.
const DELIVERY: &str = "delivery";
/// The `source` of the rows that answer for the deliveries a stream asks to lease.
const LEASE: &str = "lease";
/// The `source` of the rows of a recipient's deliveries in flight (leased, not settled).
const IN_FLIGHT: &str = "in_flight";

/// What the database held about the batch's idempotency keys and acknowledged deliveries.
#[derive(Default)]
pub(super) struct Known {
    /// Per sender, per idempotency key: the signal id and content hash.
    pub signals: HashMap<Oin, HashMap<String, (String, Vec<u8>)>>,
    /// Per recipient, per delivery id.
    pub deliveries: HashMap<Oin, HashMap<String, KnownDelivery>>,
    /// Per delivery a stream asks to lease (only those of the stream's recipient).
    pub leases: HashMap<String, LeaseState>,
    /// Per recipient with a stream in the batch: its deliveries in flight that another
    /// stream than the batch's holds (of every holder in the batch, so maybe read twice).
    pub in_flight: HashMap<Oin, Vec<InFlight>>,
}

/// A delivery a stream asks to lease, as the database held it.
pub(super) struct LeaseState {
    /// Acknowledged or expired.
    pub settled: bool,
    pub holder: Option<String>,
    /// End of the lease (Unix ms).
    pub until: Option<i64>,
}

/// A delivery leased to a stream and not settled.
pub(super) struct InFlight {
    pub id: String,
    pub case_ref: String,
    /// Stream order.
    pub seq: i64,
    pub holder: String,
    /// End of the lease (Unix ms).
    pub until: i64,
}

/// A delivery named in an `Ack`, with what its audit record needs.
#[derive(Clone)]
pub(super) struct KnownDelivery {
    pub acked: bool,
    pub expired: bool,
    pub signal_id: String,
    pub sender: String,
    pub signal_type: String,
    /// The receiving purposes it was delivered under, comma separated.
    pub purposes: String,
    pub subject: Subject,
}

// === impl Known ===

impl Known {
    /// Asks, in `opening`, for the signals the `Send` jobs' idempotency keys name (a query per
    /// sender) and the deliveries the `Ack` jobs name that the writer does not remember
    /// ([`LeasedCopies`]; a query per recipient).
    pub fn ask(jobs: &[Job], leased: &LeasedCopies, opening: &mut Opening) {
        let mut keys: HashMap<&Oin, HashSet<&str>> = HashMap::new();
        let mut acks: HashMap<&Oin, HashSet<&str>> = HashMap::new();
        let mut leases: HashMap<&Oin, HashSet<&str>> = HashMap::new();
        let mut holders: HashMap<&Oin, HashSet<&str>> = HashMap::new();
        for job in jobs {
            match job {
                Job::Send(send, _) => {
                    let signal = &send.0;
                    keys.entry(&signal.sender)
                        .or_default()
                        .insert(&signal.idempotency_key);
                }
                Job::Ack { recipient, ids, .. } => {
                    let unknown = ids.iter().filter(|id| leased.get(recipient, id).is_none());
                    acks.entry(recipient)
                        .or_default()
                        .extend(unknown.map(String::as_str));
                }
                Job::Streamed {
                    deliveries, lease, ..
                } => {
                    leases
                        .entry(&lease.recipient)
                        .or_default()
                        .extend(deliveries.iter().map(|d| d.id.as_str()));
                    holders
                        .entry(&lease.recipient)
                        .or_default()
                        .insert(&lease.holder);
                }
                Job::Audit(..)
                | Job::Expire { .. }
                | Job::SaveRecords { .. }
                | Job::Prune { .. }
                | Job::Release { .. }
                | Job::Forget { .. }
                | Job::Shutdown => {}
            }
        }
        // Each query takes its keys as one JSON parameter, driving the join (a CROSS JOIN
        // keeps SQLite from choosing another order), so its text never changes.
        let pairs = [("oin", Json::Text), ("key", Json::Text)];
        opening.read_over(pairs_of(keys), |sql, rows| {
            sql.push(
                "SELECT 'signal' AS source, s.sender_oin, s.id, s.idempotency_key, \
                 s.content_hash FROM (",
            )
            .json_rows(&pairs, rows)
            .push(
                ") AS k CROSS JOIN signals s \
                 WHERE s.sender_oin = k.oin AND s.idempotency_key = k.key",
            );
        });
        opening.read_over(pairs_of(acks), |sql, rows| {
            sql.push(concat!(
                "SELECT 'delivery' AS source, d.recipient_oin, d.id, d.acked_at, ",
                "d.expired_at, d.signal_id, d.purposes, s.sender_oin, s.signal_type, ",
                signal_subject!(),
                " FROM ("
            ))
            .json_rows(&pairs, rows)
            .push(
                ") AS k CROSS JOIN deliveries d JOIN signals s ON s.id = d.signal_id \
                 WHERE d.recipient_oin = k.oin AND d.id = k.key",
            );
        });
        opening.read_over(pairs_of(leases), |sql, rows| {
            sql.push(
                "SELECT 'lease' AS source, d.id, d.acked_at, d.expired_at, d.leased_by, \
                 d.leased_until FROM (",
            )
            .json_rows(&pairs, rows)
            .push(") AS k CROSS JOIN deliveries d WHERE d.recipient_oin = k.oin AND d.id = k.key");
        });
        // Reads only the deliveries in flight (the `deliveries_leased` index), and of those
        // only the ones another stream holds: a stream's own, usually all of them, cannot
        // hold it back. (With every one read, this read took most of the 5 ms a batch spent
        // opening under `ketenpoort bench`.)
        opening.read_over(pairs_of(holders), |sql, rows| {
            sql.push(
                "SELECT 'in_flight' AS source, d.recipient_oin, d.id, s.case_ref, d.seq, \
                 d.leased_by, d.leased_until FROM (",
            )
            .json_rows(&pairs, rows)
            .push(
                ") AS k CROSS JOIN deliveries d JOIN signals s ON s.id = d.signal_id \
                 WHERE d.leased_until IS NOT NULL AND d.acked_at IS NULL \
                 AND d.expired_at IS NULL AND d.recipient_oin = k.oin AND d.leased_by <> k.key",
            );
        });
    }

    /// What the rows of the opening's queries say; rows of other sources are left out.
    pub fn found(rows: &[Row]) -> Result<Self, StoreError> {
        let mut known = Known::default();
        for row in rows {
            let source: String = row.field("source")?;
            if source == SIGNAL {
                let sender = oin(row, "sender_oin")?;
                known.signals.entry(sender).or_default().insert(
                    row.field("idempotency_key")?,
                    (row.field("id")?, row.field("content_hash")?),
                );
            } else if source == DELIVERY {
                let delivery = KnownDelivery {
                    acked: row.field::<Option<i64>>("acked_at")?.is_some(),
                    expired: row.field::<Option<i64>>("expired_at")?.is_some(),
                    signal_id: row.field("signal_id")?,
                    sender: row.field("sender_oin")?,
                    signal_type: row.field("signal_type")?,
                    purposes: from_json(row.field("purposes")?)?.join(","),
                    subject: subject_of(row)?,
                };
                let recipient = oin(row, "recipient_oin")?;
                known
                    .deliveries
                    .entry(recipient)
                    .or_default()
                    .insert(row.field("id")?, delivery);
            } else if source == LEASE {
                let state = LeaseState {
                    settled: row.field::<Option<i64>>("acked_at")?.is_some()
                        || row.field::<Option<i64>>("expired_at")?.is_some(),
                    holder: row.field("leased_by")?,
                    until: row.field("leased_until")?,
                };
                known.leases.insert(row.field("id")?, state);
            } else if source == IN_FLIGHT {
                let flight = InFlight {
                    id: row.field("id")?,
                    case_ref: row.field("case_ref")?,
                    seq: row.field("seq")?,
                    holder: row.field("leased_by")?,
                    until: row.field("leased_until")?,
                };
                let recipient = oin(row, "recipient_oin")?;
                known.in_flight.entry(recipient).or_default().push(flight);
            }
        }
        Ok(known)
    }
}

/// The OIN in `column` of `row`.
fn oin(row: &Row, column: &str) -> Result<Oin, StoreError> {
    row.field::<String>(column)?
        .parse()
        .map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

/// Rows of an OIN and a key, for each key of each OIN.
fn pairs_of(keys: HashMap<&Oin, HashSet<&str>>) -> JsonRows {
    let mut rows = JsonRows::default();
    for (oin, keys) in keys {
        for key in keys {
            rows.row(|r| {
                r.text(oin.as_str()).text(key);
            });
        }
    }
    rows
}
