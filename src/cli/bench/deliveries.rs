//! Matches each accepted copy to its arrival at the recipient's subscriber, by delivery id,
//! whichever comes first: the receipt (the `Send`'s answer) or the delivery (the gateway may
//! stream a copy before the sender has read its receipt). The send → delivered latency runs
//! from the start of the `Send` to the arrival. Also counts the copies accepted, delivered
//! and acknowledged, and those left pending for a stalled receiver (never held in memory).

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::Instant,
};

use ketenpoort::api::proto::SendReceipt;
use parking_lot::Mutex;
use serde::Serialize;

use super::figures::Figures;

/// The copies of the run and what became of them.
pub struct Deliveries {
    /// Per delivery id, the half of the match seen first.
    marks: Mutex<HashMap<String, Mark>>,
    figures: Arc<Figures>,
    /// OINs of the receivers left without a subscriber.
    stalled: HashSet<String>,
    accepted: AtomicU64,
    stalled_pending: AtomicU64,
    delivered: AtomicU64,
    arrived: AtomicU64,
    ack_answered: AtomicU64,
    acked: AtomicU64,
}

/// The half of a match seen first.
enum Mark {
    /// The receipt named the copy; its `Send` started then.
    Sent(Instant),
    /// The copy arrived then, before its receipt.
    Arrived(Instant),
}

/// What became of the run's copies.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Counts {
    /// Copies accepted for receivers with a subscriber.
    pub accepted: u64,
    /// Of those, arrived at their subscriber.
    pub delivered: u64,
    /// Acknowledged (the gateway's count of copies the acks settled).
    pub acknowledged: u64,
    /// Accepted for a subscribed receiver but not arrived when the run ended.
    pub pending: u64,
    /// Accepted for a stalled receiver: left pending at the gateway by design.
    pub stalled_pending: u64,
    /// Copies that arrived without a receipt of this run (left by an earlier run, or offered
    /// again after a lease ended); acknowledged, not counted as delivered.
    pub other_arrivals: u64,
}

// === impl Deliveries ===

impl Deliveries {
    /// Nothing sent yet; copies for the `stalled` OINs are only counted.
    pub fn new(figures: Arc<Figures>, stalled: HashSet<String>) -> Self {
        Self {
            marks: Mutex::new(HashMap::new()),
            figures,
            stalled,
            accepted: AtomicU64::new(0),
            stalled_pending: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            arrived: AtomicU64::new(0),
            ack_answered: AtomicU64::new(0),
            acked: AtomicU64::new(0),
        }
    }

    /// A `Send` started at `started` was answered with `receipt`.
    pub fn accepted(&self, receipt: &SendReceipt, started: Instant) {
        for copy in &receipt.recipients {
            if self.stalled.contains(&copy.recipient) {
                self.stalled_pending.fetch_add(1, Relaxed);
                continue;
            }
            self.accepted.fetch_add(1, Relaxed);
            let mut marks = self.marks.lock();
            match marks.remove(&copy.delivery_id) {
                Some(Mark::Arrived(at)) => {
                    drop(marks);
                    self.matched(at.saturating_duration_since(started));
                }
                _ => {
                    marks.insert(copy.delivery_id.clone(), Mark::Sent(started));
                }
            }
        }
    }

    /// Copy `delivery_id` arrived at its subscriber now.
    pub fn arrived(&self, delivery_id: &str) {
        let now = Instant::now();
        self.arrived.fetch_add(1, Relaxed);
        let mut marks = self.marks.lock();
        match marks.remove(delivery_id) {
            Some(Mark::Sent(started)) => {
                drop(marks);
                self.matched(now.saturating_duration_since(started));
            }
            _ => {
                marks.insert(delivery_id.to_string(), Mark::Arrived(now));
            }
        }
    }

    /// An `Ack` of `ids` copies was answered, settling `acknowledged` of them (0 when it
    /// failed).
    pub fn acked(&self, ids: u64, acknowledged: u64) {
        self.ack_answered.fetch_add(ids, Relaxed);
        self.acked.fetch_add(acknowledged, Relaxed);
    }

    /// Whether every accepted copy arrived and every arrival's ack was answered.
    pub fn settled(&self) -> bool {
        self.delivered.load(Relaxed) >= self.accepted.load(Relaxed)
            && self.ack_answered.load(Relaxed) >= self.arrived.load(Relaxed)
    }

    /// What became of the copies so far.
    pub fn counts(&self) -> Counts {
        let other_arrivals = self
            .marks
            .lock()
            .values()
            .filter(|m| matches!(m, Mark::Arrived(_)))
            .count() as u64;
        let accepted = self.accepted.load(Relaxed);
        let delivered = self.delivered.load(Relaxed);
        Counts {
            accepted,
            delivered,
            acknowledged: self.acked.load(Relaxed),
            pending: accepted.saturating_sub(delivered),
            stalled_pending: self.stalled_pending.load(Relaxed),
            other_arrivals,
        }
    }

    fn matched(&self, latency: std::time::Duration) {
        self.delivered.fetch_add(1, Relaxed);
        self.figures.delivered(latency);
    }
}
