//! Durable state through sqlx, in SQLite or PostgreSQL ([`db`]): signals, per-recipient
//! deliveries, the audit log and the partner registry.
//!
//! All writes of a gateway go through one writer task ([`writer`]) that group-commits whatever
//! is waiting in one transaction, so `Send` answers only after its signal, deliveries and
//! audit records are on disk, at a cost shared by every request in the batch. Reads use a
//! small pool of separate connections. With PostgreSQL several gateway replicas share one
//! database: their writers take turns on the audit chain, and each tells the others of new
//! deliveries ([`listen`]).

mod audit_log;
mod db;
mod listen;
mod registry;
pub mod wakeups;
mod writer;

pub use audit_log::{AuditFilter, Pruned};

use std::{sync::Arc, time::Duration};

use sqlx::{AnyPool, Row};
use tokio::sync::{mpsc, oneshot};

use crate::{
    clock::now_ms,
    database::{Backend, UnknownDatabase},
    audit::{
        AuditEvent, Subject,
        keys::{SignatureKey, Signer},
        receipt_message,
    },
    store::wakeups::Notifier,
    ids::Oin,
    registry::PartnerRecord,
};

use writer::{Job, Sent};

/// Read connections; the writer has its own.
const READ_CONNECTIONS: u32 = 4;
/// Most deliveries one [`Store::expire`] call expires, so the writer never holds long.
pub const EXPIRE_BATCH: i64 = 1000;

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    jobs: mpsc::Sender<Job>,
    tasks: Arc<parking_lot::Mutex<Tasks>>,
    signer: Arc<Signer>,
}

/// The store's background tasks, stopped by [`Store::close`].
#[derive(Default)]
struct Tasks {
    writer: Option<tokio::task::JoinHandle<()>>,
    listener: Option<tokio::task::JoinHandle<()>>,
}

/// How the writer seals the audit log.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// Signs checkpoints and receipts.
    pub signer: Arc<Signer>,
    /// A checkpoint after this many records.
    pub checkpoint_every_records: u64,
    /// A checkpoint at least this often while records are added.
    pub checkpoint_every: Duration,
}

/// A signal to commit with its deliveries and audit events.
#[derive(Debug)]
pub struct NewSignal {
    /// Gateway id (UUIDv7).
    pub id: String,
    /// Sender.
    pub sender: Oin,
    /// The sender's idempotency key.
    pub idempotency_key: String,
    /// SHA-256 of the envelope.
    pub content_hash: [u8; 32],
    /// Catalogue message name.
    pub signal_type: String,
    /// Sending purpose.
    pub purpose: String,
    /// Case reference.
    pub case_ref: String,
    /// Rule the signal passed along.
    pub rule: String,
    /// Policy version.
    pub policy_version: String,
    /// Acceptance time, Unix ms.
    pub accepted_at: i64,
    /// One per recipient, in envelope order.
    pub deliveries: Vec<NewDelivery>,
    /// Audit events of the acceptance.
    pub audit: Vec<AuditEvent>,
    /// Audit event to write instead when the idempotency key is known already.
    pub resent_audit: AuditEvent,
    /// The case and data subject, as keyed hashes.
    pub subject: Subject,
}

/// One recipient's copy.
#[derive(Debug)]
pub struct NewDelivery {
    /// Delivery id (UUIDv7).
    pub id: String,
    /// Recipient.
    pub recipient: Oin,
    /// Receiving purposes.
    pub purposes: Vec<String>,
    /// Withheld field paths.
    pub withheld: Vec<String>,
    /// Filtered payload.
    pub payload: Vec<u8>,
}

/// The receipt of a committed signal, signed by the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Signal id.
    pub signal_id: String,
    /// Acceptance time, Unix ms.
    pub accepted_at: i64,
    /// Per recipient, in envelope order.
    pub recipients: Vec<RecipientReceipt>,
    /// True when answering a resend.
    pub duplicate: bool,
    /// SHA-256 of the envelope as received, hex.
    pub content_sha256: String,
    /// Sequence number of the `signal_accepted` audit record.
    pub audit_seq: i64,
    /// Ed25519 signature over [`crate::audit::receipt_message`].
    pub signature: Vec<u8>,
    /// Id of the signing key.
    pub key_id: String,
}

