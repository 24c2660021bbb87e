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
    store::{EXPIRE_BATCH, PendingDelivery},
    telemetry,
};

/// How long a subscriber waits before looking in the database without a wake-up. Covers
/// deliveries committed by another gateway replica sharing the database.
const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Most deliveries read from the database per round trip of a subscription.
const STREAM_BATCH: i64 = 64;
/// Most delivery ids in one `Ack`.
const MAX_ACK_IDS: usize = 1000;
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
        let notify = self.notifier.handle(&recipient);
        let mut after = 0;
        let mut caught_up = false;
        loop {
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let batch = match self.store.pending(&recipient, after, STREAM_BATCH).await {
                Ok(batch) => batch,
                Err(e) => {
                    let _ = tx.send(Err(e.into())).await;
                    return;
                }
            };
            if batch.is_empty() {
                if !caught_up {
                    caught_up = true;
                    if tx.send(Ok(Streamed::CaughtUp)).await.is_err() {
                        return;
                    }
                }
                tokio::select! {
                    _ = &mut notified => {}
                    _ = tokio::time::sleep(POLL_INTERVAL) => {}
                    _ = tx.closed() => return,
                    _ = self.shutdown.cancelled() => return,
                }
                continue;
            }
            if let Err(e) = self.store.mark_streamed(&batch, streamed.clone()).await {
                let _ = tx.send(Err(e.into())).await;
                return;
            }
            tracing::debug!(deliveries = batch.len(), "streaming deliveries");
            for delivery in batch {
                after = delivery.seq;
                if tx
                    .send(Ok(Streamed::Delivery(Box::new(delivery))))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
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
