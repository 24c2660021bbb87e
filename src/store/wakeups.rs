//! Delivery wake-ups: subscribers wait on their own [`Notify`], and the store's writer (or,
//! with PostgreSQL, another replica's writer through [`super::listen`]) wakes the recipients
//! of every committed batch. The database stays the source of truth; a wake-up only says
//! "look again", so a missed one costs at most one poll of the subscriber.
//!
//! A stream that has sent everything its recipient had may also park here ([`Parked`]):
//! then the SQLite writer leases a new copy for that recipient to it in the `Send`'s own
//! commit and hands it over after the commit, instead of waking the stream to read the copy
//! back and lease it in a commit of its own (BENCHMARKS.md). A parked stream is used
//! only while nothing happened to its recipient since it last looked: every wake-up counts,
//! and a stream parks with the count it saw before it looked.

use std::{collections::HashMap, sync::Arc};

use parking_lot::Mutex;
use tokio::sync::{Notify, mpsc};

use super::PendingDelivery;
use crate::{audit::AuditEvent, clock::Clock, ids::Oin};

/// Wake-ups per recipient, and the stream parked for each.
#[derive(Debug, Default)]
pub struct Notifier {
    waiters: Mutex<HashMap<Oin, Waiter>>,
}

#[derive(Debug, Default)]
struct Waiter {
    notify: Arc<Notify>,
    /// Wake-ups so far.
    wakes: u64,
    parked: Option<Parked>,
}

/// A stream that has sent everything its recipient had, waiting for new copies.
#[derive(Debug)]
pub struct Parked {
    /// The stream's lease holder id.
    pub holder: String,
    /// The recipient's wake-ups ([`Notifier::wakes`]) before the stream last looked in the
    /// database and found nothing to send.
    pub seen: u64,
    /// Until when (Unix ms) every unsettled copy of the recipient is one the stream holds
    /// leased: the earliest end of those leases, lowered by every copy handed over.
    pub quiet_until: i64,
    /// The length of a lease (ms).
    pub lease_ms: i64,
    /// The stream's clock, which its leases are taken by.
    pub clock: Clock,
    /// The audit record written per copy streamed, completed per copy.
    pub audit: AuditEvent,
    /// Where handed-over copies go: bounded, so that a stream whose client is slow is handed
    /// at most that many before its copies wait in the database again.
    pub handoff: mpsc::Sender<PendingDelivery>,
}

/// A new copy's lease to a parked stream, as the writer takes it.
pub(super) struct Handover {
    pub holder: String,
    /// The end of the lease (Unix ms).
    pub until: i64,
    pub audit: AuditEvent,
    /// A place in the stream's channel, taken before the commit.
    pub handoff: mpsc::OwnedPermit<PendingDelivery>,
}

// === impl Notifier ===

impl Notifier {
    /// The wake-up handle of a recipient.
    pub fn handle(&self, recipient: &Oin) -> Arc<Notify> {
        self.waiters
            .lock()
            .entry(recipient.clone())
            .or_default()
            .notify
            .clone()
    }

    /// Wakes every subscriber of `recipient`, which also ends its parked stream's turn.
    pub fn wake(&self, recipient: &Oin) {
        if let Some(waiter) = self.waiters.lock().get_mut(recipient) {
            waiter.wakes += 1;
            waiter.notify.notify_waiters();
        }
    }

    /// How often `recipient` was woken so far.
    pub fn wakes(&self, recipient: &Oin) -> u64 {
        self.waiters.lock().get(recipient).map_or(0, |w| w.wakes)
    }

    /// Parks a stream of `recipient`, unless it was woken since `stream.seen` or another
    /// stream of it is parked; tells whether it did.
    pub fn park(&self, recipient: &Oin, stream: Parked) -> bool {
        let mut waiters = self.waiters.lock();
        let waiter = waiters.entry(recipient.clone()).or_default();
        if waiter.wakes != stream.seen || waiter.parked.is_some() {
            return false;
        }
        waiter.parked = Some(stream);
        true
    }

    /// Ends the parking of the stream `holder` for `recipient`, if it is parked.
    pub fn unpark(&self, recipient: &Oin, holder: &str) {
        let mut waiters = self.waiters.lock();
        if let Some(waiter) = waiters.get_mut(recipient)
            && waiter.parked.as_ref().is_some_and(|p| p.holder == holder)
        {
            waiter.parked = None;
        }
    }

    /// Until when the stream `holder` parked for `recipient` holds every unsettled copy of
    /// it ([`Parked::quiet_until`]), if it is still parked and was not woken since.
    pub fn quiet_until(&self, recipient: &Oin, holder: &str) -> Option<i64> {
        let waiters = self.waiters.lock();
        let waiter = waiters.get(recipient)?;
        let parked = waiter.parked.as_ref()?;
        (parked.holder == holder && parked.seen == waiter.wakes).then_some(parked.quiet_until)
    }

    /// A lease from now of a new copy for `recipient` to its parked stream, if one is parked,
    /// nothing happened to the recipient since it looked, and its channel has room; lowers
    /// the stream's [`Parked::quiet_until`] to the new lease's end.
    pub(super) fn hand_over(&self, recipient: &Oin) -> Option<Handover> {
        let mut waiters = self.waiters.lock();
        let waiter = waiters.get_mut(recipient)?;
        let wakes = waiter.wakes;
        let parked = waiter.parked.as_mut()?;
        let now = parked.clock.now_ms();
        if parked.seen != wakes || now >= parked.quiet_until {
            return None;
        }
        let handoff = parked.handoff.clone().try_reserve_owned().ok()?;
        let until = now.saturating_add(parked.lease_ms);
        parked.quiet_until = parked.quiet_until.min(until);
        Some(Handover {
            holder: parked.holder.clone(),
            until,
            audit: parked.audit.clone(),
            handoff,
        })
    }
}
