//! The privacy officer behind a request to the audit log: the organisation, the person its
//! token named, the request's trace, and the partners whose records the officer may read.

use std::sync::Arc;

use crate::{
    audit::Actor,
    ids::Oin,
    registry::{AuditScope, Partner},
};

/// An authenticated privacy officer and the partners whose records it may read.
#[derive(Debug)]
pub struct Officer {
    pub(super) partner: Arc<Partner>,
    pub(super) actor: Actor,
    pub(super) scope: Option<Vec<Oin>>,
}

// === impl Officer ===

impl Officer {
    /// The officer `actor` of `partner`, scoped by the partner's `audit_scope`.
    pub(super) fn new(partner: Arc<Partner>, actor: Actor) -> Self {
        let scope = match &partner.audit_scope {
            AuditScope::All => None,
            AuditScope::Partners(oins) => Some(oins.clone()),
            AuditScope::None => Some(Vec::new()),
        };
        Officer {
            partner,
            actor,
            scope,
        }
    }

    /// The organisation the officer acts for.
    pub fn partner(&self) -> &Partner {
        &self.partner
    }

    /// The person the officer's token named.
    pub fn person(&self) -> &str {
        self.actor.person.as_deref().unwrap_or_default()
    }

    /// Whether the officer reads the whole log (the programme's), not only some partners'.
    pub fn reads_everything(&self) -> bool {
        self.scope.is_none()
    }

    /// The same officer in a new request, with a trace of its own: a session signed in once
    /// makes many requests, each audited under its own trace id.
    pub fn in_new_request(&self) -> Officer {
        Officer {
            partner: self.partner.clone(),
            actor: self.actor.in_new_request(),
            scope: self.scope.clone(),
        }
    }
}
