//! The single writer: takes every write job waiting, applies them in one transaction (group
//! commit), then answers each job and wakes the recipients of new deliveries.
//!
//! Each transaction starts by taking the audit chain for itself ([`Backend::begin_writing`]:
//! SQLite's write lock, or an advisory lock every PostgreSQL replica's writer takes) and
//! reading the chain's head, so records are chained in commit order however many gateways
//! share the database. A job that is refused (an idempotency conflict, an unknown delivery) is
//! checked before it writes anything, so it never spoils its batch; a row the database still
//! refuses fails the whole transaction, and then every job of it is queued again to be
//! committed alone (`Store::submit`), so that only the offending job fails.
//!
//! Inside the transaction the writer first reads what the batch's jobs ask about (known
//! idempotency keys, the deliveries named in acknowledgements), then applies the jobs in order
//! in memory, each seeing what the jobs before it did, and writes each table with one
//! statement over all its rows ([`rows`]). On SQLite the writer has a connection of its own,
//! on a thread of its own ([`start`], [`Link`]), so a statement is a call, not a round trip.
//!
//! Receipts leave the writer as facts ([`Sent`]); `Store::send` signs them in the caller's
//! task, so the Ed25519 signing of a batch runs on every core instead of in the writer. The
//! audit records of a `Send` come the other way already sealed and with their row written
//! ([`ReadyEvent`]): the writer only places each after the chain's head and hashes it.
//!
//! A new copy for a recipient whose stream is parked ([`super::wakeups::Parked`]) is leased
//! to that stream in its `Send`'s own commit, with its `delivery_streamed` record, and handed
//! over once the batch is committed; its recipient is not woken.

mod answer;
mod counters;
mod head;
mod job;
mod jobs;
mod known;
mod leased;
mod leases;
mod page_cache;
mod ready;
mod removal;
mod rows;
mod script;
mod start;
mod timing;
mod upkeep;

use std::{collections::HashSet, sync::Arc};

use tokio::{sync::mpsc, time::Instant};

use answer::Answer;
pub(super) use job::{Job, Queued, Sent};
use jobs::Batch;
use known::Known;
use leased::LeasedCopies;
use page_cache::PageCache;
pub(super) use ready::ReadyEvent;
use rows::Rows;
use script::{Opening, Script};
pub(super) use start::spawn;
use timing::Timing;
pub use timing::{WRITER_BATCH_JOBS, WRITER_PHASE_SECONDS};

use super::{
    Forgotten, StoreError, WriterSettings, db::Sql, link::Link, wakeups::Notifier, wal::WalUpkeep,
};
use crate::{audit::ChainHead, clock::now_ms, database::Backend, ids::Oin};

/// Most jobs committed in one transaction.
const MAX_BATCH: usize = 256;
/// Queue length before `submit` waits: back-pressure for senders.
const QUEUE: usize = 4096;
struct Writer {
    link: Link,
    backend: Backend,
    /// The head of the chain, read at the start of each transaction.
    head: ChainHead,
    /// The last record covered by a signed checkpoint, read with the head.
    checkpointed: i64,
    /// When this writer last wrote a checkpoint.
    checkpointed_at: Instant,
    notifier: Arc<Notifier>,
    settings: WriterSettings,
    /// SQLite's log: restarted between transactions once long, truncated after forgetting.
    wal_upkeep: Arc<WalUpkeep>,
    /// SQLite's page cache on this connection, fitted to the store's size.
    page_cache: PageCache,
    /// On SQLite, the copies leased to streams and not seen settled, with what their
    /// acknowledgement's audit record needs.
    leased: LeasedCopies,
    /// Answers to forgettings, held until the log is truncated ([`upkeep`]).
    forgotten: Vec<Answer>,
}

impl Writer {
    fn new(
        backend: Backend,
        link: Link,
        notifier: Arc<Notifier>,
        settings: WriterSettings,
    ) -> Self {
        Writer {
            link,
            backend,
            head: ChainHead::genesis(),
            checkpointed: 0,
            checkpointed_at: Instant::now(),
            notifier,
            settings,
            wal_upkeep: Arc::default(),
            page_cache: PageCache::new(),
            leased: LeasedCopies::default(),
            forgotten: Vec::new(),
        }
    }

