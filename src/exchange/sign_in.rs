//! Signing in without a client certificate (the console, in a browser): the person names the
//! organisation, and a token signed with one of that organisation's registered JWT keys
//! proves it. The token is verified exactly as on the gRPC path (same function, same audience
//! and lifetime rules, same role check), and a refusal is audited. The organisation's role
//! decides what the person may do: a privacy officer reads the audit log, a monitor the
//! programme monitor's figures; every other role is refused. A sign-in the console turned
//! away for too many tries from one address is audited too, under the role's refusal kind.

use std::sync::Arc;

use serde_json::json;

use super::{
    Exchange, ExchangeError, audit_reading::Officer, callers::Credentials, monitoring::Monitor,
};
use crate::{
    audit::{Actor, AuditEvent, EventKind, Outcome},
    registry::{Partner, Role},
};

/// Who signed in: a privacy officer or a person of the programme monitor.
#[derive(Debug)]
pub enum SignedInPerson {
    /// A privacy officer, scoped to its organisation's audit scope.
    Officer(Officer),
    /// A person of the monitor role.
    Monitor(Monitor),
}

// === impl Exchange ===

impl Exchange {
    /// The officer of `organisation` (a partner id or OIN) named by `token`. Refused when
    /// the organisation is unknown or suspended, the token does not verify under its keys,
    /// or the organisation is not a privacy officer's.
    pub async fn sign_in_officer(
        &self,
        organisation: &str,
        token: &str,
        method: &str,
    ) -> Result<Officer, ExchangeError> {
        let partner = self.organisation(organisation)?;
        let (partner, actor) = self
            .token_in_role(partner, token, Role::PrivacyOfficer, method)
            .await?;
        Ok(Officer::new(partner, actor))
    }

    /// The officer or monitor of `organisation` named by `token`: a monitor when the
    /// organisation has the monitor role, else an officer, refused as in
    /// [`Self::sign_in_officer`].
    pub async fn sign_in(
        &self,
        organisation: &str,
        token: &str,
        method: &str,
    ) -> Result<SignedInPerson, ExchangeError> {
        let partner = self.organisation(organisation)?;
        let role = match partner.role {
            Role::Monitor => Role::Monitor,
            _ => Role::PrivacyOfficer,
        };
        let (partner, actor) = self.token_in_role(partner, token, role, method).await?;
        Ok(match role {
            Role::Monitor => SignedInPerson::Monitor(Monitor::new(partner, actor)),
            _ => SignedInPerson::Officer(Officer::new(partner, actor)),
        })
    }

    /// The active partner `organisation` names, by id or OIN.
    fn organisation(&self, organisation: &str) -> Result<Arc<Partner>, ExchangeError> {
        let organisation = organisation.trim();
        let registry = self.registry.load();
        registry
            .by_id(organisation)
            .or_else(|| {
                organisation
                    .parse()
                    .ok()
                    .and_then(|oin| registry.by_oin(&oin))
            })
            .filter(|p| p.is_active())
            .cloned()
            .ok_or_else(|| {
                ExchangeError::Unauthenticated(
                    "no active organisation with that id or OIN: check the name".into(),
                )
            })
    }

    /// `partner` and the person `token` names, in `role`; a refusal is audited as the
    /// role's services audit theirs.
    async fn token_in_role(
        &self,
        partner: Arc<Partner>,
        token: &str,
        role: Role,
        method: &str,
    ) -> Result<(Arc<Partner>, Actor), ExchangeError> {
        let refused = match role {
            Role::Monitor => EventKind::MonitorRefused,
            _ => EventKind::AuditRefused,
        };
        let authorization = format!("Bearer {}", token.trim());
        let credentials = Credentials {
            authorization: Some(&authorization),
            ..Credentials::default()
        };
        self.partner_person_in_role(partner, &credentials, role, refused, method)
            .await
    }

    /// Records a sign-in refused because its address tried too often, an officer's or a
    /// monitor's: an audit record of the role's refusal kind naming the organisation asked
    /// for (when it is one), never the token or the address.
    pub async fn sign_in_throttled(
        &self,
        organisation: &str,
        method: &str,
    ) -> Result<(), ExchangeError> {
        let partner = self.organisation(organisation).ok();
        let kind = match partner.as_ref().map(|p| p.role) {
            Some(Role::Monitor) => EventKind::MonitorRefused,
            _ => EventKind::AuditRefused,
        };
        let mut event = AuditEvent::new(kind, Outcome::Refused);
        event.actor = partner.map(|p| p.oin.clone());
        event.detail = json!({
            "method": method,
            "reason": "too many sign-ins from one address: wait and try again",
        });
        self.store.audit(vec![event]).await?;
        Ok(())
    }
}
