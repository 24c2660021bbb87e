//! Exports the gateway's spans to an OpenTelemetry collector over OTLP/gRPC when
//! `[telemetry] otlp_endpoint` (or else `OTEL_EXPORTER_OTLP_ENDPOINT`) names one. Without
//! either, no exporter is created and tracing stays local.
//!
//! Only the gateway's own spans and events (target `ketenpoort`) at `info` and above are
//! exported: one span per request with the partner id and OIN, the signal id and type and the
//! outcome, never payload values or case references (`src/api/`). The exporter's own traffic
//! (tonic, hyper, h2) is never exported, so it cannot feed on itself, and `RUST_LOG` only
//! governs the log lines. Spans are sent in batches from a background thread;
//! [`TraceExport::shutdown`] sends the last batch when the gateway stops.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{ExporterBuildError, SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::{Resource, error::OTelSdkError, trace::SdkTracerProvider};
use tracing::Subscriber;
use tracing_subscriber::{Layer, filter::Targets, registry::LookupSpan};

use crate::config::{TelemetryConfig, check_otlp_endpoint};

/// The standard variable naming the collector, read when `telemetry.otlp_endpoint` is unset.
pub const ENV_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The settings key naming the collector.
const KEY_OTLP_ENDPOINT: &str = "telemetry.otlp_endpoint";
/// Target prefix of the spans and events that are exported: the gateway's own.
const EXPORTED_TARGET: &str = "ketenpoort";
/// How long a shutdown waits for the last batch to reach the collector; a collector that is
/// down must not hold up the gateway's stop.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// A running span export to a collector.
pub struct TraceExport {
    provider: SdkTracerProvider,
    endpoint: String,
}

/// Why spans cannot be exported.
#[derive(Debug, thiserror::Error)]
pub enum TraceExportError {
    /// The setting or variable naming the collector does not hold a usable endpoint.
    #[error("{key} = {value:?} {reason}")]
    InvalidEndpoint {
        /// `telemetry.otlp_endpoint` or `OTEL_EXPORTER_OTLP_ENDPOINT`.
        key: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The OTLP exporter refused the endpoint or another `OTEL_EXPORTER_OTLP_*` variable.
    #[error("{key}: cannot set up the OTLP exporter: {source}")]
    Exporter {
        /// Where the endpoint came from.
        key: &'static str,
        /// The exporter's reason.
        source: ExporterBuildError,
    },
    /// The export did not stop cleanly, for instance the last batch was still on its way to a
    /// slow collector when the time was up. (A collector that refuses is logged, not returned.)
    #[error("the last spans may not have reached the collector: {0}")]
    Shutdown(#[source] OTelSdkError),
}

// === impl TraceExport ===

impl TraceExport {
    /// Starts exporting to the endpoint of `config`, or of `OTEL_EXPORTER_OTLP_ENDPOINT` when
    /// the settings name none; `None` when neither does. Call it inside the Tokio runtime (the
    /// gRPC channel lives there); the channel connects on the first batch, so a collector that
    /// is not up yet does not stop the gateway.
    pub fn start(config: &TelemetryConfig) -> Result<Option<Self>, TraceExportError> {
        Self::start_with(config, |name| std::env::var(name).ok())
    }

    /// [`TraceExport::start`] with the environment read through `env`.
    fn start_with(
        config: &TelemetryConfig,
        env: impl FnOnce(&str) -> Option<String>,
    ) -> Result<Option<Self>, TraceExportError> {
        let Some((key, endpoint)) = endpoint(config, env)? else {
            return Ok(None);
        };
        let exporter = SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()
            .map_err(|source| TraceExportError::Exporter { key, source })?;
        let resource = Resource::builder()
            .with_service_name(config.service_name.clone())
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        Ok(Some(Self { provider, endpoint }))
    }

    /// The collector's endpoint.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// A layer turning the gateway's `tracing` spans into exported spans.
    pub fn layer<S>(&self) -> impl Layer<S> + use<S>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
    {
        let tracer = self.provider.tracer(EXPORTED_TARGET);
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(Targets::new().with_target(EXPORTED_TARGET, tracing::Level::INFO))
    }

    /// Sends the spans still waiting and stops the export, waiting at most
    /// [`SHUTDOWN_TIMEOUT`]. Spans that end afterwards are dropped.
    pub async fn shutdown(self) -> Result<(), TraceExportError> {
        let provider = self.provider;
        // The flush blocks until the batch thread has sent over the runtime's gRPC channel.
        tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT))
            .await
            .unwrap_or_else(|e| Err(OTelSdkError::InternalFailure(e.to_string())))
            .map_err(TraceExportError::Shutdown)
    }
}