    /// Begins the transaction, reading the head of the chain and what the jobs ask about.
    async fn begin(&mut self, jobs: &[Job]) -> Result<Known, StoreError> {
        let mut opening = Opening::new(self.backend);
        opening.read(|sql| {
            sql.push(head::READ_HEAD);
        });
        Known::ask(jobs, &self.leased, &mut opening);
        let rows = opening.begin(&mut self.link).await?;
        self.found_head(&rows)?;
        Known::found(&rows)
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Queued>) {
        let mut queued = Vec::with_capacity(MAX_BATCH);
        loop {
            self.page_cache.fit(&mut self.link).await;
            let wait = self.settings.checkpoint_every;
            let holding = !self.forgotten.is_empty();
            let received = tokio::select! {
                biased;
                () = self.wal_upkeep.caught_up(), if holding => None,
                got = tokio::time::timeout(wait, rx.recv_many(&mut queued, MAX_BATCH)) => Some(got),
            };
            let Some(received) = received else {
                self.truncate_log().await;
                continue;
            };
            match received {
                Ok(0) => break,
                Ok(_) => {}
                Err(_) => {
                    // Quiet for a while: seal what was written since the last checkpoint.
                    self.commit(Vec::new()).await;
                    continue;
                }
            }
            let stop = queued.iter().any(|q| matches!(q.job, Job::Shutdown));
            let (alone, batch): (Vec<Queued>, Vec<Queued>) =
                queued.drain(..).partition(|q| q.alone);
            self.commit(batch.into_iter().map(|q| q.job).collect())
                .await;
            for q in alone {
                self.commit(vec![q.job]).await;
            }
            self.wal_upkeep.restart_if_long(&mut self.link).await;
            if stop {
                break;
            }
        }
        self.truncate_log().await;
        self.link.close().await;
    }

    async fn commit(&mut self, jobs: Vec<Job>) {
        let mut woken = HashSet::new();
        match self.apply_all(jobs, &mut woken).await {
            Ok(answers) => {
                for recipient in &woken {
                    self.notifier.wake(recipient);
                }
                for answer in answers {
                    match answer {
                        Answer::Forgotten(..) => self.hold_until_truncated(answer),
                        answer => answer.send(),
                    }
                }
            }
            Err((e, answers)) => {
                // Jobs that shared the transaction are retried alone (`Store::submit`), so
                // the one that failed it fails by itself and the others commit.
                let shared = answers.len() > 1;
                tracing::error!(error = %e, jobs = answers.len(), "commit failed");
                for answer in answers {
                    answer.fail(&e, shared);
                }
            }
        }
    }

    /// Applies the jobs in order in one transaction: takes the chain and reads its head,
    /// reads what the jobs ask about, works out their rows and answers in memory, then writes
    /// each table with a few multi-row statements, the checkpoint if due, announces the new
    /// deliveries to other replicas, and commits. A failure anywhere fails the batch.
    async fn apply_all(
        &mut self,
        jobs: Vec<Job>,
        woken: &mut HashSet<Oin>,
    ) -> Result<Vec<Answer>, (StoreError, Vec<Answer>)> {
        let unanswered = |jobs: Vec<Job>| jobs.into_iter().filter_map(Answer::unanswered).collect();
        let mut timing = Timing::start(jobs.len());
        let known = match self.begin(&jobs).await {
            Ok(known) => known,
            Err(e) => {
                self.rollback().await;
                return Err((e, unanswered(jobs)));
            }
        };
        timing.opened();
        let mut batch = Batch::new(known);
        let mut answers = Vec::with_capacity(jobs.len());
        let mut pending = jobs.into_iter();
        for job in pending.by_ref() {
            match self.apply(job, &mut batch, woken).await {
                Ok(Some(answer)) => answers.push(answer),
                Ok(None) => {}
                Err((e, answer)) => {
                    answers.extend(answer);
                    answers.extend(pending.filter_map(Answer::unanswered));
                    self.rollback().await;
                    return Err((e, answers));
                }
            }
        }
        timing.applied();
        let checkpointed = match self.write_and_commit(batch.rows, woken).await {
            Ok(checkpointed) => checkpointed,
            Err(e) => {
                self.rollback().await;
                return Err((e, answers));
            }
        };
        timing.committed();
        if checkpointed {
            self.checkpointed_at = Instant::now();
        }
        for (place, copy) in batch.handed {
            // A stream that ended meanwhile releases its leases after this batch.
            place.send(copy);
        }
        Ok(answers)
    }

