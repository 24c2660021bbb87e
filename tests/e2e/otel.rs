//! Trace export for real: the `ketenpoort` binary with `[telemetry] otlp_endpoint` pointing at
//! an OTLP receiver in this test, one signal accepted and one refused through it, a graceful
//! stop, and what reached the receiver read back. The `send` spans name the sender's OIN, the
//! signal id and type and the outcome; nothing exported holds a payload value or the case
//! reference.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::{AnyValue, KeyValue, any_value::Value},
    trace::v1::Span,
};
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, transport::Server};

use crate::{cli::Served, support::INTAKE};

/// The clear case reference of the test's signals.
const CASE_REF: &str = "LVV-OTEL-2026-0007";
/// Values from [`INTAKE`] (and the case reference) that must never leave the gateway in a span.
const NEVER_EXPORTED: &[&str] = &[
    CASE_REF,
    "1234567890",
    "123456782",
    "Testa",
    "Persoon",
    "Alias",
    "1990-01-01",
    "2026-11-20",
    "GM0344",
    "LVV Utrecht",
];
/// The sender, `gemeente-utrecht` in `config/partners.toml`.
const SENDER_OIN: &str = "00000099300000010000";

/// An OTLP/gRPC trace receiver on 127.0.0.1 that keeps every export it is sent.
#[derive(Clone, Default)]
struct Receiver {
    exports: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.exports.lock().push(request.into_inner());
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

impl Receiver {
    /// Serves on a free loopback port until `stop`; returns the address.
    async fn serve(&self, stop: CancellationToken) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(
            Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    TcpListenerStream::new(listener),
                    stop.cancelled_owned(),
                ),
        );
        addr
    }

    /// Every span received so far.
    fn spans(&self) -> Vec<Span> {
        self.exports
            .lock()
            .iter()
            .flat_map(|e| &e.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| s.spans.clone())
            .collect()
    }
}

/// The string value of attribute `key`.
fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match &kv.value {
            Some(AnyValue {
                value: Some(Value::StringValue(s)),
            }) => Some(s.as_str()),
            _ => None,
        })
}

/// The `send` span whose outcome is `outcome`.
fn send_span<'a>(spans: &'a [Span], outcome: &str) -> Option<&'a Span> {
    spans
        .iter()
        .find(|s| s.name == "send" && attribute(&s.attributes, "outcome") == Some(outcome))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_spans_reach_the_collector_with_ids_and_without_personal_data() {
    let receiver = Receiver::default();
    let stop_receiver = CancellationToken::new();
    let collector = receiver.serve(stop_receiver.clone()).await;
    let mut served = Served::start(&format!(
        "\n[telemetry]\notlp_endpoint = \"http://{collector}\"\nservice_name = \"ketenpoort-e2e\"\n"
    ));
    let gateway = served.gateway();
    let send = |purpose: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ketenpoort"))
            .args(["send", "--gateway", &gateway, "--as", "gemeente-utrecht"])
            .args([
                "--type",
                "Intake",
                "--purpose",
                purpose,
                "--case-ref",
                CASE_REF,
            ])
            .args(["--to", "dtv", "--json", INTAKE])
            .current_dir(served.dir.path())
            .output()
            .unwrap()
    };
    let sent = send("INTAKE");
    assert!(sent.status.success(), "{sent:?}");
    let receipt: serde_json::Value = serde_json::from_slice(&sent.stdout).unwrap();
    let signal_id = receipt["signal_id"].as_str().unwrap().to_string();
    // A municipality may not send an Intake for RETURN: refused, and traced as such.
    assert!(
        !send("RETURN").status.success(),
        "the RETURN intake was accepted"
    );

    let status = served.stop(Duration::from_secs(15));
    assert!(
        status.success(),
        "serve exited with {status}: {}",
        served.log()
    );
    // The stop waited for the receiver to answer the last batch: everything is here now.
    stop_receiver.cancel();

    let spans = receiver.spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let accepted = send_span(&spans, "accepted")
        .unwrap_or_else(|| panic!("no accepted send span among {names:?}: {}", served.log()));
    assert_eq!(
        attribute(&accepted.attributes, "partner"),
        Some("gemeente-utrecht")
    );
    assert_eq!(
        attribute(&accepted.attributes, "partner.oin"),
        Some(SENDER_OIN)
    );
    assert_eq!(
        attribute(&accepted.attributes, "signal_id"),
        Some(signal_id.as_str())
    );
    assert_eq!(
        attribute(&accepted.attributes, "signal_type"),
        Some("Intake")
    );
    assert!(
        accepted.events.iter().any(|e| e.name == "signal accepted"),
        "{:?}",
        accepted.events
    );
    let refused = send_span(&spans, "refused")
        .unwrap_or_else(|| panic!("no refused send span among {names:?}"));
    assert_eq!(
        attribute(&refused.attributes, "partner.oin"),
        Some(SENDER_OIN)
    );
    assert_eq!(
        attribute(&refused.attributes, "signal_type"),
        Some("Intake")
    );
    let exports = receiver.exports.lock();
    let service = exports
        .iter()
        .flat_map(|e| &e.resource_spans)
        .filter_map(|r| r.resource.as_ref())
        .find_map(|r| attribute(&r.attributes, "service.name"));
    assert_eq!(service, Some("ketenpoort-e2e"));

    // Everything exported, as text: resources, scopes, span names, attributes, events, links.
    let everything = format!("{:?}", *exports);
    assert!(
        everything.contains(&signal_id),
        "the dump holds what was sent"
    );
    for value in NEVER_EXPORTED {
        assert!(
            !everything.contains(value),
            "{value:?} was exported: {everything}"
        );
    }
}
