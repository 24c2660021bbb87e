//! One span per RPC, opened before tonic routes the request, so calls refused before a
//! handler runs (an unknown method, a request over the size limit) are covered too. The span
//! names the method and the calling partner (from the identity fixed at the TLS handshake);
//! handlers add the signal's id and type; the outcome is recorded when the response starts:
//! the one a handler set ([`Outcome`]), else `ok`, `refused` (the caller can fix it) or
//! `failed` (the gateway could not), with the gRPC status code. Never a payload value.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use tonic::Code;
use tower_layer::Layer;
use tower_service::Service;
use tracing::{Instrument as _, field::Empty};

use crate::{exchange::Exchange, identity::PeerIdentity};

/// The outcome of an RPC as its handler names it (`accepted`, `duplicate`), put in the
/// response's extensions for the span.
#[derive(Debug, Clone, Copy)]
pub struct Outcome(pub &'static str);

/// The layer that wraps every service of the gateway in its RPC span.
#[derive(Clone)]
pub struct RpcSpans {
    exchange: Arc<Exchange>,
}

/// A service wrapped by [`RpcSpans`].
#[derive(Clone)]
pub struct RpcSpan<S> {
    inner: S,
    exchange: Arc<Exchange>,
}

// === impl RpcSpans ===

impl RpcSpans {
    /// Spans naming partners as registered in `exchange`.
    pub fn new(exchange: Arc<Exchange>) -> Self {
        Self { exchange }
    }
}

impl<S> Layer<S> for RpcSpans {
    type Service = RpcSpan<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcSpan {
            inner,
            exchange: self.exchange.clone(),
        }
    }
}

// === impl RpcSpan ===

impl<S, B, R> Service<http::Request<B>> for RpcSpan<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let span = self.open(&request);
        // The clone that was polled ready serves this request; the fresh one waits for
        // the next `poll_ready` (tower's usual hand-over).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let response = inner.call(request);
        let recording = span.clone();
        Box::pin(
            async move {
                let response = response.await?;
                record_outcome(&recording, &response);
                Ok(response)
            }
            .instrument(span),
        )
    }
}

impl<S> RpcSpan<S> {
    fn open<B>(&self, request: &http::Request<B>) -> tracing::Span {
        let mut parts = request.uri().path().trim_start_matches('/').split('/');
        let service = parts.next().unwrap_or_default();
        let method = parts.next().unwrap_or_default();
        let span = tracing::info_span!(
            "rpc",
            otel.name = span_name(service, method),
            rpc.service = service,
            rpc.method = method,
            partner = Empty,
            partner.oin = Empty,
            signal_id = Empty,
            signal_type = Empty,
            outcome = Empty,
            grpc.code = Empty,
        );
        if let Some(peer) = request.extensions().get::<PeerIdentity>() {
            span.record("partner.oin", peer.oin.as_str());
            if let Some((partner, _)) = self.exchange.registry().certificate(&peer.fingerprint) {
                span.record("partner", partner.id.as_str());
            }
        }
        span
    }
}

/// The span's name: the method in snake case, prefixed with its service for all but the
/// partners' `SignalService` (`send`, `subscribe`, `audit.query`, `admin.add_partner`).
fn span_name(service: &str, method: &str) -> String {
    let mut snake = String::with_capacity(method.len() + 8);
    for (i, c) in method.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            snake.push('_');
        }
        snake.push(c.to_ascii_lowercase());
    }
    let prefix = match service.rsplit('.').next().unwrap_or_default() {
        "SignalService" => "",
        "AuditService" => "audit.",
        "AdminService" => "admin.",
        "PolicyService" => "policy.",
        "MonitorService" => "monitor.",
        _ => "grpc.",
    };
    format!("{prefix}{snake}")
}

fn record_outcome<R>(span: &tracing::Span, response: &http::Response<R>) {
    let code = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map_or(Code::Ok, Code::from_i32);
    span.record("grpc.code", code as i32);
    let outcome = match (response.extensions().get::<Outcome>(), code) {
        (Some(Outcome(named)), _) => named,
        (None, Code::Ok) => "ok",
        (
            None,
            Code::InvalidArgument
            | Code::NotFound
            | Code::AlreadyExists
            | Code::PermissionDenied
            | Code::ResourceExhausted
            | Code::FailedPrecondition
            | Code::OutOfRange
            | Code::Unimplemented
            | Code::Unauthenticated
            | Code::Cancelled,
        ) => "refused",
        (None, _) => "failed",
    };
    span.record("outcome", outcome);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_named_after_service_and_method() {
        assert_eq!(span_name("ketenpoort.v1.SignalService", "Send"), "send");
        assert_eq!(
            span_name("ketenpoort.v1.SignalService", "GetReceipt"),
            "get_receipt"
        );
        assert_eq!(
            span_name("ketenpoort.v1.AuditService", "Query"),
            "audit.query"
        );
        assert_eq!(
            span_name("ketenpoort.v1.AdminService", "AddPartner"),
            "admin.add_partner"
        );
        assert_eq!(
            span_name("ketenpoort.v1.MonitorService", "QuarterReport"),
            "monitor.quarter_report"
        );
        assert_eq!(span_name("grpc.health.v1.Health", "Check"), "grpc.check");
    }
}
