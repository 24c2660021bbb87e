//! What one partner may hold open or ask for at a time, so that a flooding or careless
//! partner costs bounded memory and leaves the others alone: open `Subscribe` streams and
//! `Send` calls in progress ([`PartnerSlots`]), the `Send` rate ([`SendLimits`]), and the
//! deliveries waiting for one receiver ([`Backlog`]). Counted per gateway replica.

use std::{collections::HashMap, num::NonZeroU32, sync::Arc, time::Duration};

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use parking_lot::Mutex;

use crate::ids::Oin;

/// How soon a partner refused for having too many calls in progress may try again.
const IN_FLIGHT_RETRY: Duration = Duration::from_millis(100);

/// Places per partner endpoint, at most `max` each: open streams, or calls in progress.
#[derive(Debug)]
pub struct PartnerSlots {
    open: Mutex<HashMap<Oin, usize>>,
    max: usize,
}

/// One place taken; given back when dropped (the stream or call ended).
#[derive(Debug)]
pub struct Slot {
    slots: Arc<PartnerSlots>,
    oin: Oin,
}

/// The limits on one partner's `Send` calls: a sustained rate with a burst above it, and how
/// many may be in progress at once.
#[derive(Debug)]
pub struct SendLimits {
    rate: DefaultKeyedRateLimiter<Oin>,
    clock: DefaultClock,
    in_flight: Arc<PartnerSlots>,
}

/// Deliveries waiting per receiver: as last counted in the store, plus those accepted on this
/// gateway since. A receiver at `max` gets no more until it catches up.
#[derive(Debug)]
pub struct Backlog {
    waiting: Mutex<HashMap<Oin, u64>>,
    max: u64,
}

/// A `Send` refused by [`SendLimits`]: why, and when the partner may try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttled {
    /// What the partner exceeded, for the refusal's message.
    pub reason: String,
    /// When to try again.
    pub retry_after: Duration,
}

// === impl PartnerSlots ===

impl PartnerSlots {
    /// At most `max` places per endpoint.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            open: Mutex::default(),
            max,
        })
    }

    /// The most places an endpoint may hold.
    pub fn max(&self) -> usize {
        self.max
    }

    /// A place for one more of `oin`'s, or `None` when it holds the most already.
    pub fn take(self: &Arc<Self>, oin: &Oin) -> Option<Slot> {
        let mut open = self.open.lock();
        let count = open.entry(oin.clone()).or_default();
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Slot {
            slots: self.clone(),
            oin: oin.clone(),
        })
    }
}

// === impl Slot ===

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock();
        if let Some(count) = open.get_mut(&self.oin) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.oin);
            }
        }
    }
}

// === impl SendLimits ===

impl SendLimits {
    /// `per_second` calls sustained with `burst` above it, and `in_flight` at once, per
    /// endpoint (each at least 1; 0 is taken as 1).
    pub fn new(per_second: u32, burst: u32, in_flight: usize) -> Self {
        let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Self {
            rate: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            clock: DefaultClock::default(),
            in_flight: PartnerSlots::new(in_flight.max(1)),
        }
    }

    /// Admits one more `Send` of `oin`: its place among the calls in progress, held until the
    /// call ends; or why not and when to try again.
    pub fn admit(&self, oin: &Oin) -> Result<Slot, Throttled> {
        let slot = self.in_flight.take(oin).ok_or_else(|| Throttled {
            reason: format!(
                "{} Send calls of this endpoint are in progress, the most it may have: \
                 wait for their answers",
                self.in_flight.max()
            ),
            retry_after: IN_FLIGHT_RETRY,
        })?;
        self.rate.check_key(oin).map_err(|not_until| Throttled {
            reason: "this endpoint sends faster than its limit ([limits] send_per_second): \
                     slow down"
                .to_string(),
            retry_after: not_until.wait_time_from(self.clock.now()),
        })?;
        Ok(slot)
    }
}

// === impl Backlog ===

impl Backlog {
    /// At most `max` deliveries waiting per receiver.
    pub fn new(max: u64) -> Self {
        Self {
            waiting: Mutex::default(),
            max,
        }
    }

    /// Puts the store's count in force.
    pub fn recount(&self, waiting: HashMap<Oin, u64>) {
        *self.waiting.lock() = waiting;
    }

    /// Counts one more delivery waiting for `receiver`.
    pub fn add(&self, receiver: &Oin) {
        *self.waiting.lock().entry(receiver.clone()).or_default() += 1;
    }

    /// How many wait for `receiver` when that is the most it may have, else `None`.
    pub fn full(&self, receiver: &Oin) -> Option<u64> {
        let waiting = self.waiting.lock().get(receiver).copied().unwrap_or(0);
        (waiting >= self.max).then_some(waiting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oin() -> Oin {
        "00000099100000010000".parse().unwrap()
    }

    #[test]
    fn a_slot_is_given_back_when_its_stream_ends() {
        let slots = PartnerSlots::new(2);
        let first = slots.take(&oin()).unwrap();
        let _second = slots.take(&oin()).unwrap();
        assert!(slots.take(&oin()).is_none());
        drop(first);
        assert!(slots.take(&oin()).is_some());
    }

    #[test]
    fn sends_beyond_the_burst_or_in_flight_are_refused_with_a_retry_hint() {
        let limits = SendLimits::new(1, 3, 2);
        let first = limits.admit(&oin()).unwrap();
        let second = limits.admit(&oin()).unwrap();
        let busy = limits.admit(&oin()).unwrap_err();
        assert_eq!(busy.retry_after, IN_FLIGHT_RETRY);
        drop((first, second));
        let _third = limits.admit(&oin()).unwrap();
        let fast = limits.admit(&oin()).unwrap_err();
        assert!(fast.reason.contains("faster"), "{}", fast.reason);
        assert!(fast.retry_after > Duration::ZERO && fast.retry_after <= Duration::from_secs(1));
        let other: Oin = "00000099200000010000".parse().unwrap();
        assert!(limits.admit(&other).is_ok(), "limits are per endpoint");
    }
}
