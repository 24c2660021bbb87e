//! What each kind of job does inside the writer's transaction: a signal with its deliveries
//! (or the original receipt of a resend), acknowledgements, expiry and registry changes
//! (streamings are in [`super::leases`], removals in [`super::removal`]). Each job reads what
//! it needs from the batch so far, adds its rows to the batch, and is refused before it writes
//! anything.

use std::collections::{HashMap, HashSet};

use tokio::sync::mpsc::OwnedPermit;

use super::{
    ReadyEvent, Sent, Writer,
    known::Known,
    leases::Leases,
    rows::{DeliveryRow, Rows, SignalRow},
};
use crate::{
    audit::{AuditEvent, Outcome},
    clock::now_ms,
    ids::{InvalidOin, Oin},
    registry::PartnerRecord,
    store::{
        DeliveryStatus, EXPIRE_BATCH, NewSignal, PendingDelivery, RecipientReceipt, StoreError,
        columns::{Fields, from_json, signal_subject, subject_of, to_json},
        db::Sql,
        registry,
        signals::ReceiptFacts,
    },
};

// === impl Writer ===

impl Writer {
    pub(super) async fn insert_signal(
        &mut self,
        signal: NewSignal,
        audit: Vec<ReadyEvent>,
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
            return Ok(match receipt {
                Some(receipt) => Sent::Duplicate(ReceiptFacts {
                    duplicate: true,
                    ..receipt
                }),
                None => Sent::Resent(id),
            });
        }
        let mut audit_seq = None;
        for event in audit {
            let seq = self.append_audit(event, now, &mut batch.rows);
            audit_seq.get_or_insert(seq);
        }
        let audit_seq = audit_seq.unwrap_or(self.head.seq);
        let mut recipients = Vec::with_capacity(signal.deliveries.len());
        for (position, d) in signal.deliveries.into_iter().enumerate() {
            recipients.push(RecipientReceipt {
                recipient: d.recipient.to_string(),
                delivery_id: d.id.clone(),
                purposes: d.purposes.clone(),
                withheld: d.withheld.clone(),
                status: DeliveryStatus::default(),
            });
            let handover = self.hand_over(&d.recipient);
            let leased = handover.as_ref().map(|h| (h.holder.clone(), h.until));
            match handover {
                Some(handover) => {
                    let copy = PendingDelivery {
                        seq: 0,
                        id: d.id.clone(),
                        signal_id: signal.id.clone(),
                        sender: signal.sender.to_string(),
                        purpose: signal.purpose.clone(),
                        case_ref: signal.case_ref.clone(),
                        signal_type: signal.signal_type.clone(),
                        accepted_at: signal.accepted_at,
                        purposes: d.purposes.clone(),
                        payload: d.payload.clone(),
                        attempts: 0,
                        subject: signal.subject.clone(),
                    };
                    self.append_streamed(handover.audit.clone(), &copy, now, &mut batch.rows);
                    self.leased.remember(&d.recipient, &copy);
                    batch.handed.push((handover.handoff, copy));
                }
                None => {
                    woken.insert(d.recipient.clone());
                }
            }
            batch.rows.deliveries.push(DeliveryRow {
                id: d.id,
                signal_id: signal.id.clone(),
                position: position as i64,
                recipient: d.recipient,
                purposes: to_json(&d.purposes),
                withheld: to_json(&d.withheld),
                payload: d.payload,
                leased,
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
        batch.rows.counters.add(signal.counters);
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
            let read = known.and_then(|known| known.get(&id));
            let Some(delivery) = read.or_else(|| self.leased.get(recipient, &id)) else {
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
            self.leased.forget(&id);
            let erase = self.settings.erase_on_ack;
            batch.rows.acked.push((id.clone(), now, erase));
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

    /// Expires up to [`EXPIRE_BATCH`] unacknowledged deliveries of signals accepted before
    /// `cutoff`, oldest first, with an audit record each; returns their recipients. Read from
    /// the old signals (`signals_by_accepted`) to their copies: read from the waiting copies,
    /// it went through every one of them, and with a million waiting for a stalled receiver
    /// it held the writer, and every `Send`, for 1–2.5 s each minute (BENCHMARKS.md).
    pub(super) async fn expire(
        &mut self,
        cutoff: i64,
        template: AuditEvent,
        batch: &mut Batch,
    ) -> Result<Vec<Oin>, StoreError> {
        let mut query = Sql::new(
            self.backend,
            concat!(
                "SELECT d.id, d.recipient_oin, d.signal_id, d.purposes, d.attempts, s.sender_oin,
                    s.signal_type, s.accepted_at, ",
                signal_subject!(),
                " FROM signals s CROSS JOIN deliveries d
             WHERE d.signal_id = s.id AND s.accepted_at < $1
               AND d.acked_at IS NULL AND d.expired_at IS NULL
             ORDER BY s.accepted_at, d.seq LIMIT $2"
            ),
        );
        let rows = self
            .link
            .fetch_all(query.arg(cutoff).arg(EXPIRE_BATCH))
            .await?;
        let now = now_ms();
        let mut expired = Vec::with_capacity(rows.len());
        for row in rows {
            let id: String = row.field("id")?;
            if batch.acked.contains(&id) || !batch.expired.insert(id.clone()) {
                continue; // acknowledged or expired earlier in this batch
            }
            let recipient: Oin = row
                .field::<String>("recipient_oin")?
                .parse()
                .map_err(|e: InvalidOin| StoreError::Corrupt(e.to_string()))?;
            self.leased.forget(&id);
            batch.rows.expired.push((id.clone(), now));
            let mut event = template.clone();
            event.counterparty = Some(recipient.clone());
            event.purpose = Some(from_json(row.field("purposes")?)?.join(","));
            event.signal_id = Some(row.field("signal_id")?);
            event.signal_type = Some(row.field("signal_type")?);
            event.delivery_id = Some(id);
            event.subject = subject_of(&row)?;
            event.detail = serde_json::json!({
                "sender": row.field::<String>("sender_oin")?,
                "accepted_at": row.field::<i64>("accepted_at")?,
                "attempts": row.field::<i64>("attempts")?,
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
    ) -> Result<Result<(), StoreError>, StoreError> {
        for record in records {
            if let Err(stale) = registry::check_version(&mut self.link, record).await? {
                return Ok(Err(stale));
            }
        }
        for record in records {
            registry::save_record(&mut self.link, record).await?;
        }
        let now = now_ms();
        for event in audit {
            self.append_audit(event, now, rows);
        }
        Ok(Ok(()))
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
    /// Leases taken and ended earlier in the batch.
    pub(super) leases: Leases,
    /// New copies leased to parked streams, handed over once the batch is committed.
    pub(super) handed: Vec<(OwnedPermit<PendingDelivery>, PendingDelivery)>,
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

    /// Whether the delivery `id` was acknowledged or expired earlier in the batch.
    pub(super) fn is_settled(&self, id: &str) -> bool {
        self.acked.contains(id) || self.expired.contains(id)
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