/// What one recipient got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientReceipt {
    /// Recipient.
    pub recipient: String,
    /// Delivery id.
    pub delivery_id: String,
    /// Receiving purposes.
    pub purposes: Vec<String>,
    /// Withheld field paths.
    pub withheld: Vec<String>,
}

/// A delivery waiting for its recipient.
#[derive(Debug, Clone)]
pub struct PendingDelivery {
    /// Stream order.
    pub seq: i64,
    /// Delivery id.
    pub id: String,
    /// Signal id.
    pub signal_id: String,
    /// Sender.
    pub sender: String,
    /// Sending purpose.
    pub purpose: String,
    /// Case reference.
    pub case_ref: String,
    /// Catalogue message name.
    pub signal_type: String,
    /// Acceptance time, Unix ms.
    pub accepted_at: i64,
    /// Receiving purposes.
    pub purposes: Vec<String>,
    /// Filtered payload.
    pub payload: Vec<u8>,
    /// Times streamed before.
    pub attempts: i64,
    /// The case and data subject, as keyed hashes (for the audit record of the streaming).
    pub subject: Subject,
}

/// Outcome of committing a signal.
#[derive(Debug)]
pub enum SendOutcome {
    /// Newly committed.
    Accepted(Receipt),
    /// The idempotency key was known with the same content: the original receipt.
    Duplicate(Receipt),
    /// The idempotency key was known with different content.
    Conflict,
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The database URL names no database this gateway supports.
    #[error(transparent)]
    Url(#[from] UnknownDatabase),
    /// A migration failed.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database directory could not be created.
    #[error("cannot create {path}: {source}")]
    CreateDir {
        /// The directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The writer task has stopped (the gateway is shutting down).
    #[error("the store is closed")]
    Closed,
    /// A stored value does not decode.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// A delivery id is not addressed to this recipient.
    #[error("delivery {0} is not addressed to you")]
    UnknownDelivery(String),
    /// A delivery expired before it was acknowledged.
    #[error("delivery {0} has expired")]
    Expired(String),
}

// === impl Store ===

impl Store {
    /// Opens (creating if needed) the database, applies migrations and starts the writer.
    pub async fn open(
        url: &str,
        notifier: Arc<Notifier>,
        settings: AuditSettings,
    ) -> Result<Self, StoreError> {
        let backend = Backend::of_url(url)?;
        let pool = backend.open_pool(url, READ_CONNECTIONS).await?;
        let signer = settings.signer.clone();
        let listener = match backend {
            Backend::Postgres => Some(listen::spawn(url, notifier.clone()).await?),
            Backend::Sqlite => None,
        };
        let conn = backend.connect(url).await?;
        let (jobs, writer) = writer::spawn(backend, conn, notifier, settings);
        Ok(Self {
            pool,
            backend,
            jobs,
            tasks: Arc::new(parking_lot::Mutex::new(Tasks {
                writer: Some(writer),
                listener,
            })),
            signer,
        })
    }

    /// The database this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Commits a signal with its deliveries and audit events, unless its idempotency key is
    /// known already.
    pub async fn send(&self, signal: NewSignal) -> Result<SendOutcome, StoreError> {
        let sent = self
            .submit(|reply| Job::Send(Box::new(signal), reply))
            .await??;
        // Signed here, beside the other requests, not in the single writer.
        Ok(match sent {
            Sent::Accepted(facts) => SendOutcome::Accepted(facts.sign(&self.signer)),
            Sent::Duplicate(facts) => SendOutcome::Duplicate(facts.sign(&self.signer)),
            Sent::Conflict => SendOutcome::Conflict,
        })
    }

    /// Saves changed partner records, with the audit records of the change, in one
    /// transaction; bumps the registry version so every replica reloads.
    pub async fn save_records(
        &self,
        records: Vec<PartnerRecord>,
        audit: Vec<AuditEvent>,
    ) -> Result<(), StoreError> {
        self.submit(|reply| Job::SaveRecords {
            records,
            audit,
            reply,
        })
        .await?
    }

    /// Appends audit events.
    pub async fn audit(&self, events: Vec<AuditEvent>) -> Result<(), StoreError> {
        self.submit(|reply| Job::Audit(events, reply)).await?
    }

    /// Acknowledges deliveries of `recipient`; returns how many were newly acknowledged.
    /// Refuses the whole call if any id is not addressed to `recipient`. `audit` is the record
    /// to write per acknowledged delivery; signal, delivery and subject are filled in.
    pub async fn ack(
        &self,
        recipient: &Oin,
        ids: Vec<String>,
        audit: AuditEvent,
    ) -> Result<u32, StoreError> {
        let recipient = recipient.clone();
        self.submit(|reply| Job::Ack {
            recipient,
            ids,
            audit,
            reply,
        })
        .await?
    }

    /// Counts a streaming of each delivery and records it in the audit log with `audit`,
    /// completed per delivery.
    pub async fn mark_streamed(
        &self,
        deliveries: &[PendingDelivery],
        audit: AuditEvent,
    ) -> Result<(), StoreError> {
        let deliveries = deliveries.to_vec();
        self.submit(|reply| Job::Streamed {
            deliveries,
            audit,
            reply,
        })
        .await?
    }

    /// Expires the unacknowledged deliveries of signals accepted before `cutoff` (Unix ms), at
    /// most [`EXPIRE_BATCH`] per call: they are no longer streamed, their copy is erased, and
    /// each gets an audit record from `audit`, completed per delivery. Returns the recipient
    /// of each delivery expired.
    pub async fn expire(&self, cutoff: i64, audit: AuditEvent) -> Result<Vec<Oin>, StoreError> {
        self.submit(|reply| Job::Expire {
            cutoff,
            audit,
            reply,
        })
        .await?
    }

    async fn submit<T>(
        &self,
        job: impl FnOnce(oneshot::Sender<T>) -> Job,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(job(tx))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)
    }

    /// Unacknowledged deliveries of `recipient` after stream position `after`, oldest first.
    pub async fn pending(
        &self,
        recipient: &Oin,
        after: i64,
        limit: i64,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.seq, d.id, d.signal_id, d.purposes, d.payload, d.attempts,
                    s.sender_oin, s.purpose, s.case_ref, s.signal_type, s.accepted_at,
                    s.case_ref_hash, s.subject_type, s.subject_hash, s.subject_key_id
             FROM deliveries d JOIN signals s ON s.id = d.signal_id
             WHERE d.recipient_oin = $1 AND d.acked_at IS NULL AND d.expired_at IS NULL
               AND d.seq > $2
             ORDER BY d.seq LIMIT $3",
        )
        .bind(recipient.as_str())
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PendingDelivery {
                    seq: row.try_get("seq")?,
                    id: row.try_get("id")?,
                    signal_id: row.try_get("signal_id")?,
                    sender: row.try_get("sender_oin")?,
                    purpose: row.try_get("purpose")?,
                    case_ref: row.try_get("case_ref")?,
                    signal_type: row.try_get("signal_type")?,
                    accepted_at: row.try_get("accepted_at")?,
                    purposes: json_list(row.try_get("purposes")?)?,
                    payload: row.try_get("payload")?,
                    attempts: row.try_get("attempts")?,
                    subject: writer::subject_of(row)?,
                })
            })
            .collect()
    }

    /// Per recipient OIN: unacknowledged deliveries and the acceptance time of the oldest.
    pub async fn pending_by_recipient(&self) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.recipient_oin, COUNT(*) AS pending, MIN(s.accepted_at) AS oldest
             FROM deliveries d JOIN signals s ON s.id = d.signal_id
             WHERE d.acked_at IS NULL AND d.expired_at IS NULL GROUP BY d.recipient_oin",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("recipient_oin")?,
                    row.try_get("pending")?,
                    row.try_get("oldest")?,
                ))
            })
            .collect()
    }

    /// The receipt of a signal `sender` sent, if any.
    pub async fn receipt(
        &self,
        sender: &Oin,
        signal_id: &str,
    ) -> Result<Option<Receipt>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mine: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM signals WHERE id = $1 AND sender_oin = $2")
                .bind(signal_id)
                .bind(sender.as_str())
                .fetch_optional(&mut *conn)
                .await?;
        match mine {
            Some(_) => Ok(writer::load_receipt(&mut conn, signal_id, false)
                .await?
                .map(|facts| facts.sign(&self.signer))),
            None => Ok(None),
        }
    }

    /// The public key that verifies checkpoints and receipts.
    pub fn signature_key(&self) -> SignatureKey {
        self.signer.public()
    }

    /// Number of rows in a table, for tests and diagnostics.
    pub async fn count(&self, table: Table) -> Result<i64, StoreError> {
        let sql = match table {
            Table::Signals => "SELECT COUNT(*) FROM signals",
            Table::Deliveries => "SELECT COUNT(*) FROM deliveries",
            Table::AuditLog => "SELECT COUNT(*) FROM audit_log",
        };
        Ok(sqlx::query_scalar(sql).fetch_one(&self.pool).await?)
    }

    /// Stops the writer after it has committed what it holds, and closes all connections.
    pub async fn close(&self) {
        let Tasks { writer, listener } = std::mem::take(&mut *self.tasks.lock());
        let _ = self.jobs.send(Job::Shutdown).await;
        if let Some(writer) = writer {
            let _ = tokio::time::timeout(Duration::from_secs(10), writer).await;
        }
        if let Some(listener) = listener {
            listener.abort();
        }
        self.pool.close().await;
    }
}

