//! Retention of the audit log: records past `audit.retention_days` are removed, after a signed
//! checkpoint at the cut keeps the rest verifiable, and the pruning is itself recorded.

use std::time::Duration;

use serde_json::json;

use super::{Exchange, ExchangeError};
use crate::{
    audit::{AuditEvent, EventKind, Outcome},
    store::Pruned,
};

// === impl Exchange ===

impl Exchange {
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
