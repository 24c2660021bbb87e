//! Delivery wake-ups: subscribers wait on their own [`Notify`], and the store's writer (or,
//! with PostgreSQL, another replica's writer through [`super::listen`]) wakes the recipients
//! of every committed batch. The database stays the source of truth; a wake-up only says
//! "look again", so a missed one costs at most one poll of the subscriber.

use std::{collections::HashMap, sync::Arc};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::ids::Oin;

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
