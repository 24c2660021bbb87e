//! Deliveries: a recipient's stream (its unacknowledged backlog, a caught-up marker, then new
//! deliveries as they are committed), acknowledgements, and the expiry of deliveries left
//! unacknowledged too long.

use std::{fmt, sync::Arc, time::Duration};

use tokio::sync::mpsc;
use tracing::Instrument as _;

use serde_json::json;

use super::{Exchange, ExchangeError, lifecycle::Refusal, registry_changes::Operator};
use crate::{
    audit::{Actor, AuditEvent, EventKind, Outcome, StoredRecord, Subject},
    ids::Oin,
    registry::{Partner, Registry},
    store::{AuditFilter, EXPIRE_BATCH, Lease, PendingDelivery, StoreError},
    telemetry,
};

/// How long a subscriber waits before looking in the database without a wake-up. Covers
/// deliveries committed by another gateway replica sharing the database.
const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Most deliveries read from the database, and leased, per round trip of a subscription.
/// Each round waits for a commit of the writer (some 25 ms under load): with 64 a stream
/// took at most about 1,300 copies a second and fell behind a busy chain (README,
/// "Benchmarks").
const STREAM_BATCH: i64 = 512;
/// Most delivery ids in one `Ack`.
const MAX_ACK_IDS: usize = 1000;
/// A duration as whole milliseconds.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Items a subscription holds for a slow client before it waits.
const STREAM_BUFFER: usize = 16;

/// What a subscription yields.
pub enum Streamed {
    /// A delivery, counted and audited as streamed.
    Delivery(Box<PendingDelivery>),
    /// Everything pending at the start was sent; what follows is new.
    CaughtUp,
}

impl fmt::Debug for Streamed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Streamed::Delivery(d) => f.debug_tuple("Delivery").field(d).finish(),
            Streamed::CaughtUp => f.write_str("CaughtUp"),
        }
    }
}

// === impl Exchange ===

impl Exchange {
    /// Opens the delivery stream of `recipient`: its unacknowledged deliveries, then new ones
    /// as they are committed, until the receiver is dropped or the gateway shuts down. The
    /// stream runs in its own task, in the current span.
    /// Refused with `Exhausted` when the endpoint holds the most streams it may already.
    pub fn subscribe(
        self: &Arc<Self>,
        recipient: &Partner,
        actor: &Actor,
    ) -> Result<mpsc::Receiver<Result<Streamed, ExchangeError>>, ExchangeError> {
        let slot = self.streams.take(&recipient.oin).ok_or_else(|| {
            ExchangeError::Exhausted(format!(
                "partner {} holds {} open Subscribe streams, the most one endpoint may: close one first",
                recipient.id,
                self.streams.max()
            ))
        })?;
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let streamed = actor.event(EventKind::DeliveryStreamed, Outcome::Ok);
        let task = self
            .clone()
            .stream_deliveries(recipient.oin.clone(), streamed, tx);
        tokio::spawn(
            async move {
                task.await;
                drop(slot);
            }
            .instrument(tracing::Span::current()),
        );
        Ok(rx)
    }

    async fn stream_deliveries(
        self: Arc<Self>,
        recipient: Oin,
        streamed: AuditEvent,
        tx: mpsc::Sender<Result<Streamed, ExchangeError>>,
    ) {
        tracing::info!("subscription opened");
        let holder = format!("{}/{}", self.instance, uuid::Uuid::new_v4().simple());
        if let Err(e) = self.stream_leased(&recipient, &holder, streamed, &tx).await {
            let _ = tx.send(Err(e)).await;
        }
        // Whatever this stream leased and was not acknowledged is offered again at once.
        if let Err(e) = self.store.release(&holder).await {
            tracing::warn!(error = %e, "stream leases not released; they end by themselves");
        }
    }

    /// Leases the recipient's waiting deliveries to this stream and sends them, then waits
    /// for new ones, until the receiver is dropped or the gateway shuts down.
    async fn stream_leased(
        &self,
        recipient: &Oin,
        holder: &str,
        streamed: AuditEvent,
        tx: &mpsc::Sender<Result<Streamed, ExchangeError>>,
    ) -> Result<(), ExchangeError> {
        let notify = self.notifier.handle(recipient);
        let mut caught_up = false;
        loop {
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = self.clock.now_ms();
            let waiting = self
                .store
                .pending(recipient, holder, now, STREAM_BATCH)
                .await?;
            let lease = Lease {
                recipient: recipient.clone(),
                holder: holder.to_string(),
                now,
                until: now.saturating_add(millis(self.lease)),
            };
            let batch = match waiting.is_empty() {
                true => waiting,
                false => self.store.lease(waiting, lease, streamed.clone()).await?,
            };
            if batch.is_empty() {
                if !caught_up {
                    caught_up = true;
                    if tx.send(Ok(Streamed::CaughtUp)).await.is_err() {
                        return Ok(());
                    }
                }
                tokio::select! {
                    _ = &mut notified => {}
                    _ = tokio::time::sleep(POLL_INTERVAL) => {}
                    _ = tx.closed() => return Ok(()),
                    _ = self.shutdown.cancelled() => return Ok(()),
                }
                continue;
            }
            tracing::debug!(deliveries = batch.len(), "streaming deliveries");
            for delivery in batch {
                let sent = tx.send(Ok(Streamed::Delivery(Box::new(delivery))));
                if sent.await.is_err() {
                    return Ok(());
                }
            }
        }
    }

    /// Ends every lease this gateway's streams hold, so that other replicas offer those
    /// deliveries at once; for a graceful stop.
    pub async fn release_leases(&self) -> Result<(), ExchangeError> {
        Ok(self.store.release(&format!("{}/", self.instance)).await?)
    }

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
