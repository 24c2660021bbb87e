//! Why a use case refused or failed. Each variant says what happened in words a caller can act
//! on, never with a payload value; `api` maps them to gRPC statuses in one place.

use crate::{
    exchange::lifecycle::Refusal, identity::person::TokenError, identity::tls::TlsSetupError,
    policy::Denied, store::StoreError,
};

/// Why a request was refused or could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
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
    /// An operator's registry change is refused.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The trust anchors or the gateway's certificate cannot be (re)loaded.
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    /// A change would leave a registry or policy that does not load; nothing was saved.
    #[error("{0}")]
    Inconsistent(String),
    /// The caller holds as much open as it may; the message says what to close or wait for.
    #[error("{0}")]
    Exhausted(String),
    /// The caller exceeded a limit on its calls; it may try again after `retry_after_ms`.
    #[error("{reason}")]
    Throttled {
        /// What was exceeded.
        reason: String,
        /// When to try again, in milliseconds.
        retry_after_ms: u64,
    },
    /// A registry change was overtaken by another before it was saved; nothing changed.
    #[error("{0}")]
    Overtaken(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

// === impl ExchangeError ===

impl ExchangeError {
    /// A short, stable code of the failure, for metrics labels.
    pub fn reason_code(&self) -> &'static str {
        match self {
            ExchangeError::Invalid(_) => "invalid_argument",
            ExchangeError::Denied(Denied::NoRule { .. }) => "no_rule",
            ExchangeError::Denied(Denied::UnknownRecipient(_)) => "unknown_recipient",
            ExchangeError::Denied(Denied::RecipientSuspended(_)) => "recipient_suspended",
            ExchangeError::Denied(Denied::RecipientNotEligible { .. }) => "recipient_not_eligible",
            ExchangeError::IdempotencyConflict => "idempotency_conflict",
            ExchangeError::WrongRole(_) => "wrong_role",
            ExchangeError::NotFound(_) => "not_found",
            ExchangeError::Unauthenticated(_) | ExchangeError::Token(_) => "unauthenticated",
            ExchangeError::Refused(_) | ExchangeError::Inconsistent(_) => "refused",
            ExchangeError::Tls(_) => "tls_setup",
            ExchangeError::Exhausted(_) => "exhausted",
            ExchangeError::Overtaken(_) => "overtaken",
            ExchangeError::Throttled { .. } => "throttled",
            ExchangeError::Store(_) => "store_unavailable",
        }
    }
}