    /// Writes, when due, a checkpoint of the head the batch's rows end at, the announcement of
    /// the new deliveries, then the rows, and commits; tells whether it wrote a checkpoint.
    async fn write_and_commit(
        &mut self,
        rows: Rows,
        woken: &HashSet<Oin>,
    ) -> Result<bool, StoreError> {
        let checkpointed = self.checkpoint_if_due().await?;
        let recipients: Vec<&str> = woken.iter().map(Oin::as_str).collect();
        if let Some(mut announcement) = self.backend.announcement(&recipients) {
            self.link.execute(&mut announcement).await?;
        }
        let mut script = Script::new(&mut self.link, self.backend);
        rows.write(&mut script).await?;
        script.commit().await?;
        Ok(checkpointed)
    }

    async fn rollback(&mut self) {
        let _ = self
            .link
            .execute(Sql::new(self.backend, "ROLLBACK").kept())
            .await;
    }

    async fn apply(
        &mut self,
        job: Job,
        batch: &mut Batch,
        woken: &mut HashSet<Oin>,
    ) -> Result<Option<Answer>, (StoreError, Option<Answer>)> {
        match job {
            Job::Send(signal, reply) => {
                let (signal, audit) = *signal;
                match self.insert_signal(signal, audit, batch, woken).await {
                    Ok(outcome) => Ok(Some(Answer::Send(reply, outcome))),
                    Err(e) => Err((e, Some(Answer::Send(reply, Sent::Conflict)))),
                }
            }
            Job::Audit(events, reply) => {
                let now = now_ms();
                for event in events {
                    self.append_audit(event, now, &mut batch.rows);
                }
                Ok(Some(Answer::Unit(reply, Ok(()))))
            }
            Job::Ack {
                recipient,
                ids,
                audit,
                reply,
            } => {
                let result = self.ack(&recipient, ids, audit, batch);
                Ok(Some(Answer::Ack(reply, result)))
            }
            Job::Streamed {
                deliveries,
                lease,
                audit,
                reply,
            } => {
                let leased = self.streamed(deliveries, &lease, audit, batch);
                Ok(Some(Answer::Leased(reply, leased)))
            }
            Job::Release { holder, reply } => match self.release(&holder, batch, woken).await {
                Ok(()) => Ok(Some(Answer::Unit(reply, Ok(())))),
                Err(e) => Err((e, Some(Answer::Unit(reply, Ok(()))))),
            },
            Job::Expire {
                cutoff,
                audit,
                reply,
            } => match self.expire(cutoff, audit, batch).await {
                Ok(expired) => Ok(Some(Answer::Expired(reply, expired))),
                Err(e) => Err((e, Some(Answer::Expired(reply, Vec::new())))),
            },
            Job::SaveRecords {
                records,
                audit,
                reply,
            } => match self.save_records(&records, audit, &mut batch.rows).await {
                Ok(saved) => Ok(Some(Answer::Unit(reply, saved))),
                Err(e) => Err((e, Some(Answer::Unit(reply, Ok(()))))),
            },
            Job::Prune {
                cutoff,
                through,
                reply,
            } => match self.prune(cutoff, through).await {
                Ok(pruned) => Ok(Some(Answer::Pruned(reply, pruned))),
                Err(e) => Err((e, Some(Answer::Pruned(reply, None)))),
            },
            Job::Forget {
                erase_acked_before,
                settled_before,
                reply,
            } => match self.forget(erase_acked_before, settled_before).await {
                Ok(forgotten) => Ok(Some(Answer::Forgotten(reply, forgotten))),
                Err(e) => Err((e, Some(Answer::Forgotten(reply, Forgotten::default())))),
            },
            Job::Shutdown => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests;