// === impl Receipt ===

impl Receipt {
    /// A receipt with the gateway's signature over its facts.
    pub fn signed(
        signer: &Signer,
        signal_id: String,
        content_sha256: String,
        accepted_at: i64,
        audit_seq: i64,
        recipients: Vec<RecipientReceipt>,
        duplicate: bool,
    ) -> Self {
        ReceiptFacts {
            signal_id,
            content_sha256,
            accepted_at,
            audit_seq,
            recipients,
            duplicate,
        }
        .sign(signer)
    }
}

/// The facts of a receipt before they are signed. The writer answers with these, so that the
/// signing (tens of microseconds of Ed25519) runs beside other requests, not in the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ReceiptFacts {
    signal_id: String,
    content_sha256: String,
    accepted_at: i64,
    audit_seq: i64,
    recipients: Vec<RecipientReceipt>,
    duplicate: bool,
}

// === impl ReceiptFacts ===

impl ReceiptFacts {
    fn sign(self, signer: &Signer) -> Receipt {
        let oins: Vec<&str> = self
            .recipients
            .iter()
            .map(|r| r.recipient.as_str())
            .collect();
        let signature = signer.sign(&receipt_message(
            &self.signal_id,
            &self.content_sha256,
            &oins,
            self.accepted_at,
            self.audit_seq,
        ));
        Receipt {
            signal_id: self.signal_id,
            accepted_at: self.accepted_at,
            recipients: self.recipients,
            duplicate: self.duplicate,
            content_sha256: self.content_sha256,
            audit_seq: self.audit_seq,
            signature,
            key_id: signer.key_id().to_string(),
        }
    }
}

/// Tables that [`Store::count`] can count.
#[derive(Debug, Clone, Copy)]
pub enum Table {
    /// Signals.
    Signals,
    /// Deliveries.
    Deliveries,
    /// Audit records.
    AuditLog,
}

fn json_list(text: String) -> Result<Vec<String>, sqlx::Error> {
    serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}
