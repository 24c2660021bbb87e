//! Deliveries: a recipient's stream (its unacknowledged backlog, a caught-up marker, then new
//! deliveries as they are committed), acknowledgements, and the expiry of deliveries left
//! unacknowledged too long.

use std::{fmt, sync::Arc, time::Duration};

use tokio::sync::mpsc;
use tracing::Instrument as _;

use super::{Exchange, ExchangeError};
use crate::{
    audit::{Actor, AuditEvent, EventKind, Outcome},
    ids::Oin,
    registry::Partner,
    store::{EXPIRE_BATCH, Lease, PendingDelivery},
    telemetry,
};

/// How long a subscriber waits before looking in the database without a wake-up. Covers
/// deliveries committed by another gateway replica sharing the database.
const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Most deliveries read from the database per round trip of a subscription.
const STREAM_BATCH: i64 = 64;
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
    pub fn subscribe(
        self: &Arc<Self>,
        recipient: &Partner,
        actor: &Actor,
    ) -> mpsc::Receiver<Result<Streamed, ExchangeError>> {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let streamed = actor.event(EventKind::DeliveryStreamed, Outcome::Ok);
        let task = self
            .clone()
            .stream_deliveries(recipient.oin.clone(), streamed, tx);
        tokio::spawn(task.instrument(tracing::Span::current()));
        rx
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
            let waiting = self.store.pending(recipient, now, STREAM_BATCH).await?;
            let lease = Lease {
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
        if ids.is_empty() || ids.len() > MAX_ACK_IDS {
            return Err(ExchangeError::Invalid(format!(
                "delivery_ids must hold 1 to {MAX_ACK_IDS} delivery ids"
            )));
        }
        let acked = actor.event(EventKind::DeliveryAcknowledged, Outcome::Ok);
        let acknowledged = self.store.ack(&actor.oin, ids, acked).await?;
        tracing::info!(acknowledged, "deliveries acknowledged");
        Ok(acknowledged)
    }

    /// The receipt of a signal `sender` sent.
    pub async fn receipt(
        &self,
        sender: &Partner,
        signal_id: &str,
    ) -> Result<crate::store::Receipt, ExchangeError> {
        self.store
            .receipt(&sender.oin, signal_id)
            .await?
            .ok_or_else(|| {
                ExchangeError::NotFound(format!(
                    "you sent no signal with id {}",
                    super::send::truncate(signal_id)
                ))
            })
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
}
