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
mod columns;
mod db;
mod deliveries;
mod error;
mod json_rows;
mod link;
mod listen;
mod monitor;
mod registry;
mod signals;
pub mod stats;
#[cfg(test)]
mod testing;
pub mod wakeups;
mod wal;
mod writer;

pub use audit_log::{AuditFilter, Pruned, Undecodable};
pub use error::StoreError;
pub use signals::{
    DeliveryState, DeliveryStatus, NewDelivery, NewSignal, PendingDelivery, Receipt,
    RecipientReceipt, SendOutcome,
};
pub use writer::{WRITER_BATCH_JOBS, WRITER_PHASE_SECONDS};

use std::{sync::Arc, time::Duration};

use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use crate::{
    audit::{
        AuditEvent,
        keys::{SignatureKey, Signer},
    },
    database::Backend,
    ids::Oin,
    registry::PartnerRecord,
};

use wakeups::Notifier;
use wal::WalUpkeep;
use writer::{Job, Queued, ReadyEvent};

/// Read connections; the writer has its own.
const READ_CONNECTIONS: u32 = 4;
/// Most deliveries one [`Store::expire`] call expires, so the writer never holds long.
pub const EXPIRE_BATCH: i64 = 1000;
/// Most audit records one pruning job removes, so the writer never holds long.
const PRUNE_CHUNK: i64 = 10_000;
/// Most copies erased and signals removed by one forgetting job.
const FORGET_BATCH: i64 = 1000;

/// A lease of streamed deliveries to one stream: no other stream gets them until `until`
/// (Unix ms), unless the holder releases them first.
#[derive(Debug, Clone)]
pub struct Lease {
    /// The recipient whose stream it is.
    pub recipient: Oin,
    /// The stream: a gateway instance id, then the stream's own (see [`Store::release`]).
    pub holder: String,
    /// The time the lease is taken (Unix ms).
    pub now: i64,
    /// The end of the lease (Unix ms).
    pub until: i64,
}

/// What one [`Store::forget`] erased and removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Forgotten {
    /// Acknowledged copies whose payload was erased after their grace period.
    pub erased: u64,
    /// Settled signals removed, with their deliveries and clear case reference.
    pub signals: u64,
}

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    jobs: mpsc::Sender<Queued>,
    tasks: Arc<parking_lot::Mutex<Tasks>>,
    signer: Arc<Signer>,
    /// The writer's upkeep of the WAL, for tests that run checkpoints of their own.
    #[cfg(test)]
    wal_upkeep: Arc<WalUpkeep>,
}

/// The store's background tasks, stopped by [`Store::close`].
#[derive(Default)]
struct Tasks {
    writer: Option<tokio::task::JoinHandle<()>>,
    /// Beside the writer: the listener for other replicas' announcements (PostgreSQL) or
    /// the WAL checkpointer (SQLite).
    beside: Option<tokio::task::JoinHandle<()>>,
}

/// How the writer seals the audit log and forgets what it no longer needs.
#[derive(Debug, Clone)]
pub struct WriterSettings {
    /// Erase a delivery's copy in the transaction that acknowledges it (otherwise
    /// [`Store::forget`] erases it after a grace period).
    pub erase_on_ack: bool,
    /// Signs checkpoints and receipts.
    pub signer: Arc<Signer>,
    /// A checkpoint after this many records.
    pub checkpoint_every_records: u64,
    /// A checkpoint at least this often while records are added.
    pub checkpoint_every: Duration,
}

// === impl Store ===

impl Store {
    /// Opens (creating if needed) the database, applies migrations and starts the writer.
    pub async fn open(
        url: &str,
        notifier: Arc<Notifier>,
        settings: WriterSettings,
    ) -> Result<Self, StoreError> {
        let backend = Backend::of_url(url)?;
        let pool = backend.open_pool(url, READ_CONNECTIONS).await?;
        let signer = settings.signer.clone();
        let wal_upkeep = Arc::new(WalUpkeep::default());
        let beside = match backend {
            Backend::Postgres => listen::spawn(url, notifier.clone()).await?,
            Backend::Sqlite => wal::spawn(pool.clone(), wal_upkeep.clone()),
        };
        let writer = writer::spawn(backend, url, notifier, settings, wal_upkeep.clone()).await?;
        Ok(Self {
            pool,
            backend,
            jobs: writer.jobs,
            #[cfg(test)]
            wal_upkeep,
            tasks: Arc::new(parking_lot::Mutex::new(Tasks {
                writer: Some(writer.task),
                beside: Some(beside),
            })),
            signer,
        })
    }

    /// The database this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Commits a signal with its deliveries and audit events, unless its idempotency key is
    /// known already. When the batch it shared failed for another job's sake, nothing of it was
    /// committed, and `again` prepares the same signal once more (its own ids) to be committed
    /// alone: the signal is moved to the writer, not copied in case of that rare retry.
    pub async fn send(
        &self,
        signal: NewSignal,
        again: impl FnOnce() -> Option<NewSignal>,
    ) -> Result<SendOutcome, StoreError> {
        let sent = match self.queue(Job::send(signal)?, false).await {
            Err(StoreError::BatchFailed) => {
                let signal = again().ok_or(StoreError::BatchFailed)?;
                self.queue(Job::send(signal)?, true).await
            }
            answer => answer,
        }?;
        self.outcome(sent).await
    }

    /// Saves changed partner records, with the audit records of the change, in one
    /// transaction; bumps the registry version so every replica reloads.
    pub async fn save_records(
        &self,
        records: Vec<PartnerRecord>,
        audit: Vec<AuditEvent>,
    ) -> Result<(), StoreError> {
        self.submit(|reply| Job::SaveRecords {
            records: records.clone(),
            audit: audit.clone(),
            reply,
        })
        .await
    }

