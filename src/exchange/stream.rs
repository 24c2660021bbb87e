//! A recipient's delivery stream: its unacknowledged backlog, a caught-up marker, then new
//! deliveries as they are committed, each leased to the stream until acknowledged. Having
//! sent everything, a stream parks ([`Parked`]), and new copies for its recipient are leased
//! to it in their `Send`'s own commit and handed over.

use std::{fmt, pin::Pin, sync::Arc, time::Duration};

use tokio::sync::{futures::Notified, mpsc};
use tracing::Instrument as _;

use super::{Exchange, ExchangeError};
use crate::{
    audit::{Actor, AuditEvent, EventKind, Outcome},
    database::Backend,
    ids::Oin,
    registry::Partner,
    store::{
        Lease, PendingDelivery,
        wakeups::{Notifier, Parked},
    },
};

/// How long a subscriber waits before looking in the database without a wake-up. Covers
/// deliveries committed by another gateway replica sharing the database.
const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Most deliveries read from the database, and leased, per round trip of a subscription.
/// Each round waits for a commit of the writer (some 25 ms under load): with 64 a stream
/// took at most about 1,300 copies a second and fell behind a busy chain
/// (BENCHMARKS.md).
const STREAM_BATCH: i64 = 512;
/// A duration as whole milliseconds.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Items a subscription holds for a slow client before it waits.
const STREAM_BUFFER: usize = 16;
/// Copies handed over to a parked stream and not yet sent on; past that many the writer
/// leaves new copies waiting in the database, and wakes the stream.
const HANDOFF_BUFFER: usize = 512;

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
    /// for new ones, until the receiver is dropped or the gateway shuts down. Having sent
    /// everything, the stream parks ([`Parked`]), so that new copies are leased to it in
    /// their `Send`'s own commit and handed over.
    async fn stream_leased(
        &self,
        recipient: &Oin,
        holder: &str,
        streamed: AuditEvent,
        tx: &mpsc::Sender<Result<Streamed, ExchangeError>>,
    ) -> Result<(), ExchangeError> {
        let notify = self.notifier.handle(recipient);
        let (handoff, mut handed) = mpsc::channel(HANDOFF_BUFFER);
        let _unpark = Unpark {
            notifier: &self.notifier,
            recipient,
            holder,
        };
        let mut caught_up = false;
        loop {
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let seen = self.notifier.wakes(recipient);
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
            // Copies handed over were committed before any this read found.
            if !forward_handed(&mut handed, tx).await {
                return Ok(());
            }
            if !batch.is_empty() {
                tracing::debug!(deliveries = batch.len(), "streaming deliveries");
                if !forward(batch, tx).await {
                    return Ok(());
                }
                continue;
            }
            if !caught_up {
                caught_up = true;
                if tx.send(Ok(Streamed::CaughtUp)).await.is_err() {
                    return Ok(());
                }
            }
            let quiet = self.store.quiet_until(recipient, holder, now).await?;
            let parked = quiet.map(|quiet_until| Parked {
                holder: holder.to_string(),
                seen,
                quiet_until,
                lease_ms: millis(self.lease),
                clock: self.clock.clone(),
                audit: streamed.clone(),
                handoff: handoff.clone(),
            });
            if self
                .wait_parked(recipient, parked, &mut handed, notified, tx)
                .await
            {
                return Ok(());
            }
        }
    }

    /// Waits for a wake-up, a poll or the end of the stream; when `parked`, parked, and
    /// sending on the copies handed over meanwhile. Tells whether the stream ends.
    async fn wait_parked(
        &self,
        recipient: &Oin,
        parked: Option<Parked>,
        handed: &mut mpsc::Receiver<PendingDelivery>,
        mut notified: Pin<&mut Notified<'_>>,
        tx: &mpsc::Sender<Result<Streamed, ExchangeError>>,
    ) -> bool {
        let holder = parked.as_ref().map(|p| p.holder.clone());
        let is_parked = parked.is_some_and(|stream| self.notifier.park(recipient, stream));
        let poll = tokio::time::sleep(POLL_INTERVAL);
        tokio::pin!(poll);
        let ends = loop {
            tokio::select! {
                _ = &mut notified => break false,
                copy = handed.recv() => match copy {
                    Some(copy) => {
                        if !forward(vec![copy], tx).await {
                            break true;
                        }
                    }
                    None => break false,
                },
                _ = &mut poll => {
                    if !self.still_quiet(recipient, holder.as_deref().filter(|_| is_parked)) {
                        break false;
                    }
                    poll.as_mut().reset(tokio::time::Instant::now() + POLL_INTERVAL);
                }
                _ = tx.closed() => break true,
                _ = self.shutdown.cancelled() => break true,
            }
        };
        if let Some(holder) = holder.filter(|_| is_parked) {
            self.notifier.unpark(recipient, &holder);
        }
        ends
    }

    /// Whether the stream `holder`, parked for `recipient`, need not look in the database at
    /// its poll: on SQLite, where every copy of the recipient is handed over to it or wakes
    /// it, and none of its leases may have ended yet. With PostgreSQL it looks each time, for
    /// copies of other replicas whose announcement it missed.
    fn still_quiet(&self, recipient: &Oin, holder: Option<&str>) -> bool {
        let Some(holder) = holder else {
            return false;
        };
        self.store.backend() == Backend::Sqlite
            && self
                .notifier
                .quiet_until(recipient, holder)
                .is_some_and(|until| self.clock.now_ms() < until)
    }

    /// Ends every lease this gateway's streams hold, so that other replicas offer those
    /// deliveries at once; for a graceful stop.
    pub async fn release_leases(&self) -> Result<(), ExchangeError> {
        Ok(self.store.release(&format!("{}/", self.instance)).await?)
    }
}

/// Sends `deliveries` down the stream; false when its receiver is gone.
async fn forward(
    deliveries: Vec<PendingDelivery>,
    tx: &mpsc::Sender<Result<Streamed, ExchangeError>>,
) -> bool {
    for delivery in deliveries {
        let sent = tx.send(Ok(Streamed::Delivery(Box::new(delivery))));
        if sent.await.is_err() {
            return false;
        }
    }
    true
}

/// Sends down the stream the copies handed over to it so far; false when its receiver is gone.
async fn forward_handed(
    handed: &mut mpsc::Receiver<PendingDelivery>,
    tx: &mpsc::Sender<Result<Streamed, ExchangeError>>,
) -> bool {
    let mut copies = Vec::new();
    while let Ok(copy) = handed.try_recv() {
        copies.push(copy);
    }
    forward(copies, tx).await
}

/// Takes a stream's parking back when it ends, however it ends.
struct Unpark<'a> {
    notifier: &'a Notifier,
    recipient: &'a Oin,
    holder: &'a str,
}

impl Drop for Unpark<'_> {
    fn drop(&mut self) {
        self.notifier.unpark(self.recipient, self.holder);
    }
}
