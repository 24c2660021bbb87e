//! What each kind of job does inside the writer's transaction: a signal with its deliveries
//! (or the original receipt of a resend), acknowledgements, streamings, expiry, registry
//! changes, and the pruning of audit records past their retention. Each job reads what it needs
//! from the batch so far, adds its rows to the batch, and is refused before it writes anything.

use std::collections::{HashMap, HashSet};

use sqlx::Row;

use super::{
    Sent, Writer,
    rows::{DeliveryRow, Known, Rows, SignalRow},
};
use crate::{
    audit::{AuditEvent, Checkpoint, Outcome},
    clock::now_ms,
    ids::{InvalidOin, Oin},
    registry::PartnerRecord,
    store::{
        DeliveryStatus, EXPIRE_BATCH, FORGET_BATCH, Forgotten, NewSignal, PRUNE_CHUNK,
        PendingDelivery, Pruned, RecipientReceipt, StoreError,
        columns::{from_json, signal_subject, subject_of, to_json},
        db::Sql,
        signals::{ReceiptFacts, load_receipt},
    },
};

// === impl Writer ===

impl Writer {
    pub(super) async fn insert_signal(
        &mut self,
        signal: NewSignal,
        batch: &mut Batch,
        woken: &mut HashSet<Oin>,
    ) -> Result<Sent, StoreError> {
        let now = now_ms();
        if let Some((id, hash, receipt)) = batch.earlier(&signal.sender, &signal.idempotency_key) {
            let mut event = signal.resent_audit;
            event.signal_id = Some(id.clone());
            if hash != signal.content_hash {
                event.outcome = Outcome::Refused;
                event.detail =
                    serde_json::json!({ "reason": "idempotency key reused for different content" });
                self.append_audit(event, now, &mut batch.rows);
                return Ok(Sent::Conflict);
            }
            self.append_audit(event, now, &mut batch.rows);
            let receipt = match receipt {
                Some(receipt) => ReceiptFacts {
                    duplicate: true,
                    ..receipt
                },
                None => load_receipt(&mut self.conn, &id, true)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt(format!("signal {id} vanished")))?,
            };
            return Ok(Sent::Duplicate(receipt));
        }
        let mut audit_seq = None;
        for event in signal.audit {
            let seq = self.append_audit(event, now, &mut batch.rows);
            audit_seq.get_or_insert(seq);
        }
        let audit_seq = audit_seq.unwrap_or(self.head.seq);
        let mut recipients = Vec::with_capacity(signal.deliveries.len());
        for (position, d) in signal.deliveries.into_iter().enumerate() {
            woken.insert(d.recipient.clone());
            recipients.push(RecipientReceipt {
                recipient: d.recipient.to_string(),
                delivery_id: d.id.clone(),
                purposes: d.purposes.clone(),
                withheld: d.withheld.clone(),
                status: DeliveryStatus::default(),
            });
            batch.rows.deliveries.push(DeliveryRow {
                id: d.id,
                signal_id: signal.id.clone(),
                position: position as i64,
                recipient: d.recipient,
                purposes: to_json(&d.purposes),
                withheld: to_json(&d.withheld),
                payload: d.payload,
            });
        }
        let receipt = ReceiptFacts {
            signal_id: signal.id.clone(),
            content_sha256: hex::encode(signal.content_hash),
            accepted_at: signal.accepted_at,
            audit_seq,
            recipients,
            duplicate: false,
        };
        batch
            .accepted
            .entry(signal.sender.clone())
            .or_default()
            .insert(
                signal.idempotency_key.clone(),
                (signal.content_hash, receipt.clone()),
            );
        batch.rows.signals.push(SignalRow {
            id: signal.id,
            sender: signal.sender,
            idempotency_key: signal.idempotency_key,
            content_hash: signal.content_hash,
            signal_type: signal.signal_type,
            purpose: signal.purpose,
            case_ref: signal.case_ref,
            rule: signal.rule,
            policy_version: signal.policy_version,
            accepted_at: signal.accepted_at,
            audit_seq,
            subject: signal.subject,
        });
        Ok(Sent::Accepted(receipt))
    }

    /// Acknowledges the deliveries of `recipient` named in `ids`; refuses them all if one is
    /// not addressed to `recipient`. Counts each delivery once, however often it is named.
    pub(super) fn ack(
        &mut self,
        recipient: &Oin,
        ids: Vec<String>,
        template: AuditEvent,
        batch: &mut Batch,
    ) -> Result<u32, StoreError> {
        let known = batch.known.deliveries.get(recipient);
        let mut targets = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(delivery) = known.and_then(|known| known.get(&id)) else {
                return Err(StoreError::UnknownDelivery(id));
            };
            if delivery.expired || batch.expired.contains(&id) {
                return Err(StoreError::Expired(id));
            }
            if !delivery.acked && !batch.acked.contains(&id) {
                targets.push((id, delivery.clone()));
            }
        }
        let now = now_ms();
        let mut acknowledged = 0;
        for (id, delivery) in targets {
            if !batch.acked.insert(id.clone()) {
                continue; // acknowledged twice within one call
            }
            acknowledged += 1;
            batch.rows.acked.push((id.clone(), now));
            if self.settings.erase_on_ack {
                batch.rows.erased.push(id.clone());
            }
            let mut event = template.clone();
            event.subject = delivery.subject;
            event.counterparty = delivery.sender.parse().ok();
            event.signal_id = Some(delivery.signal_id);
            event.signal_type = Some(delivery.signal_type);
            event.purpose = Some(delivery.purposes);
            event.delivery_id = Some(id);
            self.append_audit(event, now, &mut batch.rows);
        }
        Ok(acknowledged)
    }

    pub(super) fn streamed(
        &mut self,
        deliveries: Vec<PendingDelivery>,
        template: AuditEvent,
        rows: &mut Rows,
    ) {
        let now = now_ms();
        for d in deliveries {
            *rows.streamed.entry(d.id.clone()).or_default() += 1;
            let mut event = template.clone();
            event.subject = d.subject;
            event.counterparty = d.sender.parse().ok();
            event.purpose = Some(d.purposes.join(","));
            event.signal_id = Some(d.signal_id);
            event.signal_type = Some(d.signal_type);
            event.delivery_id = Some(d.id);
            event.detail = serde_json::json!({ "attempt": d.attempts + 1 });
            self.append_audit(event, now, rows);
        }
    }

    /// Expires up to [`EXPIRE_BATCH`] unacknowledged deliveries of signals accepted before
    /// `cutoff`, oldest first, with an audit record each; returns their recipients.
    pub(super) async fn expire(
        &mut self,
        cutoff: i64,
        template: AuditEvent,
        batch: &mut Batch,
    ) -> Result<Vec<Oin>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT d.id, d.recipient_oin, d.signal_id, d.purposes, d.attempts, s.sender_oin,
                    s.signal_type, s.accepted_at, ",
            signal_subject!(),
            " FROM deliveries d JOIN signals s ON s.id = d.signal_id
             WHERE d.acked_at IS NULL AND d.expired_at IS NULL AND s.accepted_at < $1
             ORDER BY d.seq LIMIT $2"
        ))
        .bind(cutoff)
        .bind(EXPIRE_BATCH)
        .fetch_all(&mut self.conn)
        .await?;
        let now = now_ms();
        let mut expired = Vec::with_capacity(rows.len());
        for row in rows {
            let id: String = row.try_get("id")?;
            if batch.acked.contains(&id) || !batch.expired.insert(id.clone()) {
                continue; // acknowledged or expired earlier in this batch
            }
            let recipient: Oin = row
                .try_get::<String, _>("recipient_oin")?
                .parse()
                .map_err(|e: InvalidOin| StoreError::Corrupt(e.to_string()))?;
            batch.rows.expired.push((id.clone(), now));
            let mut event = template.clone();
            event.counterparty = Some(recipient.clone());
            event.purpose = Some(from_json(row.try_get("purposes")?)?.join(","));
            event.signal_id = Some(row.try_get("signal_id")?);
            event.signal_type = Some(row.try_get("signal_type")?);
            event.delivery_id = Some(id);
            event.subject = subject_of(&row)?;
            event.detail = serde_json::json!({
                "sender": row.try_get::<String, _>("sender_oin")?,
                "accepted_at": row.try_get::<i64, _>("accepted_at")?,
                "attempts": row.try_get::<i64, _>("attempts")?,
            });
            self.append_audit(event, now, &mut batch.rows);
            expired.push(recipient);
        }
        Ok(expired)
    }

    /// Saves partner records (registry changes are rare: one statement per row is fine) and
    /// adds the audit records of the change to the batch.
    pub(super) async fn save_records(
        &mut self,
        records: &[PartnerRecord],
        audit: Vec<AuditEvent>,
        rows: &mut Rows,
    ) -> Result<(), StoreError> {
        for record in records {
            crate::store::registry::save_record(&mut self.conn, record).await?;
        }
        let now = now_ms();
        for event in audit {
            self.append_audit(event, now, rows);
        }
        Ok(())
    }

    /// Removes audit records past their retention, at most [`PRUNE_CHUNK`] per job. The first
    /// job (`through` is `None`) finds the last record accepted before `cutoff` and signs a
    /// checkpoint over it, so that the first record kept links to a signed anchor; later jobs
    /// remove further records up to that same cut. `None` when nothing is old enough.
    pub(super) async fn prune(
        &mut self,
        cutoff: i64,
        through: Option<i64>,
    ) -> Result<Option<Pruned>, StoreError> {
        let through_seq = match through {
            Some(seq) => seq,
            None => {
                let cut: Option<(i64, String)> = sqlx::query_as(
                    "SELECT seq, hash FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log WHERE at < $1)",
                )
                .bind(cutoff)
                .fetch_optional(&mut self.conn)
                .await?;
                let Some((seq, hash)) = cut else {
                    return Ok(None);
                };
                self.sign_checkpoint(seq, &hash).await?;
                seq
            }
        };
        let done = sqlx::query(
            "DELETE FROM audit_log WHERE seq IN (SELECT seq FROM audit_log WHERE seq <= $1 ORDER BY seq LIMIT $2)",
        )
        .bind(through_seq)
        .bind(PRUNE_CHUNK)
        .execute(&mut self.conn)
        .await?;
        Ok(Some(Pruned {
            through_seq,
            records: done.rows_affected(),
        }))
    }

    /// Forgets what the gateway no longer needs, at most [`FORGET_BATCH`] of each per job:
    /// erases the copies acknowledged before `erase_acked_before` (when a grace period is set),
    /// and removes the signals accepted before `settled_before` none of whose deliveries is
    /// still pending, with their deliveries (and so their clear case reference).
    pub(super) async fn forget(
        &mut self,
        erase_acked_before: Option<i64>,
        settled_before: i64,
    ) -> Result<Forgotten, StoreError> {
        let mut forgotten = Forgotten::default();
        if let Some(cutoff) = erase_acked_before {
            let erased = sqlx::query(
                "UPDATE deliveries SET payload = substr(payload, 1, 0) WHERE id IN (
                     SELECT id FROM deliveries
                     WHERE acked_at IS NOT NULL AND acked_at < $1 AND length(payload) > 0
                     LIMIT $2)",
            )
            .bind(cutoff)
            .bind(FORGET_BATCH)
            .execute(&mut self.conn)
            .await?;
            forgotten.erased = erased.rows_affected();
        }
        let settled: Vec<String> = sqlx::query_scalar(
            "SELECT s.id FROM signals s WHERE s.accepted_at < $1 AND NOT EXISTS (
                 SELECT 1 FROM deliveries d
                 WHERE d.signal_id = s.id AND d.acked_at IS NULL AND d.expired_at IS NULL)
             ORDER BY s.accepted_at LIMIT $2",
        )
        .bind(settled_before)
        .bind(FORGET_BATCH)
        .fetch_all(&mut self.conn)
        .await?;
        if !settled.is_empty() {
            let ids = || settled.iter().map(String::as_str);
            Sql::new(self.backend, "DELETE FROM deliveries WHERE signal_id IN ")
                .bind_list(ids())
                .execute(&mut self.conn)
                .await?;
            Sql::new(self.backend, "DELETE FROM signals WHERE id IN ")
                .bind_list(ids())
                .execute(&mut self.conn)
                .await?;
            forgotten.signals = settled.len() as u64;
        }
        Ok(forgotten)
    }

    /// Writes a signed checkpoint over record `seq` with hash `hash`, unless one is there
    /// already (a pruning and the writer's own rhythm may sign the same record).
    pub(super) async fn sign_checkpoint(&mut self, seq: i64, hash: &str) -> Result<(), StoreError> {
        let now = now_ms();
        let signer = &self.settings.signer;
        let signature = signer.sign(&Checkpoint::message(seq, now, hash));
        sqlx::query(
            "INSERT INTO audit_checkpoints (seq, at, head_hash, key_id, signature) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (seq) DO NOTHING",
        )
        .bind(seq)
        .bind(now)
        .bind(hash)
        .bind(signer.key_id())
        .bind(hex::encode(signature))
        .execute(&mut self.conn)
        .await?;
        Ok(())
    }
}

