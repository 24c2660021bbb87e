//! The sections of the settings file, each with its documented defaults.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use serde::Deserialize;

use super::{
    DEFAULT_DATABASE_URL, DEFAULT_DEV_PKI_DIR, DEFAULT_LISTEN, DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_SERVICE_NAME,
};

/// `[telemetry]`: export of the gateway's spans, one per request, to an OpenTelemetry
/// collector over OTLP/gRPC. Spans carry partner ids and OINs, signal ids, types and
/// outcomes; never payload values or case references.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// The collector's OTLP/gRPC endpoint, an `http://` URL such as `http://127.0.0.1:4317`.
    /// By default unset: then `OTEL_EXPORTER_OTLP_ENDPOINT` is used when set, and otherwise
    /// no spans are exported and no exporter is created. Set `""` to switch export off even
    /// when that variable is set. Run the collector beside the gateway; it forwards over TLS.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported spans. By default `ketenpoort`; give each gateway of a
    /// chain its own name when several export to one collector.
    pub service_name: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: DEFAULT_SERVICE_NAME.into(),
        }
    }
}

/// Checks that `text` can name an OTLP/gRPC collector: an `http://` URL with a host. Says
/// what is wrong otherwise. TLS to the collector is not offered: the gateway's spans go to a
/// collector beside it, which forwards them.
pub fn check_otlp_endpoint(text: &str) -> Result<(), String> {
    let uri: http::Uri = text
        .parse()
        .map_err(|e| format!("is not a URL ({e}); use for example \"http://127.0.0.1:4317\""))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http"), Some(host)) if !host.is_empty() => Ok(()),
        (Some("https"), _) => Err(
            "uses https, which the exporter does not offer: run a collector beside the gateway and give its http:// address".into(),
        ),
        _ => Err("is not an http:// URL with a host, such as \"http://127.0.0.1:4317\"".into()),
    }
}

/// `[metrics]`: Prometheus metrics (`/metrics`) and a health report (`/health`) over plain
/// HTTP on their own address.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Where to listen. By default `127.0.0.1:9464`; set `""` to switch the endpoint off.
    /// It carries no personal data, but keep it on a management network.
    #[serde(deserialize_with = "optional_address")]
    pub listen: Option<SocketAddr>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
        }
    }
}

fn optional_address<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(d)?;
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(serde::de::Error::custom)
}

/// `[server]`: the gRPC listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Socket address to listen on. By default `127.0.0.1:8443`; set `0.0.0.0:8443` (or a
    /// specific interface) to accept partners from the network.
    pub listen: SocketAddr,
    /// Largest `Send` request accepted, in bytes. By default 1 MiB. Larger signals are refused
    /// with `INVALID_ARGUMENT`.
    pub max_message_bytes: usize,
    /// Seconds a client gets to complete the TLS handshake before the connection is dropped.
    /// By default 10.
    pub handshake_timeout_secs: u64,
    /// TLS handshakes in progress at once; a TCP connection beyond that is closed at once,
    /// so connections that never finish a handshake cost bounded memory. By default 256.
    pub max_handshakes_in_progress: usize,
    /// The most `Subscribe` streams one partner endpoint may hold open on this gateway; one
    /// more is refused with `RESOURCE_EXHAUSTED`. By default 4.
    pub max_subscriptions_per_partner: usize,
    /// The most HTTP/2 streams (calls in progress) on one connection. By default 100.
    pub max_streams_per_connection: u32,
    /// Seconds a unary call may take before it is ended with `CANCELLED`; streams are not
    /// cut. By default 30.
    pub request_timeout_secs: u64,
    /// Seconds between HTTP/2 keepalive pings on an idle connection; a peer that does not
    /// answer within 10 s is disconnected. By default 30.
    pub http2_keepalive_secs: u64,
}

/// `[tls]`: the gateway's own certificate and the roots partner certificates must chain to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM file with the CA certificates that partner certificates must chain to (in production
    /// the PKIoverheid private roots). By default `var/dev-pki/ca.pem`.
    pub trust_anchors: PathBuf,
    /// PEM file with the gateway's server certificate chain. By default `var/dev-pki/gateway.pem`.
    pub certificate: PathBuf,
    /// PEM file with the private key of the server certificate. By default `var/dev-pki/gateway.key`.
    pub private_key: PathBuf,
    /// When set, `serve` creates a development PKI in this directory if it does not exist yet:
    /// a CA, the gateway certificate and one certificate per registered partner. By default
    /// `var/dev-pki`. Remove the key (or set it to an empty string) in production.
    pub dev_pki_dir: Option<PathBuf>,
}

/// `[store]`: where signals, deliveries and the audit log are kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Database URL. By default `sqlite://var/ketenpoort.db`; the file and its directory are
    /// created when missing. SQLite serves one gateway process; for several replicas sharing
    /// one database, a `postgres://user:password@host/database` URL.
    pub url: String,
}

