//! What the gateway keeps, and for how long. It is a conduit, not a register: a recipient's
//! copy is erased once acknowledged (at once, or after `[delivery] erase_after_ack_secs`) or
//! expired; a signal row with its clear case reference is removed once every copy is settled
//! and its idempotency window has passed. What stays is the audit log, and that too only for
//! `[audit] retention_days` when set: older records are removed after a signed checkpoint at
//! the cut keeps the rest verifiable, and the pruning is itself recorded.

use std::time::Duration;

use serde_json::json;

use super::{Exchange, ExchangeError};
use crate::{
    audit::{AuditEvent, EventKind, Outcome},
    store::{Forgotten, Pruned},
    telemetry,
};

/// How long acknowledged copies and settled signals are kept.
#[derive(Debug, Clone, Copy)]
pub struct Forgetting {
    /// Grace period of an acknowledged copy; `None` when copies are erased with their ack.
    pub erase_after_ack: Option<Duration>,
    /// How long a settled signal is kept, so a resend is still recognised.
    pub idempotency_window: Duration,
}

// === impl Exchange ===

impl Exchange {
    /// Erases acknowledged copies past their grace period and removes settled signals past
    /// their idempotency window; counts both in the metrics.
    pub async fn forget(&self) -> Result<Forgotten, ExchangeError> {
        let rules = self.forgetting;
        let erase_before = rules.erase_after_ack.map(|grace| self.clock.before(grace));
        let settled_before = self.clock.before(rules.idempotency_window);
        let forgotten = self.store.forget(erase_before, settled_before).await?;
        telemetry::forgotten(forgotten.erased, forgotten.signals);
        if forgotten != Forgotten::default() {
            tracing::info!(
                copies.erased = forgotten.erased,
                signals.removed = forgotten.signals,
                "settled signals and acknowledged copies forgotten"
            );
        }
        Ok(forgotten)
    }

    /// Removes audit records older than `retention`, and records that it did.
    pub async fn prune_audit(&self, retention: Duration) -> Result<Option<Pruned>, ExchangeError> {
        let cutoff = self.clock.before(retention);
        let pruned = self.store.prune_audit(cutoff).await?;
        if let Some(p) = pruned {
            let mut event = AuditEvent::new(EventKind::AuditPruned, Outcome::Ok);
            event.detail = json!({
                "through_seq": p.through_seq,
                "records": p.records,
                "retention_days": retention.as_secs() / 86_400,
            });
            self.store.audit(vec![event]).await?;
            tracing::info!(
                through_seq = p.through_seq,
                records = p.records,
                "audit records past retention removed"
            );
        }
        Ok(pruned)
    }
}
