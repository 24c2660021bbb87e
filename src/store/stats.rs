//! What the store holds, and since when: signals (with their clear case references),
//! recipients' copies still held and those erased, and audit records. What a privacy officer
//! asks when reviewing the gateway itself, and what operators watch in the metrics.

use sqlx::{AnyConnection, Row};

use super::{Store, StoreError};
use crate::database::Backend;

/// How many rows of one kind the store holds, and the time of the oldest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    /// Rows.
    pub rows: i64,
    /// Time of the oldest (Unix ms): acceptance of a signal or copy, erasure of an erased copy,
    /// time of an audit record. `None` when there are no rows.
    pub oldest: Option<i64>,
}

/// Counts of what the store holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Signal rows, each with its clear case reference.
    pub signals: Held,
    /// Recipients' copies still held (waiting, or acknowledged within a grace period).
    pub copies_held: Held,
    /// Copies erased (acknowledged or expired) whose delivery row is kept until its signal is
    /// forgotten.
    pub copies_erased: Held,
    /// Audit records.
    pub audit_records: Held,
}

/// One query per kind: its count and oldest time.
const QUERIES: [&str; 4] = [
    "SELECT COUNT(*) AS n, MIN(accepted_at) AS oldest FROM signals",
    "SELECT COUNT(*) AS n, MIN(s.accepted_at) AS oldest FROM deliveries d
     JOIN signals s ON s.id = d.signal_id WHERE length(d.payload) > 0",
    "SELECT COUNT(*) AS n, MIN(COALESCE(acked_at, expired_at)) AS oldest FROM deliveries
     WHERE length(payload) = 0",
    "SELECT COUNT(*) AS n, MIN(at) AS oldest FROM audit_log",
];

// === impl Store ===

impl Store {
    /// What the store holds now.
    pub async fn stats(&self) -> Result<StoreStats, StoreError> {
        let mut conn = self.pool.acquire().await?;
        read(&mut conn).await
    }
}

/// What the database at `url` holds, read over a connection of its own, beside a running
/// gateway (for `ketenpoort store stats`).
pub async fn stats_at(url: &str) -> Result<StoreStats, StoreError> {
    sqlx::any::install_default_drivers();
    let mut conn = Backend::of_url(url)?.connect(url).await?;
    read(&mut conn).await
}

async fn read(conn: &mut AnyConnection) -> Result<StoreStats, StoreError> {
    let mut held = [Held::default(); 4];
    for (query, held) in QUERIES.iter().zip(held.iter_mut()) {
        let row = sqlx::query(*query).fetch_one(&mut *conn).await?;
        *held = Held {
            rows: row.try_get("n")?,
            oldest: row.try_get("oldest")?,
        };
    }
    let [signals, copies_held, copies_erased, audit_records] = held;
    Ok(StoreStats {
        signals,
        copies_held,
        copies_erased,
        audit_records,
    })
}