    /// Appends audit events.
    pub async fn audit(&self, events: Vec<AuditEvent>) -> Result<(), StoreError> {
        let events: Vec<ReadyEvent> = events.into_iter().map(ReadyEvent::new).collect();
        self.submit(|reply| Job::Audit(events.clone(), reply)).await
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
            recipient: recipient.clone(),
            ids: ids.clone(),
            audit: audit.clone(),
            reply,
        })
        .await
    }

    /// Leases `deliveries` to one stream, counts a streaming of each and records it in the
    /// audit log with `audit`, completed per delivery. Returns the deliveries leased: those
    /// another stream holds (on any replica), or that were settled meanwhile, are left out.
    pub async fn lease(
        &self,
        deliveries: Vec<PendingDelivery>,
        lease: Lease,
        audit: AuditEvent,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        self.submit(|reply| Job::Streamed {
            deliveries: deliveries.clone(),
            lease: lease.clone(),
            audit: audit.clone(),
            reply,
        })
        .await
    }

    /// Ends the leases of every stream whose holder id starts with `holder`: one stream's, or
    /// with a gateway instance id, all of that gateway's. Their deliveries are offered again.
    pub async fn release(&self, holder: &str) -> Result<(), StoreError> {
        let holder = holder.to_string();
        self.submit(|reply| Job::Release {
            holder: holder.clone(),
            reply,
        })
        .await
    }

    /// Expires the unacknowledged deliveries of signals accepted before `cutoff` (Unix ms), at
    /// most [`EXPIRE_BATCH`] per call: they are no longer streamed, their copy is erased, and
    /// each gets an audit record from `audit`, completed per delivery. Returns the recipient
    /// of each delivery expired.
    pub async fn expire(&self, cutoff: i64, audit: AuditEvent) -> Result<Vec<Oin>, StoreError> {
        self.submit(|reply| Job::Expire {
            cutoff,
            audit: audit.clone(),
            reply,
        })
        .await
    }

    /// Removes audit records older than `cutoff` (Unix ms) while keeping the log verifiable:
    /// first a checkpoint signed over the last record removed, so that the first record kept
    /// links to a signed anchor; then the records, a chunk per writer transaction. `None`
    /// when nothing is old enough.
    pub async fn prune_audit(&self, cutoff: i64) -> Result<Option<Pruned>, StoreError> {
        let prune = |through| {
            self.submit(move |reply| Job::Prune {
                cutoff,
                through,
                reply,
            })
        };
        let Some(mut pruned) = prune(None).await? else {
            return Ok(None);
        };
        let mut last = pruned.records;
        while last >= PRUNE_CHUNK as u64 {
            last = prune(Some(pruned.through_seq))
                .await?
                .map_or(0, |more| more.records);
            pruned.records += last;
        }
        Ok(Some(pruned))
    }

    /// Forgets what the gateway no longer needs: erases the copies acknowledged before
    /// `erase_acked_before` (when a grace period is set; otherwise they were erased with
    /// their ack), and removes every signal accepted before `settled_before` none of whose
    /// deliveries is pending, with its deliveries. Runs in writer transactions of at most
    /// [`FORGET_BATCH`] each until nothing is left. On SQLite the writer truncates the WAL
    /// after each of them, before answering, so that erased bytes do not linger in it (the
    /// writer, as a truncation from another connection would wait for a gap between its
    /// transactions that steady load never leaves).
    pub async fn forget(
        &self,
        erase_acked_before: Option<i64>,
        settled_before: i64,
    ) -> Result<Forgotten, StoreError> {
        let mut total = Forgotten::default();
        loop {
            let done: Forgotten = self
                .submit(|reply| Job::Forget {
                    erase_acked_before,
                    settled_before,
                    reply,
                })
                .await?;
            total.erased += done.erased;
            total.signals += done.signals;
            if done.erased < FORGET_BATCH as u64 && done.signals < FORGET_BATCH as u64 {
                break;
            }
        }
        Ok(total)
    }

    /// Hands a job to the writer and waits for its answer. A job whose batch failed is
    /// submitted once more, to be committed alone: one job's failure is that job's alone.
    async fn submit<T>(
        &self,
        job: impl Fn(oneshot::Sender<Result<T, StoreError>>) -> Job,
    ) -> Result<T, StoreError> {
        match self.queue(&job, false).await {
            Err(StoreError::BatchFailed) => self.queue(&job, true).await,
            answer => answer,
        }
    }

    async fn queue<T>(
        &self,
        job: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Job,
        alone: bool,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        let queued = Queued {
            job: job(tx),
            alone,
        };
        self.jobs
            .send(queued)
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// The public key that verifies checkpoints and receipts.
    pub fn signature_key(&self) -> SignatureKey {
        self.signer.public()
    }

    /// Number of rows in a table, for tests.
    #[cfg(any(test, feature = "test-util"))]
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
        let Tasks { writer, beside } = std::mem::take(&mut *self.tasks.lock());
        let _ = self
            .jobs
            .send(Queued {
                job: Job::Shutdown,
                alone: false,
            })
            .await;
        if let Some(writer) = writer {
            let _ = tokio::time::timeout(Duration::from_secs(10), writer).await;
        }
        if let Some(beside) = beside {
            beside.abort();
        }
        self.pool.close().await;
    }
}

/// Tables that `Store::count` can count.
#[cfg(any(test, feature = "test-util"))]
#[derive(Debug, Clone, Copy)]
pub enum Table {
    /// Signals.
    Signals,
    /// Deliveries.
    Deliveries,
    /// Audit records.
    AuditLog,
}
