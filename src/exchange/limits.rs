//! What one partner may hold open at a time, so that a flooding or careless partner costs
//! bounded memory and leaves the others alone. Counted per gateway replica.

use std::{collections::HashMap, sync::Arc};

use parking_lot::Mutex;

use crate::ids::Oin;

/// The open `Subscribe` streams per partner endpoint, at most `max` each.
#[derive(Debug)]
pub struct StreamSlots {
    open: Mutex<HashMap<Oin, usize>>,
    max: usize,
}

/// One open stream's place; given back when dropped (the stream ended).
#[derive(Debug)]
pub struct Slot {
    slots: Arc<StreamSlots>,
    oin: Oin,
}

// === impl StreamSlots ===

impl StreamSlots {
    /// At most `max` open streams per endpoint.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            open: Mutex::default(),
            max,
        })
    }

    /// The most streams an endpoint may hold open.
    pub fn max(&self) -> usize {
        self.max
    }

    /// A place for one more stream of `oin`, or `None` when it holds the most already.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_given_back_when_its_stream_ends() {
        let slots = StreamSlots::new(2);
        let oin: Oin = "00000099100000010000".parse().unwrap();
        let first = slots.take(&oin).unwrap();
        let _second = slots.take(&oin).unwrap();
        assert!(slots.take(&oin).is_none());
        drop(first);
        assert!(slots.take(&oin).is_some());
    }
}
