//! Why the console could not start, and why a page could not be shown. A page's refusal is
//! shown to the officer in words that say what to do, never with a personal data value; an
//! internal failure shows "something went wrong" and logs the kind of failure.

use std::net::SocketAddr;

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};

use super::layout;
use crate::{certificate::CertificateError, exchange::ExchangeError};

/// Why the console could not start or serve a request.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The listener could not be bound.
    #[error("console: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The gateway's certificate or key could not be read.
    #[error("console: {0}")]
    Certificate(#[from] CertificateError),
    /// rustls refused the certificate or key.
    #[error("console TLS configuration: {0}")]
    Tls(String),
    /// A `[console]` setting names what the policy or catalogue does not know.
    #[error("{0}")]
    Settings(String),
    /// The system's random source failed.
    #[error("console: no randomness for a session id")]
    Random,
    /// As many sessions are open as `[console] max_sessions` allows.
    #[error("too many officers are signed in: try again when a session has ended")]
    Full,
    /// A form came without the token of its page: not sent from the console itself.
    #[error(
        "this form was not sent from a page of this console, or the page is too old: reload it and try again"
    )]
    Forged,
    /// A use case refused or failed.
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
}

impl From<ring::error::Unspecified> for ConsoleError {
    fn from(_: ring::error::Unspecified) -> Self {
        ConsoleError::Random
    }
}

// === impl ConsoleError ===

impl ConsoleError {
    fn status(&self) -> StatusCode {
        match self {
            ConsoleError::Forged => StatusCode::FORBIDDEN,
            ConsoleError::Full => StatusCode::SERVICE_UNAVAILABLE,
            ConsoleError::Exchange(e) => match e.reason_code() {
                "invalid_argument" => StatusCode::BAD_REQUEST,
                "unauthenticated" => StatusCode::UNAUTHORIZED,
                "wrong_role" => StatusCode::FORBIDDEN,
                "not_found" => StatusCode::NOT_FOUND,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            let reason = match &self {
                ConsoleError::Exchange(e) => e.reason_code(),
                _ => "console",
            };
            tracing::warn!(reason, error = %self, "console page failed");
            "Something went wrong; the operators can see what in the gateway's log.".to_string()
        } else {
            self.to_string()
        };
        (status, layout::refusal(&message)).into_response()
    }
}
