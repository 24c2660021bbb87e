//! What operators watch: Prometheus metrics and a health report on a separate listener
//! (`[metrics] listen`), so they can be scraped without a partner certificate and never on
//! the partners' port.
//!
//! Counters and histograms are recorded where things happen (signals accepted and refused by
//! type and reason, send latency, TLS handshake failures by reason, the writer's commits).
//! Gauges about state — deliveries pending per receiver, the age of the oldest, seconds to
//! each certificate's expiry — are computed from the store and the registry at scrape time, so
//! they are never stale. Labels are partner ids, OINs, types and reasons: never payload values.
//!
//! [`otel`] exports the per-request spans to an OpenTelemetry collector when configured.

pub mod otel;

use std::{net::SocketAddr, sync::OnceLock, time::Duration};

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    clock::now_ms,
    registry::SharedRegistry,
    store::{Store, WRITER_BATCH_JOBS, WRITER_PHASE_SECONDS, stats::StoreStats},
};

/// A partner whose only accepted certificate expires within this period shows as a warning.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 3600);
/// Buckets of the send latency histogram (seconds): group commit keeps `Send` in the low
/// milliseconds, an fsync stall shows in the upper buckets.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
/// Buckets of the writer's phases per commit (seconds): a commit takes a few milliseconds.
const PHASE_BUCKETS: &[f64] = &[
    0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5,
];
/// Buckets of the jobs per commit: one to the writer's most (256).
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// What the metrics endpoint reads at scrape time.
#[derive(Clone)]
struct Sources {
    handle: PrometheusHandle,
    store: Store,
    registry: SharedRegistry,
    /// The most deliveries that may wait for one receiver; half of it is a warning.
    max_pending: u64,
}

/// Why the metrics listener could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen for metrics on {addr}: {source}")]
pub struct MetricsError {
    addr: SocketAddr,
    source: std::io::Error,
}

/// The process-wide Prometheus recorder, installed on first use.
fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                ("ketenpoort_send_duration_seconds", LATENCY_BUCKETS),
                (WRITER_PHASE_SECONDS, PHASE_BUCKETS),
                (WRITER_BATCH_JOBS, BATCH_BUCKETS),
            ];
            // Fails only for an empty list of buckets.
            let builder = buckets
                .into_iter()
                .try_fold(PrometheusBuilder::new(), |builder, (metric, buckets)| {
                    builder.set_buckets_for_metric(Matcher::Full(metric.into()), buckets)
                })
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only when another recorder is installed (a second gateway in one test
            // process installs none); its handle then still renders our own metrics.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Counts a `Send` outcome: `accepted`, `duplicate` or `refused` with its reason code.
pub fn signal_outcome(signal_type: &str, outcome: &'static str, reason: &'static str) {
    metrics::counter!(
        "ketenpoort_signals_total",
        "type" => signal_type.to_string(),
        "outcome" => outcome,
        "reason" => reason
    )
    .increment(1);
}

/// Counts the acknowledged copies erased after their grace period and the settled signals
/// removed.
pub fn forgotten(copies_erased: u64, signals_removed: u64) {
    metrics::counter!("ketenpoort_payloads_erased_total").increment(copies_erased);
    metrics::counter!("ketenpoort_signals_forgotten_total").increment(signals_removed);
}

/// Counts a delivery that expired unacknowledged, by receiver (partner id).
pub fn delivery_expired(receiver: String) {
    metrics::counter!("ketenpoort_deliveries_expired_total", "receiver" => receiver).increment(1);
}

/// Records how long a `Send` took.
pub fn send_latency(elapsed: Duration) {
    metrics::histogram!("ketenpoort_send_duration_seconds").record(elapsed.as_secs_f64());
}

/// Counts a refused or failed TLS handshake by reason.
pub fn handshake_failure(reason: &'static str) {
    metrics::counter!("ketenpoort_tls_handshake_failures_total", "reason" => reason).increment(1);
}

/// Serves `/metrics` and `/health` on `listen` until `shutdown`; returns the bound address.
pub async fn serve(
    listen: SocketAddr,
    store: Store,
    registry: SharedRegistry,
    max_pending: u64,
    shutdown: CancellationToken,
) -> Result<SocketAddr, MetricsError> {
    let sources = Sources {
        handle: handle(),
        store,
        registry,
        max_pending,
    };
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| MetricsError {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| MetricsError {
        addr: listen,
        source,
    })?;
    let app = Router::new()
        .route("/metrics", get(scrape))
        .route("/health", get(health))
        .with_state(sources);
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "metrics listener ended");
        }
    });
    tracing::info!(%addr, "metrics and health listening");
    Ok(addr)
}