/// The collector's endpoint and the key it came from: the setting, else the variable. An
/// empty value switches export off.
fn endpoint(
    config: &TelemetryConfig,
    env: impl FnOnce(&str) -> Option<String>,
) -> Result<Option<(&'static str, String)>, TraceExportError> {
    let (key, value) = match &config.otlp_endpoint {
        Some(value) => (KEY_OTLP_ENDPOINT, value.clone()),
        None => match env(ENV_OTLP_ENDPOINT) {
            Some(value) => (ENV_OTLP_ENDPOINT, value),
            None => return Ok(None),
        },
    };
    if value.is_empty() {
        return Ok(None);
    }
    match check_otlp_endpoint(&value) {
        Ok(()) => Ok(Some((key, value))),
        Err(reason) => Err(TraceExportError::InvalidEndpoint { key, value, reason }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(endpoint: Option<&str>) -> TelemetryConfig {
        TelemetryConfig {
            otlp_endpoint: endpoint.map(str::to_string),
            ..TelemetryConfig::default()
        }
    }

    fn env(value: Option<&str>) -> impl FnOnce(&str) -> Option<String> {
        move |name| {
            assert_eq!(name, ENV_OTLP_ENDPOINT);
            value.map(str::to_string)
        }
    }

    #[test]
    fn nothing_is_exported_unless_configured() {
        assert!(endpoint(&config(None), env(None)).unwrap().is_none());
        let off = endpoint(&config(Some("")), env(Some("http://127.0.0.1:4317")));
        assert!(
            off.unwrap().is_none(),
            "an empty setting switches export off"
        );
    }

    #[test]
    fn the_setting_wins_over_the_variable() {
        let given = endpoint(
            &config(Some("http://127.0.0.1:4317")),
            env(Some("http://collector:4317")),
        );
        assert_eq!(
            given.unwrap(),
            Some((KEY_OTLP_ENDPOINT, "http://127.0.0.1:4317".to_string()))
        );
        let fallback = endpoint(&config(None), env(Some("http://collector:4317")));
        assert_eq!(
            fallback.unwrap(),
            Some((ENV_OTLP_ENDPOINT, "http://collector:4317".to_string()))
        );
    }

    #[test]
    fn a_bad_endpoint_names_where_it_came_from() {
        let err = endpoint(&config(None), env(Some("collector:4317"))).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("OTEL_EXPORTER_OTLP_ENDPOINT = \"collector:4317\""),
            "{err}"
        );
        let err = endpoint(&config(Some("https://collector")), env(None)).unwrap_err();
        assert!(err.to_string().contains("telemetry.otlp_endpoint"), "{err}");
    }

    #[tokio::test]
    async fn a_collector_that_is_down_does_not_hold_up_the_stop() {
        use tracing_subscriber::layer::SubscriberExt as _;
        // Port 9 (discard) on loopback: nothing listens, every export fails.
        let export = TraceExport::start_with(&config(Some("http://127.0.0.1:9")), env(None))
            .unwrap()
            .unwrap();
        assert_eq!(export.endpoint(), "http://127.0.0.1:9");
        let subscriber = tracing_subscriber::registry().with(export.layer());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info_span!(target: "ketenpoort::test", "send").in_scope(|| {});
        });
        // Failed exports are logged by the exporter, not returned: the stop only has to end.
        let started = std::time::Instant::now();
        let _ = export.shutdown().await;
        assert!(
            started.elapsed() <= SHUTDOWN_TIMEOUT + Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
}
