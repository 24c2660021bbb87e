//! The gRPC services. This is the only module that knows prost types and `tonic::Status`:
//! requests are turned into domain calls here, and every domain error is mapped to a status
//! in one place ([`ApiError`]), with a message that says what to fix and never a payload value.

mod admin;
mod audit;
pub mod client;
mod policy;
mod signal;

use std::sync::Arc;

use arc_swap::ArcSwap;

use tokio_util::sync::CancellationToken;
use tonic::{Request, Status};

pub use admin::AdminApi;
pub use audit::AuditApi;
pub use policy::PolicyApi;
pub use signal::SignalApi;

use crate::{
    audit::{AuditEvent, EventKind, Outcome, Subject, Trace, keys::SubjectKeys},
    catalogue::Catalogue,
    config::TlsConfig,
    store::wakeups::Notifier,
    identity::{
        PeerIdentity,
        person::{self, TokenError},
        tls::{self, Connections, SharedServerConfig, TlsSetupError},
    },
    policy::{Denied, Policy},
    registry::{Partner, Registry, Role},
    store::{Store, StoreError},
};

/// Code generated from `proto/ketenpoort/v1/` by `build.rs`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("ketenpoort.v1");
}

/// What every service needs: the registry, the policy, the catalogue and the store.
pub struct Context {
    /// The partner registry; replaced whole when it changes.
    pub registry: Arc<ArcSwap<Registry>>,
    /// The policy in force; replaced whole on reload.
    pub policy: ArcSwap<Policy>,
    /// The signal catalogue.
    pub catalogue: Arc<Catalogue>,
    /// The store.
    pub store: Store,
    /// Subscriber wake-ups.
    pub notifier: Arc<Notifier>,
    /// Largest accepted `Send` request, in bytes.
    pub max_message_bytes: usize,
    /// Keys for the keyed hashes of case references and subject identifiers.
    pub subject_keys: SubjectKeys,
    /// The `aud` every JWT must carry.
    pub jwt_audience: String,
    /// Open partner connections, to close those whose certificate is no longer accepted.
    pub connections: Arc<Connections>,
    /// Where the trust anchors and the gateway's certificate are (for reloads and vetting).
    pub tls: TlsConfig,
    /// The TLS configuration in force.
    pub tls_config: SharedServerConfig,
    /// Cancelled when the gateway shuts down; ends open streams.
    pub shutdown: CancellationToken,
}

/// Why a request failed, before it becomes a `tonic::Status`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed; the message says what to fix.
    #[error("{0}")]
    Invalid(String),
    /// The policy does not allow the exchange.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// An idempotency key was reused for other content.
    #[error(
        "idempotency_key was used before for a different signal: use a new key for a new signal"
    )]
    IdempotencyConflict,
    /// The caller's role may not use this service.
    #[error("{0}")]
    WrongRole(String),
    /// Something named does not exist for this caller.
    #[error("{0}")]
    NotFound(String),
    /// The caller is not an identified, active partner.
    #[error("{0}")]
    Unauthenticated(String),
    /// The token naming the person is missing or invalid.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

// === impl ApiError ===

impl ApiError {
    /// A short, stable code of the failure, for metrics labels.
    pub fn reason_code(&self) -> &'static str {
        match self {
            ApiError::Invalid(_) => "invalid_argument",
            ApiError::Denied(Denied::NoRule { .. }) => "no_rule",
            ApiError::Denied(Denied::UnknownRecipient(_)) => "unknown_recipient",
            ApiError::Denied(Denied::RecipientSuspended(_)) => "recipient_suspended",
            ApiError::Denied(Denied::RecipientNotEligible { .. }) => "recipient_not_eligible",
            ApiError::IdempotencyConflict => "idempotency_conflict",
            ApiError::WrongRole(_) => "wrong_role",
            ApiError::NotFound(_) => "not_found",
            ApiError::Unauthenticated(_) | ApiError::Token(_) => "unauthenticated",
            ApiError::Store(_) => "store_unavailable",
        }
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::Invalid(msg) => Status::invalid_argument(msg),
            ApiError::Denied(denied) => Status::permission_denied(denied.to_string()),
            e @ ApiError::IdempotencyConflict => Status::already_exists(e.to_string()),
            ApiError::NotFound(msg) => Status::not_found(msg),
            ApiError::WrongRole(msg) => Status::permission_denied(msg),
            ApiError::Unauthenticated(msg) => Status::unauthenticated(msg),
            ApiError::Token(e) => Status::unauthenticated(e.to_string()),
            ApiError::Store(StoreError::UnknownDelivery(id)) => {
                Status::not_found(format!("delivery {id} is not addressed to you"))
            }
            ApiError::Store(StoreError::Expired(id)) => Status::failed_precondition(format!(
                "delivery {id} expired before it was acknowledged and its copy was erased; \
                 ask the sender to send the signal again"
            )),
            ApiError::Store(e) => {
                tracing::error!(error = %e, "store failed");
                Status::unavailable(
                    "the gateway could not commit the request; retry it (with the same idempotency key)",
                )
            }
        }
    }
}

