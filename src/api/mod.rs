//! The gRPC services. This is the only module that knows prost types and `tonic::Status`:
//! each service turns requests into calls of a use case in [`crate::exchange`] and its answer
//! back into the wire form; every refusal becomes a status in one place
//! (`From<ExchangeError> for Status`), with a message that says what to fix and never a
//! payload value; and every RPC runs in one span ([`span::RpcSpans`]).

mod admin;
mod audit;
pub mod client;
mod monitor;
mod policy;
mod signal;
pub mod span;

use tonic::{Extensions, Request, Status, metadata::MetadataMap};

pub use admin::AdminApi;
pub use audit::AuditApi;
pub use monitor::{MonitorApi, from_proto as monitor_report_from_proto};
pub use policy::PolicyApi;
pub use signal::SignalApi;

use crate::{
    exchange::{ExchangeError, callers::Credentials, lifecycle::Refusal},
    identity::{PeerIdentity, person::TokenError},
    store::StoreError,
};

/// Metadata key of a `RESOURCE_EXHAUSTED` answer saying how many milliseconds to wait before
/// trying again.
pub const RETRY_AFTER_MS: &str = "retry-after-ms";

/// Code generated from `proto/ketenpoort/v1/` by `build.rs`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("ketenpoort.v1");
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

/// What a request says about who sends it: the identity fixed at the TLS handshake, the
/// `traceparent` and the `authorization` metadata.
fn credentials<T>(request: &Request<T>) -> Credentials<'_> {
    credentials_of(request.metadata(), request.extensions())
}

/// [`credentials`] of a request taken apart.
fn credentials_of<'r>(metadata: &'r MetadataMap, extensions: &'r Extensions) -> Credentials<'r> {
    Credentials {
        peer: extensions.get::<PeerIdentity>(),
        traceparent: metadata.get("traceparent").and_then(|v| v.to_str().ok()),
        authorization: metadata.get("authorization").and_then(|v| v.to_str().ok()),
    }
}

/// The one mapping of the use cases' refusals to gRPC statuses, for every service. Bad input
/// and refusals say what to fix; an internal failure is logged and answered without detail.
impl From<ExchangeError> for Status {
    fn from(error: ExchangeError) -> Self {
        match error {
            ExchangeError::Invalid(msg) | ExchangeError::Inconsistent(msg) => {
                Status::invalid_argument(msg)
            }
            ExchangeError::Denied(denied) => Status::permission_denied(denied.to_string()),
            e @ ExchangeError::IdempotencyConflict => Status::already_exists(e.to_string()),
            ExchangeError::NotFound(msg) => Status::not_found(msg),
            ExchangeError::WrongRole(msg) => Status::permission_denied(msg),
            ExchangeError::Unauthenticated(msg) => Status::unauthenticated(msg),
            // A partner no person may act for is refused as another role would be.
            ExchangeError::Token(e @ TokenError::NoKeys(_)) => {
                Status::permission_denied(e.to_string())
            }
            ExchangeError::Token(e) => Status::unauthenticated(e.to_string()),
            ExchangeError::Refused(refusal) => refusal_status(refusal),
            ExchangeError::Tls(e) => Status::failed_precondition(e.to_string()),
            ExchangeError::Exhausted(msg) => Status::resource_exhausted(msg),
            ExchangeError::Overtaken(msg) => Status::aborted(msg),
            ExchangeError::Throttled {
                reason,
                retry_after_ms,
            } => {
                let mut status = Status::resource_exhausted(reason);
                status
                    .metadata_mut()
                    .insert(RETRY_AFTER_MS, retry_after_ms.max(1).into());
                status
            }
            ExchangeError::Store(StoreError::UnknownDelivery(id)) => {
                Status::not_found(format!("delivery {id} is not addressed to you"))
            }
            ExchangeError::Store(StoreError::Expired(id)) => Status::failed_precondition(format!(
                "delivery {id} expired before it was acknowledged and its copy was erased; \
                 ask the sender to send the signal again"
            )),
            ExchangeError::Store(e @ StoreError::Invalid(_)) => {
                Status::invalid_argument(e.to_string())
            }
            ExchangeError::Store(e) => {
                tracing::error!(error = %e, "store failed");
                Status::unavailable(
                    "the gateway could not commit the request; retry it (with the same idempotency key)",
                )
            }
        }
    }
}

fn refusal_status(refusal: Refusal) -> Status {
    match refusal {
        Refusal::UnknownPartner(_) | Refusal::UnknownCertificate(_) => {
            Status::not_found(refusal.to_string())
        }
        Refusal::Exists(_) | Refusal::AlreadyRegistered(_) => {
            Status::already_exists(refusal.to_string())
        }
        Refusal::Pointless(_) => Status::failed_precondition(refusal.to_string()),
        Refusal::Stale { .. } => Status::aborted(refusal.to_string()),
        _ => Status::invalid_argument(refusal.to_string()),
    }
}
