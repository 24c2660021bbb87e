//! Delivery wake-ups: subscribers wait on their own [`Notify`], and the store's writer wakes
//! the recipients of every committed batch. The database stays the source of truth; a
//! wake-up only says "look again", so a missed one costs at most one poll interval.

use std::{collections::HashMap, sync::Arc, time::Duration};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::identity::Oin;

/// How long a subscriber waits before looking in the database without a wake-up. Covers
/// deliveries committed by another gateway replica sharing the database.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Wake-ups per recipient.
#[derive(Debug, Default)]
pub struct Notifier {
    waiters: Mutex<HashMap<Oin, Arc<Notify>>>,
}

// === impl Notifier ===

impl Notifier {
    /// The wake-up handle of a recipient.
    pub fn handle(&self, recipient: &Oin) -> Arc<Notify> {
        self.waiters
            .lock()
            .entry(recipient.clone())
            .or_default()
            .clone()
    }

    /// Wakes every subscriber of `recipient`.
    pub fn wake(&self, recipient: &Oin) {
        if let Some(notify) = self.waiters.lock().get(recipient) {
            notify.notify_waiters();
        }
    }
}
