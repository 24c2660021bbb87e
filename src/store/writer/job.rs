//! The jobs the writer takes, each with where its answer goes.

use tokio::sync::oneshot;

use super::ReadyEvent;
use crate::{
    audit::AuditEvent,
    ids::Oin,
    registry::PartnerRecord,
    store::{
        Forgotten, Lease, NewSignal, PendingDelivery, Pruned, StoreError, signals::ReceiptFacts,
    },
};

/// A job as queued for the writer.
pub(in crate::store) struct Queued {
    pub(in crate::store) job: Job,
    /// Commit this job in a transaction of its own: its first batch failed.
    pub(in crate::store) alone: bool,
}

/// A write to perform, with where to send its answer.
pub(in crate::store) enum Job {
    /// A signal, with the audit records of its acceptance made ready (`signal.audit` is left
    /// empty).
    Send(
        Box<(NewSignal, Vec<ReadyEvent>)>,
        oneshot::Sender<Result<Sent, StoreError>>,
    ),
    Audit(Vec<ReadyEvent>, oneshot::Sender<Result<(), StoreError>>),
    Ack {
        recipient: Oin,
        ids: Vec<String>,
        /// The record written per acknowledged delivery, completed per delivery.
        audit: AuditEvent,
        reply: oneshot::Sender<Result<u32, StoreError>>,
    },
    /// Leases deliveries to one stream and records their streaming; answers with the ids
    /// it could lease (not those another stream holds, or acknowledged meanwhile).
    Streamed {
        deliveries: Vec<PendingDelivery>,
        lease: Lease,
        /// The record written per streamed delivery, completed per delivery.
        audit: AuditEvent,
        reply: oneshot::Sender<Result<Vec<PendingDelivery>, StoreError>>,
    },
    /// Ends the leases whose holder starts with `holder` and wakes their recipients.
    Release {
        holder: String,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Expires unacknowledged deliveries of signals accepted before `cutoff`.
    Expire {
        cutoff: i64,
        /// The record written per expired delivery, completed per delivery.
        audit: AuditEvent,
        reply: oneshot::Sender<Result<Vec<Oin>, StoreError>>,
    },
    /// Saves changed partner records with the audit records of the change.
    SaveRecords {
        records: Vec<PartnerRecord>,
        audit: Vec<AuditEvent>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Erases acknowledged copies and removes settled signals (see `Writer::forget`).
    Forget {
        erase_acked_before: Option<i64>,
        settled_before: i64,
        reply: oneshot::Sender<Result<Forgotten, StoreError>>,
    },
    /// Removes audit records accepted before `cutoff`, up to the cut `through` found by the
    /// first such job.
    Prune {
        cutoff: i64,
        through: Option<i64>,
        reply: oneshot::Sender<Result<Option<Pruned>, StoreError>>,
    },
    Shutdown,
}

/// How the writer answers a `Send`: like [`super::SendOutcome`], with the receipt's facts for
/// the caller to sign.
pub(in crate::store) enum Sent {
    /// Newly committed.
    Accepted(ReceiptFacts),
    /// The idempotency key was known with the same content: the original receipt.
    Duplicate(ReceiptFacts),
    /// The idempotency key was known, with the same content, from a signal committed before
    /// the batch: its id, for the caller to read the original receipt.
    Resent(String),
    /// The idempotency key was known with different content.
    Conflict,
}

// === impl Job ===

impl Job {
    /// The job for `signal`, checked, its audit events made ready here, beside the other
    /// requests, so that the single writer only chains them.
    pub(in crate::store) fn send(
        mut signal: NewSignal,
    ) -> Result<impl FnOnce(oneshot::Sender<Result<Sent, StoreError>>) -> Job, StoreError> {
        signal.check()?;
        let audit: Vec<ReadyEvent> = std::mem::take(&mut signal.audit)
            .into_iter()
            .map(ReadyEvent::new)
            .collect();
        Ok(move |reply| Job::Send(Box::new((signal, audit)), reply))
    }
}