/// What the gateway knows of one request beyond the caller: its trace and, when a token
/// names one, the natural person behind it.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    /// W3C trace context of the request.
    pub trace: Trace,
    /// The person (`sub` of a verified JWT).
    pub person: Option<String>,
}

/// A Unix-milliseconds time as a protobuf timestamp.
pub fn timestamp(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

/// A protobuf timestamp as Unix milliseconds.
pub fn unix_ms(t: &prost_types::Timestamp) -> i64 {
    t.seconds * 1000 + i64::from(t.nanos) / 1_000_000
}

// === impl Context ===

impl Context {
    /// Reads the trace context and the person's token of a request. A token that is present
    /// must verify; when `person_required`, a token must be present.
    pub fn request_meta<T>(
        &self,
        partner: &Partner,
        request: &Request<T>,
        person_required: bool,
    ) -> Result<RequestMeta, ApiError> {
        let metadata = request.metadata();
        let trace = Trace::continue_from(metadata.get("traceparent").and_then(|v| v.to_str().ok()));
        let authorization = metadata.get("authorization").and_then(|v| v.to_str().ok());
        let person = match (authorization, person_required) {
            (None, false) => None,
            (value, _) => {
                let token = person::bearer(value)?;
                Some(person::verify(partner, token, &self.jwt_audience)?)
            }
        };
        Ok(RequestMeta { trace, person })
    }

    /// Reads the registry from the database, puts it in force, and closes the connections
    /// whose certificate it no longer accepts.
    pub async fn reload_registry(&self) -> Result<(), ApiError> {
        let records = self.store.registry_records().await?;
        let registry = Registry::assemble(std::path::Path::new("database"), records)
            .map_err(|e| ApiError::Invalid(e.to_string()))?;
        let closed = self.connections.close_unaccepted(&registry);
        self.registry.store(Arc::new(registry));
        tracing::info!(connections.closed = closed, "registry reloaded");
        Ok(())
    }

    /// Reads the trust anchors and the gateway's certificate again and puts them in force
    /// for new connections.
    pub fn reload_tls(&self) -> Result<(), TlsSetupError> {
        let config = tls::server_config(
            &self.tls.trust_anchors,
            &self.tls.certificate,
            &self.tls.private_key,
            self.registry.clone(),
        )?;
        self.tls_config.store(Arc::new(config));
        tracing::info!("trust anchors and server certificate reloaded");
        Ok(())
    }

    /// The partner and person behind a request to an officers' or operators' service:
    /// certificate, then token, then `role`. A refusal is audited as `refused` and answered
    /// with UNAUTHENTICATED (no valid token) or PERMISSION_DENIED (another role).
    pub async fn person_in_role<T>(
        &self,
        request: &Request<T>,
        role: Role,
        refused: EventKind,
        method: &str,
    ) -> Result<(Arc<Partner>, RequestMeta), Status> {
        let partner = self.caller(request)?;
        let checked = self.request_meta(&partner, request, true).and_then(|meta| {
            if partner.role == role {
                Ok(meta)
            } else {
                Err(ApiError::WrongRole(format!(
                    "{method} is for the {role} role; partner {} has role {}",
                    partner.id, partner.role
                )))
            }
        });
        match checked {
            Ok(meta) => Ok((partner, meta)),
            Err(e) => {
                let mut event = AuditEvent::new(refused, Outcome::Refused);
                event.actor = Some(partner.oin.clone());
                event.detail = serde_json::json!({ "method": method, "reason": e.to_string() });
                self.store
                    .audit(vec![event])
                    .await
                    .map_err(ApiError::from)?;
                tracing::info!(partner = %partner.id, method, reason = %e, "request refused");
                Err(e.into())
            }
        }
    }

    /// The keyed hash of a case reference, as the audit log stores it.
    pub fn case_subject(&self, case_ref: &str) -> Subject {
        Subject {
            case_ref_hash: Some(self.subject_keys.hash(case_ref)),
            subject_key_id: Some(self.subject_keys.active_id().to_string()),
            ..Subject::default()
        }
    }

    /// The active partner behind a request, from the identity fixed at the TLS handshake.
    pub fn caller<T>(&self, request: &Request<T>) -> Result<Arc<Partner>, ApiError> {
        let peer = request.extensions().get::<PeerIdentity>().ok_or_else(|| {
            ApiError::Unauthenticated("no client certificate on this connection".into())
        })?;
        let registry = self.registry.load();
        let partner = registry
            .certificate(&peer.fingerprint)
            .filter(|(p, cert)| p.oin == peer.oin && cert.accepted_at(crate::clock::now_ms()))
            .map(|(p, _)| p)
            .ok_or_else(|| {
                ApiError::Unauthenticated(
                    "the client certificate is no longer registered or was revoked".into(),
                )
            })?;
        if !partner.is_active() {
            return Err(ApiError::Unauthenticated(format!(
                "partner {} is suspended",
                partner.id
            )));
        }
        Ok(partner.clone())
    }
}
