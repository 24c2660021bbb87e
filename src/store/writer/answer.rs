//! The answer of each job, held until its batch commits: then sent, or replaced by the
//! batch's error for every job in it.

use tokio::sync::oneshot;

use super::{Job, Sent};
use crate::{
    ids::Oin,
    store::{Forgotten, PendingDelivery, Pruned, StoreError},
};

/// The answer of one job, held until its batch commits.
pub(super) enum Answer {
    Send(oneshot::Sender<Result<Sent, StoreError>>, Sent),
    Unit(
        oneshot::Sender<Result<(), StoreError>>,
        Result<(), StoreError>,
    ),
    Ack(
        oneshot::Sender<Result<u32, StoreError>>,
        Result<u32, StoreError>,
    ),
    Expired(oneshot::Sender<Result<Vec<Oin>, StoreError>>, Vec<Oin>),
    Pruned(
        oneshot::Sender<Result<Option<Pruned>, StoreError>>,
        Option<Pruned>,
    ),
    Forgotten(oneshot::Sender<Result<Forgotten, StoreError>>, Forgotten),
    Leased(
        oneshot::Sender<Result<Vec<PendingDelivery>, StoreError>>,
        Vec<PendingDelivery>,
    ),
}

// === impl Answer ===

impl Answer {
    /// A job that never ran because its batch failed; its answer is the batch's error.
    pub(super) fn unanswered(job: Job) -> Option<Answer> {
        match job {
            Job::Send(_, reply) => Some(Answer::Send(reply, Sent::Conflict)),
            Job::Streamed { reply, .. } => Some(Answer::Leased(reply, Vec::new())),
            Job::Audit(_, reply) | Job::Release { reply, .. } | Job::SaveRecords { reply, .. } => {
                Some(Answer::Unit(reply, Ok(())))
            }
            Job::Ack { reply, .. } => Some(Answer::Ack(reply, Ok(0))),
            Job::Expire { reply, .. } => Some(Answer::Expired(reply, Vec::new())),
            Job::Prune { reply, .. } => Some(Answer::Pruned(reply, None)),
            Job::Forget { reply, .. } => Some(Answer::Forgotten(reply, Forgotten::default())),
            Job::Shutdown => None,
        }
    }

    pub(super) fn send(self) {
        match self {
            Answer::Send(reply, outcome) => {
                let _ = reply.send(Ok(outcome));
            }
            Answer::Unit(reply, result) => {
                let _ = reply.send(result);
            }
            Answer::Ack(reply, result) => {
                let _ = reply.send(result);
            }
            Answer::Expired(reply, expired) => {
                let _ = reply.send(Ok(expired));
            }
            Answer::Pruned(reply, pruned) => {
                let _ = reply.send(Ok(pruned));
            }
            Answer::Forgotten(reply, forgotten) => {
                let _ = reply.send(Ok(forgotten));
            }
            Answer::Leased(reply, leased) => {
                let _ = reply.send(Ok(leased));
            }
        }
    }

    /// Answers with the batch's failure: [`StoreError::BatchFailed`] when other jobs shared
    /// the transaction (the job is then retried alone), otherwise the error itself.
    pub(super) fn fail(self, e: &StoreError, shared: bool) {
        let error = || {
            if shared {
                StoreError::BatchFailed
            } else {
                StoreError::Corrupt(format!("not committed: {e}"))
            }
        };
        match self {
            Answer::Send(reply, _) => {
                let _ = reply.send(Err(error()));
            }
            Answer::Unit(reply, _) => {
                let _ = reply.send(Err(error()));
            }
            Answer::Ack(reply, _) => {
                let _ = reply.send(Err(error()));
            }
            Answer::Expired(reply, _) => {
                let _ = reply.send(Err(error()));
            }
            Answer::Pruned(reply, _) => {
                let _ = reply.send(Err(error()));
            }
            Answer::Forgotten(reply, _) => {
                let _ = reply.send(Err(error()));
            }
            Answer::Leased(reply, _) => {
                let _ = reply.send(Err(error()));
            }
        }
    }
}
