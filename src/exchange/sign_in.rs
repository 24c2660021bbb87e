//! A privacy officer signs in without a client certificate (the console, in a browser): the
//! officer names the organisation, and a token signed with one of that organisation's
//! registered JWT keys proves it. The token is verified exactly as on the gRPC path (same
//! function, same audience and lifetime rules, same role check), and a refusal is audited.

use super::{Exchange, ExchangeError, audit_reading::Officer, callers::Credentials};
use crate::{audit::EventKind, registry::Role};

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
        let organisation = organisation.trim();
        let registry = self.registry.load();
        let partner = registry
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
}
