//! Deliveries after they are streamed ([`super::stream`]): acknowledgements, receipts, and
//! the expiry of deliveries left unacknowledged too long, as dead letters.

use std::time::Duration;

use serde_json::json;

use super::{Exchange, ExchangeError, lifecycle::Refusal, registry_changes::Operator};
use crate::{
    audit::{Actor, AuditEvent, EventKind, Outcome, StoredRecord, Subject},
    ids::Oin,
    registry::Registry,
    store::{AuditFilter, EXPIRE_BATCH, StoreError},
    telemetry,
};

/// Most delivery ids in one `Ack`.
const MAX_ACK_IDS: usize = 1000;

// === impl Exchange ===

impl Exchange {
    /// Acknowledges deliveries addressed to the actor's partner; returns how many were newly
    /// acknowledged. Refuses the whole call if one is not addressed to it or has expired.
    pub async fn ack(&self, actor: &Actor, ids: Vec<String>) -> Result<u32, ExchangeError> {
        let acked = if ids.is_empty() || ids.len() > MAX_ACK_IDS {
            Err(ExchangeError::Invalid(format!(
                "delivery_ids must hold 1 to {MAX_ACK_IDS} delivery ids"
            )))
        } else {
            let acked = actor.event(EventKind::DeliveryAcknowledged, Outcome::Ok);
            self.store
                .ack(&actor.oin, ids, acked)
                .await
                .map_err(ExchangeError::from)
        };
        match acked {
            Ok(acknowledged) => {
                tracing::info!(acknowledged, "deliveries acknowledged");
                Ok(acknowledged)
            }
            Err(e) => {
                self.audit_refused_request(actor, "Ack", &e).await?;
                Err(e)
            }
        }
    }

    /// Records a partner's request refused after its certificate was accepted.
    pub(super) async fn audit_refused_request(
        &self,
        actor: &Actor,
        method: &str,
        error: &ExchangeError,
    ) -> Result<(), ExchangeError> {
        if matches!(error, ExchangeError::Store(StoreError::Closed)) {
            return Ok(()); // nothing can be recorded while the store stops
        }
        let mut event = actor.event(EventKind::RequestRefused, Outcome::Refused);
        event.detail = json!({ "method": method, "reason": error.to_string() });
        self.store.audit(vec![event]).await?;
        Ok(())
    }

    /// The receipt of a signal the actor's partner sent; a refusal is audited.
    pub async fn receipt(
        &self,
        actor: &Actor,
        signal_id: &str,
    ) -> Result<crate::store::Receipt, ExchangeError> {
        let found = self.store.receipt(&actor.oin, signal_id).await?;
        match found {
            Some(receipt) => Ok(receipt),
            None => {
                let e = ExchangeError::NotFound(format!(
                    "you sent no signal with id {} (or it was forgotten after its idempotency window)",
                    super::send::truncate(signal_id)
                ));
                self.audit_refused_request(actor, "GetReceipt", &e).await?;
                Err(e)
            }
        }
    }

    /// Expires every unacknowledged delivery of a signal accepted more than `max_age` ago, in
    /// batches; counts them per receiver. Returns how many expired.
    pub async fn expire_deliveries(&self, max_age: Duration) -> Result<u64, ExchangeError> {
        let cutoff = self.clock.before(max_age);
        let mut total = 0;
        loop {
            let event = AuditEvent::new(EventKind::DeliveryExpired, Outcome::Ok);
            let expired = self.store.expire(cutoff, event).await?;
            let registry = self.registry.load();
            for oin in &expired {
                let receiver = registry
                    .by_oin(oin)
                    .map_or_else(|| oin.to_string(), |p| p.id.clone());
                telemetry::delivery_expired(receiver);
            }
            total += expired.len() as u64;
            if expired.len() < EXPIRE_BATCH as usize {
                break;
            }
        }
        if total > 0 {
            tracing::warn!(
                deliveries = total,
                max_age_days = max_age.as_secs() / 86_400,
                "unacknowledged deliveries expired; their copies are erased"
            );
        }
        Ok(total)
    }

    /// Dead letters: deliveries that expired unacknowledged, newest first, at most `limit`,
    /// of one receiver or all; read from the audit log, so they outlive the forgotten signal.
    /// The read is recorded as the operator's.
    pub async fn dead_letters(
        &self,
        operator: &Operator,
        receiver_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, ExchangeError> {
        let registry = self.registry.load();
        let receiver = match receiver_id {
            Some(id) => Some(
                registry
                    .by_id(id)
                    .map(|p| p.oin.clone())
                    .ok_or_else(|| ExchangeError::Refused(Refusal::UnknownPartner(id.into())))?,
            ),
            None => None,
        };
        let filter = AuditFilter {
            event: Some("delivery_expired".into()),
            partner: receiver,
            ..AuditFilter::default()
        };
        let records = self.walk(filter).await?;
        let letters: Vec<DeadLetter> = records
            .iter()
            .rev()
            .take(limit)
            .map(|stored| DeadLetter::of(stored, &registry))
            .collect();
        let detail = json!({ "dead_letters": letters.len() });
        self.audit_read(
            &operator.actor,
            "ListDeadLetters",
            Subject::default(),
            detail,
        )
        .await?;
        Ok(letters)
    }
}

/// A delivery that expired before its recipient acknowledged it, as the audit log recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The delivery.
    pub delivery_id: String,
    /// The signal.
    pub signal_id: String,
    /// The signal type.
    pub signal_type: String,
    /// The receiver's OIN.
    pub receiver_oin: String,
    /// The receiver's partner id, when registered.
    pub receiver_id: String,
    /// The sender's OIN.
    pub sender_oin: String,
    /// When the signal was accepted (Unix ms).
    pub accepted_at: i64,
    /// When the delivery expired (Unix ms).
    pub expired_at: i64,
    /// Times it had been streamed.
    pub attempts: i64,
}

// === impl DeadLetter ===

impl DeadLetter {
    fn of(stored: &StoredRecord, registry: &Registry) -> Self {
        let e = &stored.record.event;
        let detail = |key: &str| e.detail.get(key);
        let receiver = e.counterparty.as_ref();
        DeadLetter {
            delivery_id: e.delivery_id.clone().unwrap_or_default(),
            signal_id: e.signal_id.clone().unwrap_or_default(),
            signal_type: e.signal_type.clone().unwrap_or_default(),
            receiver_oin: receiver.map(Oin::to_string).unwrap_or_default(),
            receiver_id: receiver
                .and_then(|oin| registry.by_oin(oin))
                .map_or_else(String::new, |p| p.id.clone()),
            sender_oin: detail("sender")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            accepted_at: detail("accepted_at").and_then(|v| v.as_i64()).unwrap_or(0),
            expired_at: stored.record.at,
            attempts: detail("attempts").and_then(|v| v.as_i64()).unwrap_or(0),
        }
    }
}
