//! The single writer: takes every write job waiting, applies them in one transaction (group
//! commit), then answers each job and wakes the recipients of new deliveries.
//!
//! Being the only writer, it also owns the head of the audit hash chain, so records are
//! chained in commit order without locks. A job that is refused (an idempotency conflict, an
//! unknown delivery) is checked before it writes anything, so it never spoils its batch.

use std::{collections::HashSet, sync::Arc};

use sqlx::{
    Connection, Row, SqliteConnection,
    sqlite::{SqliteConnectOptions, SqliteRow},
};
use tokio::{
    sync::{mpsc, oneshot},
    time::Instant,
};

use super::{
    AuditSettings, NewSignal, PendingDelivery, Receipt, RecipientReceipt, SendOutcome, StoreError,
    now_ms,
};
use crate::{
    audit::{AuditEvent, ChainHead, Checkpoint, Outcome, Subject, keys::Signer},
    delivery::Notifier,
    identity::Oin,
    registry::PartnerRecord,
};

/// Most jobs committed in one transaction.
const MAX_BATCH: usize = 256;
/// Queue length before `submit` waits: back-pressure for senders.
const QUEUE: usize = 4096;

/// A write to perform, with where to send its answer.
pub(super) enum Job {
    Send(
        Box<NewSignal>,
        oneshot::Sender<Result<SendOutcome, StoreError>>,
    ),
    Audit(Vec<AuditEvent>, oneshot::Sender<Result<(), StoreError>>),
    Ack {
        recipient: Oin,
        ids: Vec<String>,
        /// The record written per acknowledged delivery, completed per delivery.
        audit: AuditEvent,
        reply: oneshot::Sender<Result<u32, StoreError>>,
    },
    Streamed {
        deliveries: Vec<PendingDelivery>,
        /// The record written per streamed delivery, completed per delivery.
        audit: AuditEvent,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Saves changed partner records with the audit records of the change.
    SaveRecords {
        records: Vec<PartnerRecord>,
        audit: Vec<AuditEvent>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    Shutdown,
}

/// The answer of one job, held until its batch commits.
enum Answer {
    Send(
        oneshot::Sender<Result<SendOutcome, StoreError>>,
        SendOutcome,
    ),
    Unit(oneshot::Sender<Result<(), StoreError>>),
    Ack(
        oneshot::Sender<Result<u32, StoreError>>,
        Result<u32, StoreError>,
    ),
}

struct Writer {
    conn: SqliteConnection,
    head: ChainHead,
    notifier: Arc<Notifier>,
    settings: AuditSettings,
    last_checkpoint: (i64, Instant),
}

/// Opens the writer's own connection and starts the writer task.
pub(super) async fn spawn(
    options: SqliteConnectOptions,
    notifier: Arc<Notifier>,
    settings: AuditSettings,
) -> Result<(mpsc::Sender<Job>, tokio::task::JoinHandle<()>), StoreError> {
    let mut conn = SqliteConnection::connect_with(&options).await?;
    let head = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut conn)
        .await?
        .map(|row| -> Result<ChainHead, sqlx::Error> {
            Ok(ChainHead {
                seq: row.try_get("seq")?,
                hash: row.try_get("hash")?,
            })
        })
        .transpose()?
        .unwrap_or_else(ChainHead::genesis);
    let checkpointed: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM audit_checkpoints")
        .fetch_one(&mut conn)
        .await?;
    let (tx, rx) = mpsc::channel(QUEUE);
    let writer = Writer {
        conn,
        head,
        notifier,
        settings,
        last_checkpoint: (checkpointed.unwrap_or(0), Instant::now()),
    };
    Ok((tx, tokio::spawn(writer.run(rx))))
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            let wait = self.settings.checkpoint_every;
            match tokio::time::timeout(wait, rx.recv_many(&mut batch, MAX_BATCH)).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(_) => {
                    // Quiet for a while: seal what was written since the last checkpoint.
                    self.commit(Vec::new()).await;
                    continue;
                }
            }
            let stop = batch.iter().any(|job| matches!(job, Job::Shutdown));
            self.commit(std::mem::take(&mut batch)).await;
            if stop {
                break;
            }
        }
        let _ = self.conn.close().await;
    }

    /// Writes a signed checkpoint of the head, in the open transaction, when enough records
    /// or time have passed; returns the sequence number it covers.
    async fn checkpoint_if_due(&mut self) -> Result<Option<i64>, StoreError> {
        let (seq, at) = self.last_checkpoint;
        let pending = self.head.seq - seq;
        let due = pending >= self.settings.checkpoint_every_records as i64
            || (pending > 0 && at.elapsed() >= self.settings.checkpoint_every);
        if !due {
            return Ok(None);
        }
        let now = now_ms();
        let signer = &self.settings.signer;
        let signature = signer.sign(&Checkpoint::message(self.head.seq, now, &self.head.hash));
        sqlx::query(
            "INSERT INTO audit_checkpoints (seq, at, head_hash, key_id, signature) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(self.head.seq)
        .bind(now)
        .bind(&self.head.hash)
        .bind(signer.key_id())
        .bind(hex::encode(signature))
        .execute(&mut self.conn)
        .await?;
        Ok(Some(self.head.seq))
    }

    async fn commit(&mut self, jobs: Vec<Job>) {
        let head = self.head.clone();
        let mut woken = HashSet::new();
        match self.apply_all(jobs, &mut woken).await {
            Ok(answers) => {
                for recipient in &woken {
                    self.notifier.wake(recipient);
                }
                for answer in answers {
                    answer.send();
                }
            }
            Err((e, answers)) => {
                self.head = head;
                tracing::error!(error = %e, jobs = answers.len(), "commit failed");
                for answer in answers {
                    answer.fail(&e);
                }
            }
        }
    }

    async fn apply_all(
        &mut self,
        jobs: Vec<Job>,
        woken: &mut HashSet<Oin>,
    ) -> Result<Vec<Answer>, (StoreError, Vec<Answer>)> {
        let mut answers = Vec::with_capacity(jobs.len());
        let mut pending = jobs.into_iter();
        if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut self.conn).await {
            answers.extend(pending.filter_map(Answer::unanswered));
            return Err((e.into(), answers));
        }
        for job in pending.by_ref() {
            let result = self.apply(job, woken).await;
            match result {
                Ok(Some(answer)) => answers.push(answer),
                Ok(None) => {}
                Err((e, answer)) => {
                    answers.extend(answer);
                    answers.extend(pending.filter_map(Answer::unanswered));
                    let _ = sqlx::query("ROLLBACK").execute(&mut self.conn).await;
                    return Err((e, answers));
                }
            }
        }
        let checkpoint = match self.checkpoint_if_due().await {
            Ok(checkpoint) => checkpoint,
            Err(e) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut self.conn).await;
                return Err((e, answers));
            }
        };
        if let Err(e) = sqlx::query("COMMIT").execute(&mut self.conn).await {
            let _ = sqlx::query("ROLLBACK").execute(&mut self.conn).await;
            return Err((e.into(), answers));
        }
        if let Some(seq) = checkpoint {
            self.last_checkpoint = (seq, Instant::now());
        }
        Ok(answers)
    }

    async fn apply(
        &mut self,
        job: Job,
        woken: &mut HashSet<Oin>,
    ) -> Result<Option<Answer>, (StoreError, Option<Answer>)> {
        match job {
            Job::Send(signal, reply) => match self.insert_signal(*signal, woken).await {
                Ok(outcome) => Ok(Some(Answer::Send(reply, outcome))),
                Err(e) => Err((e, Some(Answer::Send(reply, SendOutcome::Conflict)))),
            },
            Job::Audit(events, reply) => {
                let now = now_ms();
                for event in events {
                    if let Err(e) = self.append_audit(event, now).await {
                        return Err((e, Some(Answer::Unit(reply))));
                    }
                }
                Ok(Some(Answer::Unit(reply)))
            }
            Job::Ack {
                recipient,
                ids,
                audit,
                reply,
            } => match self.ack(&recipient, ids, audit).await {
                Ok(result) => Ok(Some(Answer::Ack(reply, result))),
                Err(e) => Err((e, Some(Answer::Ack(reply, Ok(0))))),
            },
            Job::Streamed {
                deliveries,
                audit,
                reply,
            } => match self.streamed(deliveries, audit).await {
                Ok(()) => Ok(Some(Answer::Unit(reply))),
                Err(e) => Err((e, Some(Answer::Unit(reply)))),
            },
            Job::SaveRecords {
                records,
                audit,
                reply,
            } => match self.save_records(&records, audit).await {
                Ok(()) => Ok(Some(Answer::Unit(reply))),
                Err(e) => Err((e, Some(Answer::Unit(reply)))),
            },
            Job::Shutdown => Ok(None),
        }
    }

    async fn insert_signal(
        &mut self,
        signal: NewSignal,
        woken: &mut HashSet<Oin>,
    ) -> Result<SendOutcome, StoreError> {
        let known = sqlx::query(
            "SELECT id, content_hash FROM signals WHERE sender_oin = ? AND idempotency_key = ?",
        )
        .bind(signal.sender.as_str())
        .bind(&signal.idempotency_key)
        .fetch_optional(&mut self.conn)
        .await?;
        let now = now_ms();
        if let Some(row) = known {
            let id: String = row.try_get("id")?;
            let hash: Vec<u8> = row.try_get("content_hash")?;
            let mut event = signal.resent_audit;
            event.signal_id = Some(id.clone());
            if hash != signal.content_hash {
                event.outcome = Outcome::Refused;
                event.detail =
                    serde_json::json!({ "reason": "idempotency key reused for different content" });
                self.append_audit(event, now).await?;
                return Ok(SendOutcome::Conflict);
            }
            self.append_audit(event, now).await?;
            let receipt = load_receipt(&mut self.conn, &self.settings.signer, &id, true)
                .await?
                .ok_or_else(|| StoreError::Corrupt(format!("signal {id} vanished")))?;
            return Ok(SendOutcome::Duplicate(receipt));
        }
        let mut audit_seq = None;
        for event in signal.audit {
            let seq = self.append_audit(event, now).await?;
            audit_seq.get_or_insert(seq);
        }
        let audit_seq = audit_seq.unwrap_or(self.head.seq);
        let subject = &signal.subject;
        sqlx::query(
            "INSERT INTO signals (id, sender_oin, idempotency_key, content_hash, signal_type, purpose, case_ref, rule_name, policy_version, accepted_at, audit_seq, case_ref_hash, subject_type, subject_hash, subject_key_id)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&signal.id)
        .bind(signal.sender.as_str())
        .bind(&signal.idempotency_key)
        .bind(&signal.content_hash[..])
        .bind(&signal.signal_type)
        .bind(&signal.purpose)
        .bind(&signal.case_ref)
        .bind(&signal.rule)
        .bind(&signal.policy_version)
        .bind(signal.accepted_at)
        .bind(audit_seq)
        .bind(subject.case_ref_hash.as_deref().unwrap_or_default())
        .bind(&subject.subject_type)
        .bind(&subject.subject_hash)
        .bind(subject.subject_key_id.as_deref().unwrap_or_default())
        .execute(&mut self.conn)
        .await?;
        let mut recipients = Vec::with_capacity(signal.deliveries.len());
        for (position, d) in signal.deliveries.into_iter().enumerate() {
            sqlx::query(
                "INSERT INTO deliveries (id, signal_id, position, recipient_oin, purposes, withheld, payload)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&d.id)
            .bind(&signal.id)
            .bind(position as i64)
            .bind(d.recipient.as_str())
            .bind(to_json(&d.purposes))
            .bind(to_json(&d.withheld))
            .bind(&d.payload)
            .execute(&mut self.conn)
            .await?;
            woken.insert(d.recipient.clone());
            recipients.push(RecipientReceipt {
                recipient: d.recipient.to_string(),
                delivery_id: d.id,
                purposes: d.purposes,
                withheld: d.withheld,
            });
        }
        Ok(SendOutcome::Accepted(Receipt::signed(
            &self.settings.signer,
            signal.id,
            hex::encode(signal.content_hash),
            signal.accepted_at,
            audit_seq,
            recipients,
            false,
        )))
    }

    async fn ack(
        &mut self,
        recipient: &Oin,
        ids: Vec<String>,
        template: AuditEvent,
    ) -> Result<Result<u32, StoreError>, StoreError> {
        let mut senders = Vec::with_capacity(ids.len());
        for id in &ids {
            let row = sqlx::query(
                "SELECT d.acked_at, d.signal_id, s.sender_oin, s.signal_type, s.case_ref_hash, s.subject_type, s.subject_hash, s.subject_key_id
                 FROM deliveries d JOIN signals s ON s.id = d.signal_id
                 WHERE d.id = ? AND d.recipient_oin = ?",
            )
            .bind(id)
            .bind(recipient.as_str())
            .fetch_optional(&mut self.conn)
            .await?;
            match row {
                None => return Ok(Err(StoreError::UnknownDelivery(id.clone()))),
                Some(row) => {
                    let acked: Option<i64> = row.try_get("acked_at")?;
                    if acked.is_none() {
                        senders.push((
                            id.clone(),
                            row.try_get::<String, _>("signal_id")?,
                            row.try_get::<String, _>("sender_oin")?,
                            row.try_get::<String, _>("signal_type")?,
                            subject_of(&row)?,
                        ));
                    }
                }
            }
        }
        let now = now_ms();
        let mut acknowledged = 0;
        for (id, signal_id, sender, signal_type, subject) in senders {
            let done =
                sqlx::query("UPDATE deliveries SET acked_at = ? WHERE id = ? AND acked_at IS NULL")
                    .bind(now)
                    .bind(&id)
                    .execute(&mut self.conn)
                    .await?;
            if done.rows_affected() == 0 {
                continue; // acknowledged twice within one call
            }
            acknowledged += 1;
            let mut event = template.clone();
            event.subject = subject;
            event.counterparty = sender.parse().ok();
            event.signal_id = Some(signal_id);
            event.signal_type = Some(signal_type);
            event.delivery_id = Some(id);
            self.append_audit(event, now).await?;
        }
        Ok(Ok(acknowledged))
    }

    async fn streamed(
        &mut self,
        deliveries: Vec<PendingDelivery>,
        template: AuditEvent,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        for d in deliveries {
            sqlx::query("UPDATE deliveries SET attempts = attempts + 1 WHERE id = ?")
                .bind(&d.id)
                .execute(&mut self.conn)
                .await?;
            let mut event = template.clone();
            event.subject = d.subject;
            event.counterparty = d.sender.parse().ok();
            event.purpose = Some(d.purposes.join(","));
            event.signal_id = Some(d.signal_id);
            event.signal_type = Some(d.signal_type);
            event.delivery_id = Some(d.id);
            event.detail = serde_json::json!({ "attempt": d.attempts + 1 });
            self.append_audit(event, now).await?;
        }
        Ok(())
    }

    async fn save_records(
        &mut self,
        records: &[PartnerRecord],
        audit: Vec<AuditEvent>,
    ) -> Result<(), StoreError> {
        for record in records {
            super::registry::save_record(&mut self.conn, record).await?;
        }
        let now = now_ms();
        for event in audit {
            self.append_audit(event, now).await?;
        }
        Ok(())
    }

    /// Appends one record to the chain; returns its sequence number.
    async fn append_audit(&mut self, event: AuditEvent, at: i64) -> Result<i64, StoreError> {
        let (record, hash) = self.head.append(event, at);
        let e = &record.event;
        sqlx::query(
            "INSERT INTO audit_log (seq, id, at, event, outcome, actor_oin, actor_person, counterparty_oin, purpose, legal_basis, signal_id, signal_type, delivery_id, case_ref_hash, subject_type, subject_hash, subject_key_id, trace_id, span_id, detail, prev_hash, hash)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(record.seq)
        .bind(&record.id)
        .bind(record.at)
        .bind(enum_text(&e.event))
        .bind(enum_text(&e.outcome))
        .bind(e.actor.as_ref().map(Oin::as_str))
        .bind(&e.actor_person)
        .bind(e.counterparty.as_ref().map(Oin::as_str))
        .bind(&e.purpose)
        .bind(&e.legal_basis)
        .bind(&e.signal_id)
        .bind(&e.signal_type)
        .bind(&e.delivery_id)
        .bind(&e.subject.case_ref_hash)
        .bind(&e.subject.subject_type)
        .bind(&e.subject.subject_hash)
        .bind(&e.subject.subject_key_id)
        .bind(&e.trace.trace_id)
        .bind(&e.trace.span_id)
        .bind(e.detail.to_string())
        .bind(&record.prev_hash)
        .bind(&hash)
        .execute(&mut self.conn)
        .await?;
        Ok(record.seq)
    }
}

/// Reads and signs the receipt of a committed signal; `None` when there is no such signal.
pub(super) async fn load_receipt(
    conn: &mut SqliteConnection,
    signer: &Signer,
    signal_id: &str,
    duplicate: bool,
) -> Result<Option<Receipt>, StoreError> {
    let Some(signal) =
        sqlx::query("SELECT content_hash, accepted_at, audit_seq FROM signals WHERE id = ?")
            .bind(signal_id)
            .fetch_optional(&mut *conn)
            .await?
    else {
        return Ok(None);
    };
    let rows = sqlx::query(
        "SELECT id, recipient_oin, purposes, withheld FROM deliveries WHERE signal_id = ? ORDER BY position",
    )
    .bind(signal_id)
    .fetch_all(&mut *conn)
    .await?;
    let recipients = rows
        .iter()
        .map(|row| {
            Ok(RecipientReceipt {
                recipient: row.try_get("recipient_oin")?,
                delivery_id: row.try_get("id")?,
                purposes: from_json(row.try_get("purposes")?)?,
                withheld: from_json(row.try_get("withheld")?)?,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(Some(Receipt::signed(
        signer,
        signal_id.to_string(),
        hex::encode(signal.try_get::<Vec<u8>, _>("content_hash")?),
        signal.try_get("accepted_at")?,
        signal.try_get("audit_seq")?,
        recipients,
        duplicate,
    )))
}

/// The keyed-hash subject columns of a joined signals row.
pub(super) fn subject_of(row: &SqliteRow) -> Result<Subject, sqlx::Error> {
    Ok(Subject {
        case_ref_hash: row.try_get("case_ref_hash")?,
        subject_type: row.try_get("subject_type")?,
        subject_hash: row.try_get("subject_hash")?,
        subject_key_id: row.try_get("subject_key_id")?,
    })
}

fn to_json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

fn from_json(text: String) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn enum_text<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

// === impl Answer ===

impl Answer {
    /// A job that never ran because its batch failed; its answer is the batch's error.
    fn unanswered(job: Job) -> Option<Answer> {
        match job {
            Job::Send(_, reply) => Some(Answer::Send(reply, SendOutcome::Conflict)),
            Job::Audit(_, reply) | Job::Streamed { reply, .. } | Job::SaveRecords { reply, .. } => {
                Some(Answer::Unit(reply))
            }
            Job::Ack { reply, .. } => Some(Answer::Ack(reply, Ok(0))),
            Job::Shutdown => None,
        }
    }

    fn send(self) {
        match self {
            Answer::Send(reply, outcome) => {
                let _ = reply.send(Ok(outcome));
            }
            Answer::Unit(reply) => {
                let _ = reply.send(Ok(()));
            }
            Answer::Ack(reply, result) => {
                let _ = reply.send(result);
            }
        }
    }

    fn fail(self, e: &StoreError) {
        let error = || StoreError::Corrupt(format!("batch not committed: {e}"));
        match self {
            Answer::Send(reply, _) => {
                let _ = reply.send(Err(error()));
            }
            Answer::Unit(reply) => {
                let _ = reply.send(Err(error()));
            }
            Answer::Ack(reply, _) => {
                let _ = reply.send(Err(error()));
            }
        }
    }
}