async fn scrape(State(sources): State<Sources>) -> impl IntoResponse {
    let now = now_ms();
    match sources.store.pending_by_recipient().await {
        Ok(pending) => {
            // Receivers with nothing pending report zero, so a drained queue is visible.
            for partner in sources.registry.load().partners() {
                let (count, oldest) = pending
                    .iter()
                    .find(|(oin, _, _)| oin == partner.oin.as_str())
                    .map_or((0, now), |(_, count, oldest)| (*count, *oldest));
                let receiver = partner.id.clone();
                metrics::gauge!("ketenpoort_deliveries_pending", "receiver" => receiver.clone())
                    .set(count as f64);
                metrics::gauge!("ketenpoort_delivery_oldest_pending_seconds", "receiver" => receiver)
                    .set(((now - oldest).max(0) / 1000) as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot read pending deliveries for metrics"),
    }
    match sources.store.stats().await {
        Ok(stats) => held_gauges(&stats, now),
        Err(e) => tracing::warn!(error = %e, "cannot read what the store holds for metrics"),
    }
    for partner in sources.registry.load().partners() {
        for cert in &partner.record.certificates {
            if let (true, Some(not_after)) = (cert.accepted_at(now), cert.not_after) {
                metrics::gauge!(
                    "ketenpoort_certificate_expiry_seconds",
                    "partner" => partner.id.clone(),
                    "fingerprint" => cert.fingerprint.clone()
                )
                .set(((not_after - now) / 1000) as f64);
            }
        }
    }
    (
        [("content-type", "text/plain; version=0.0.4")],
        sources.handle.render(),
    )
}

/// What the store holds, by kind, and the age of the oldest of each.
fn held_gauges(stats: &StoreStats, now: i64) {
    for (kind, held) in [
        ("signals", stats.signals),
        ("copies_held", stats.copies_held),
        ("copies_erased", stats.copies_erased),
        ("audit_records", stats.audit_records),
    ] {
        metrics::gauge!("ketenpoort_store_rows", "kind" => kind).set(held.rows as f64);
        let age = held.oldest.map_or(0, |oldest| (now - oldest).max(0) / 1000);
        metrics::gauge!("ketenpoort_store_oldest_age_seconds", "kind" => kind).set(age as f64);
    }
}

/// Warnings about certificates: partners whose only accepted certificate expires soon.
pub fn expiry_warnings(registry: &crate::registry::Registry, now: i64) -> Vec<String> {
    let horizon = EXPIRY_WARNING.as_millis() as i64;
    registry
        .partners()
        .iter()
        .filter_map(|partner| {
            let accepted: Vec<_> = partner
                .record
                .certificates
                .iter()
                .filter(|c| c.accepted_at(now))
                .collect();
            match accepted.as_slice() {
                [only] => only
                    .not_after
                    .filter(|end| end - now < horizon)
                    .map(|end| {
                        format!(
                            "partner {}: its only certificate {} expires in {} days; register its successor",
                            partner.id,
                            &only.fingerprint[..16.min(only.fingerprint.len())],
                            (end - now) / 86_400_000
                        )
                    }),
                _ => None,
            }
        })
        .collect()
}

/// Warnings about receivers with at least half the deliveries waiting they may have.
async fn backlog_warnings(sources: &Sources) -> Vec<String> {
    let Ok(pending) = sources.store.pending_by_recipient().await else {
        return Vec::new();
    };
    let registry = sources.registry.load();
    pending
        .into_iter()
        .filter(|(_, count, _)| u64::try_from(*count).unwrap_or(0) * 2 >= sources.max_pending)
        .map(|(oin, count, _)| {
            let receiver = oin
                .parse()
                .ok()
                .and_then(|oin| registry.by_oin(&oin).map(|p| p.id.clone()))
                .unwrap_or(oin);
            format!(
                "receiver {receiver}: {count} deliveries waiting, of the {} it may have \
                 ([limits] max_pending_per_receiver); new signals for it are refused at the limit",
                sources.max_pending
            )
        })
        .collect()
}

async fn health(State(sources): State<Sources>) -> impl IntoResponse {
    let mut warnings = expiry_warnings(&sources.registry.load(), now_ms());
    warnings.extend(backlog_warnings(&sources).await);
    let database = sources.store.registry_version().await.is_ok();
    let status = match (database, warnings.is_empty()) {
        (false, _) => "unavailable",
        (true, true) => "ok",
        (true, false) => "warning",
    };
    let code = if database {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({ "status": status, "database": database, "warnings": warnings });
    (
        code,
        [("content-type", "application/json")],
        body.to_string(),
    )
}
