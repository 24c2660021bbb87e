//! Who is calling: the partner behind the certificate fixed at the TLS handshake, the person a
//! token names, the request's trace, and for the officers' and operators' services, the role.

use std::{fmt, sync::Arc};

use serde_json::json;

use super::{Exchange, ExchangeError};
use crate::{
    audit::{Actor, EventKind, Outcome, Trace},
    identity::{PeerIdentity, person},
    registry::{Partner, Role},
};

/// What a request says about who sends it, as the transport delivered it.
#[derive(Clone, Copy, Default)]
pub struct Credentials<'r> {
    /// The identity fixed at the TLS handshake; `None` on a connection without one.
    pub peer: Option<&'r PeerIdentity>,
    /// The W3C `traceparent` metadata, when sent.
    pub traceparent: Option<&'r str>,
    /// The `authorization` metadata (`Bearer <jwt>`), when sent.
    pub authorization: Option<&'r str>,
}

impl fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token is a credential: never shown.
        f.debug_struct("Credentials")
            .field("peer", &self.peer)
            .field("traceparent", &self.traceparent)
            .finish_non_exhaustive()
    }
}

// === impl Exchange ===

impl Exchange {
    /// The active partner behind a request, from the identity fixed at the TLS handshake.
    pub fn caller(&self, peer: Option<&PeerIdentity>) -> Result<Arc<Partner>, ExchangeError> {
        let peer = peer.ok_or_else(|| {
            ExchangeError::Unauthenticated("no client certificate on this connection".into())
        })?;
        let registry = self.registry.load();
        let now = self.clock.now_ms();
        let partner = registry
            .certificate(&peer.fingerprint)
            .filter(|(p, cert)| p.oin == peer.oin && cert.accepted_at(now))
            .map(|(p, _)| p)
            .ok_or_else(|| {
                ExchangeError::Unauthenticated(
                    "the client certificate is no longer registered or was revoked".into(),
                )
            })?;
        if !partner.is_active() {
            return Err(ExchangeError::Unauthenticated(format!(
                "partner {} is suspended",
                partner.id
            )));
        }
        Ok(partner.clone())
    }

    /// The actor of a request by `partner`: its trace, and the person its token names. A
    /// token that is present must verify; when `person_required`, one must be present.
    pub fn actor(
        &self,
        partner: &Partner,
        credentials: &Credentials<'_>,
        person_required: bool,
    ) -> Result<Actor, ExchangeError> {
        let trace = Trace::continue_from(credentials.traceparent);
        let person = match (credentials.authorization, person_required) {
            (None, false) => None,
            (value, _) => {
                let token = person::bearer(value)?;
                let now = u64::try_from(self.clock.now_ms() / 1000).unwrap_or(0);
                Some(person::verify(partner, token, &self.tokens, now)?)
            }
        };
        Ok(Actor {
            oin: partner.oin.clone(),
            person,
            trace,
        })
    }

    /// The partner and person behind a request to an officers' or operators' service:
    /// certificate, then token, then `role`. A refusal after the certificate is audited as
    /// `refused` (an event of that kind, naming the method and the reason).
    pub async fn person_in_role(
        &self,
        credentials: &Credentials<'_>,
        role: Role,
        refused: EventKind,
        method: &str,
    ) -> Result<(Arc<Partner>, Actor), ExchangeError> {
        let partner = self.caller(credentials.peer)?;
        self.partner_person_in_role(partner, credentials, role, refused, method)
            .await
    }

    /// [`Self::person_in_role`] for a partner already identified by other means than the
    /// connection's certificate (the console, where the officer names the organisation and the
    /// token's signature proves it): token, then `role`, refusals audited alike.
    pub async fn partner_person_in_role(
        &self,
        partner: Arc<Partner>,
        credentials: &Credentials<'_>,
        role: Role,
        refused: EventKind,
        method: &str,
    ) -> Result<(Arc<Partner>, Actor), ExchangeError> {
        let checked = self.actor(&partner, credentials, true).and_then(|actor| {
            if partner.role == role {
                Ok(actor)
            } else {
                Err(ExchangeError::WrongRole(format!(
                    "{method} is for the {role} role; partner {} has role {}",
                    partner.id, partner.role
                )))
            }
        });
        match checked {
            Ok(actor) => Ok((partner, actor)),
            Err(e) => {
                let anonymous = Actor {
                    oin: partner.oin.clone(),
                    person: None,
                    trace: Trace::continue_from(credentials.traceparent),
                };
                let mut event = anonymous.event(refused, Outcome::Refused);
                event.detail = json!({ "method": method, "reason": e.to_string() });
                self.store.audit(vec![event]).await?;
                tracing::info!(partner = %partner.id, method, reason = %e, "request refused");
                Err(e)
            }
        }
    }
}