/// What the jobs of one batch have done so far, for the jobs after them.
#[derive(Default)]
pub(super) struct Batch {
    /// The database before the batch.
    pub(super) known: Known,
    /// Rows to write.
    pub(super) rows: Rows,
    /// Signals accepted earlier in the batch, per sender and idempotency key: content hash and
    /// receipt.
    accepted: HashMap<Oin, HashMap<String, ([u8; 32], ReceiptFacts)>>,
    /// Deliveries acknowledged earlier in the batch.
    acked: HashSet<String>,
    /// Deliveries expired earlier in the batch.
    expired: HashSet<String>,
}

// === impl Batch ===

impl Batch {
    /// A batch over what the database held before it.
    pub(super) fn new(known: Known) -> Self {
        Self {
            known,
            ..Self::default()
        }
    }

    /// A signal already sent with this idempotency key, earlier in the batch (with its receipt)
    /// or before it: its id and content hash.
    pub(super) fn earlier(
        &self,
        sender: &Oin,
        key: &str,
    ) -> Option<(String, Vec<u8>, Option<ReceiptFacts>)> {
        if let Some((hash, receipt)) = self.accepted.get(sender).and_then(|keys| keys.get(key)) {
            return Some((
                receipt.signal_id.clone(),
                hash.to_vec(),
                Some(receipt.clone()),
            ));
        }
        let (id, hash) = self.known.signals.get(sender)?.get(key)?;
        Some((id.clone(), hash.clone(), None))
    }
}