/// `[delivery]`: how long a delivery waits for its recipient.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Days a delivery may stay unacknowledged; then it expires: it is no longer streamed, its
    /// filtered copy is erased, and a `delivery_expired` audit record says so. `0` keeps
    /// deliveries until they are acknowledged. By default 30.
    pub expire_after_days: u64,
    /// Seconds a recipient's copy is kept after it was acknowledged. By default 0: the copy
    /// is erased in the same transaction as the acknowledgement (the audit record keeps which
    /// fields were delivered, never their values). A grace period lets a recipient that lost
    /// a delivery after acknowledging it ask an operator for it again.
    pub erase_after_ack_secs: u64,
    /// Days a signal row (with its clear case reference) is kept once every copy of it is
    /// acknowledged or expired. Within this window a resend with the same idempotency key is
    /// answered with the original receipt; after it the signal is forgotten: `GetReceipt`
    /// answers NOT_FOUND, and the key may be used again. The audit log and the signed receipt
    /// keep the history. By default 7; at least 1.
    pub idempotency_window_days: u64,
    /// Seconds a streamed delivery is leased to the stream it went out on: meanwhile no other
    /// stream of the same endpoint (on any replica) gets it. When the lease ends unacknowledged,
    /// or the stream closes, it is offered again. By default 60; at least 1.
    pub lease_secs: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            expire_after_days: 30,
            erase_after_ack_secs: 0,
            idempotency_window_days: 7,
            lease_secs: 60,
        }
    }
}

/// `[files]`: the registry and the policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesConfig {
    /// The partner registry. By default `config/partners.toml`.
    pub partners: PathBuf,
    /// The exchange policy. By default `config/policy.toml`.
    pub policy: PathBuf,
}

/// `[audit]`: the keys and rhythm of the tamper-evident audit log.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Ed25519 private key (PKCS#8 PEM) that signs checkpoints and receipts. By default
    /// `var/dev-pki/audit-signing.key`, created with the development PKI. Its public half
    /// (`ketenpoort audit public-key`) lets anyone verify an export or a receipt offline.
    pub signing_key: PathBuf,
    /// HMAC-SHA256 keys (id → file of 64 hex characters) under which case references and
    /// subject identifiers are stored as keyed hashes. Keep old keys listed after a rotation,
    /// so searches still find records hashed under them. By default one development key.
    pub subject_keys: std::collections::BTreeMap<String, PathBuf>,
    /// Id of the key that hashes new records. By default `dev-1`.
    pub active_subject_key: String,
    /// Write a signed checkpoint after this many records. By default 1000.
    pub checkpoint_every_records: u64,
    /// Write a signed checkpoint at least this often (seconds) while records are added.
    /// By default 60.
    pub checkpoint_every_secs: u64,
    /// The `aud` claim every officer's, operator's or case worker's JWT must carry. By
    /// default `ketenpoort`.
    pub jwt_audience: String,
    /// The longest a JWT may be valid (from `iat` to `exp`, and from now to `exp`), in seconds;
    /// a longer-lived token is refused as a stolen one would be. By default 3600.
    pub jwt_max_lifetime_secs: u64,
    /// Days an audit record is kept; older records are removed hourly, after a signed
    /// checkpoint at the cut keeps the rest verifiable. By default 0: keep everything.
    pub retention_days: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.parse().unwrap_or_else(|_| {
                // DEFAULT_LISTEN is a literal socket address; this branch cannot be taken.
                SocketAddr::from(([127, 0, 0, 1], 8443))
            }),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            handshake_timeout_secs: 10,
            max_handshakes_in_progress: 256,
            max_subscriptions_per_partner: 4,
            max_streams_per_connection: 100,
            request_timeout_secs: 30,
            http2_keepalive_secs: 30,
        }
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        let dir = Path::new(DEFAULT_DEV_PKI_DIR);
        Self {
            trust_anchors: dir.join("ca.pem"),
            certificate: dir.join("gateway.pem"),
            private_key: dir.join("gateway.key"),
            dev_pki_dir: Some(dir.into()),
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: DEFAULT_DATABASE_URL.into(),
        }
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        let dir = Path::new(DEFAULT_DEV_PKI_DIR);
        Self {
            signing_key: dir.join("audit-signing.key"),
            subject_keys: [("dev-1".to_string(), dir.join("audit-subject-dev-1.key"))].into(),
            active_subject_key: "dev-1".into(),
            checkpoint_every_records: 1000,
            checkpoint_every_secs: 60,
            jwt_audience: "ketenpoort".into(),
            jwt_max_lifetime_secs: 3600,
            retention_days: 0,
        }
    }
}

impl Default for FilesConfig {
    fn default() -> Self {
        Self {
            partners: "config/partners.toml".into(),
            policy: "config/policy.toml".into(),
        }
    }
}
