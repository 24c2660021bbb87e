//! A privacy officer signs in without a client certificate (the console, in a browser): the
//! officer names the organisation, and a token signed with one of that organisation's
//! registered JWT keys proves it. The token is verified exactly as on the gRPC path (same
//! function, same audience and lifetime rules, same role check), and a refusal is audited.

use std::sync::Arc;

use serde_json::json;

use super::{Exchange, ExchangeError, audit_reading::Officer, callers::Credentials};
use crate::{
    audit::{AuditEvent, EventKind, Outcome},
    registry::{Partner, Role},
};

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
        let partner = self.organisation(organisation).ok_or_else(|| {
            ExchangeError::Unauthenticated(
                "no active organisation with that id or OIN: check the name".into(),
            )
        })?;
        let authorization = format!("Bearer {}", token.trim());
        let credentials = Credentials {
            authorization: Some(&authorization),
            ..Credentials::default()
        };
        let (partner, actor) = self
            .partner_person_in_role(
                partner,
                &credentials,
                Role::PrivacyOfficer,
                EventKind::AuditRefused,
                method,
            )
            .await?;
        Ok(Officer::new(partner, actor))
    }

    /// Records a sign-in refused because its address tried too often: an audit record
    /// naming the organisation asked for (when it is one), never the token or the address.
    pub async fn sign_in_throttled(
        &self,
        organisation: &str,
        method: &str,
    ) -> Result<(), ExchangeError> {
        let mut event = AuditEvent::new(EventKind::AuditRefused, Outcome::Refused);
        event.actor = self.organisation(organisation).map(|p| p.oin.clone());
        event.detail = json!({
            "method": method,
            "reason": "too many sign-ins from one address: wait and try again",
        });
        self.store.audit(vec![event]).await?;
        Ok(())
    }

    /// The active partner named by a partner id or OIN.
    fn organisation(&self, organisation: &str) -> Option<Arc<Partner>> {
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
    }
}
