//! Typed gateway settings (`config/ketenpoort.toml`), their defaults, and validation that
//! reports every problem with its key before any socket opens.
//!
//! Every field has a default, so `ketenpoort serve` on a fresh clone runs without a settings
//! file: it listens on 127.0.0.1:8443, keeps its database in `var/ketenpoort.db`, reads the
//! partners and policy from `config/`, and creates a development PKI in `var/dev-pki/`.
//! Relative paths are taken from the working directory.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use serde::Deserialize;

use crate::{database::Backend, toml_file::{FileError, read_toml}};

/// Where `ketenpoort serve` looks for its settings when `--config` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "config/ketenpoort.toml";
/// Address the gateway listens on by default: loopback only, so a development gateway is not
/// reachable from the network by accident.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";
/// Largest accepted `Send` request by default (1 MiB). Case signals are small; a larger request
/// is almost always a mistake such as an attached document.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Directory of the development PKI that `serve` creates when it is missing.
pub const DEFAULT_DEV_PKI_DIR: &str = "var/dev-pki";
/// Database of the embedded default store.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://var/ketenpoort.db";
/// `service.name` of exported spans by default.
pub const DEFAULT_SERVICE_NAME: &str = "ketenpoort";

/// All settings of one gateway process.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Listening socket and request limits.
    pub server: ServerConfig,
    /// Certificates and trust anchors.
    pub tls: TlsConfig,
    /// The database.
    pub store: StoreConfig,
    /// How long deliveries wait for their recipient.
    pub delivery: DeliveryConfig,
    /// Files holding the partner registry and the exchange policy.
    pub files: FilesConfig,
    /// The audit log: keys, checkpoints, tokens.
    pub audit: AuditConfig,
    /// The operators' metrics and health endpoint.
    pub metrics: MetricsConfig,
    /// Export of the per-request spans to an OpenTelemetry collector.
    pub telemetry: TelemetryConfig,
}

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
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            expire_after_days: 30,
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
    /// Days an audit record is kept; older records are removed hourly, after a signed
    /// checkpoint at the cut keeps the rest verifiable. By default 0: keep everything.
    pub retention_days: u64,
}

/// Why the settings could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The settings file could not be read or parsed.
    #[error(transparent)]
    File(#[from] FileError),
    /// One or more values are unusable; each line names the key and what to fix.
    #[error("invalid settings in {path}:\n  {}", .problems.join("\n  "))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// One line per problem.
        problems: Vec<String>,
    },
}

// === impl Config ===

impl Config {
    /// Reads settings from `path`. When `required` is false and the file does not exist, the
    /// defaults are used.
    pub fn load(path: &Path, required: bool) -> Result<Self, ConfigError> {
        let config: Config = if !required && !path.exists() {
            Config::default()
        } else {
            read_toml(path)?.1
        };
        config.validate(path)?;
        Ok(config)
    }

    /// Checks every value and reports all problems at once.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if self.server.max_message_bytes < 1024 {
            problems.push(format!(
                "server.max_message_bytes = {} is too small: use at least 1024",
                self.server.max_message_bytes
            ));
        }
        if self.server.handshake_timeout_secs == 0 {
            problems.push("server.handshake_timeout_secs must be at least 1".to_string());
        }
        if !self
            .audit
            .subject_keys
            .contains_key(&self.audit.active_subject_key)
        {
            problems.push(format!(
                "audit.active_subject_key = {:?} is not a key of audit.subject_keys",
                self.audit.active_subject_key
            ));
        }
        if self.audit.checkpoint_every_records == 0 || self.audit.checkpoint_every_secs == 0 {
            problems.push(
                "audit.checkpoint_every_records and audit.checkpoint_every_secs must be at least 1"
                    .to_string(),
            );
        }
        if let Some(endpoint) = self
            .telemetry
            .otlp_endpoint
            .as_deref()
            .filter(|e| !e.is_empty())
        {
            if let Err(reason) = check_otlp_endpoint(endpoint) {
                problems.push(format!("telemetry.otlp_endpoint = {endpoint:?} {reason}"));
            }
        }
        if self.telemetry.service_name.trim().is_empty() {
            problems.push("telemetry.service_name must not be empty".to_string());
        }
        if Backend::of_url(&self.store.url).is_err() {
            problems.push(format!(
                "store.url must start with \"sqlite:\" (for example \"{DEFAULT_DATABASE_URL}\") \
                 or \"postgres://\" (for example \"postgres://ketenpoort@db.internal/ketenpoort\")"
            ));
        }
        for (key, value) in [
            ("tls.trust_anchors", &self.tls.trust_anchors),
            ("tls.certificate", &self.tls.certificate),
            ("tls.private_key", &self.tls.private_key),
            ("files.partners", &self.files.partners),
            ("files.policy", &self.files.policy),
        ] {
            if value.as_os_str().is_empty() {
                problems.push(format!("{key} must name a file"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid {
                path: path.into(),
                problems,
            })
        }
    }

    /// Settings for a gateway confined to `dir`, for tests and benchmarks: loopback ports
    /// chosen by the system (gRPC and metrics), the database in `dir`, the development PKI
    /// (certificates, audit keys) already in `pki`, partners from `partners`, and the policy
    /// from `config/policy.toml`.
    pub fn local(dir: &Path, pki: &Path, partners: PathBuf) -> Self {
        let mut config = Config::default();
        config.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.metrics.listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        config.tls = TlsConfig {
            trust_anchors: pki.join("ca.pem"),
            certificate: pki.join("gateway.pem"),
            private_key: pki.join("gateway.key"),
            dev_pki_dir: None,
        };
        config.audit.signing_key = pki.join("audit-signing.key");
        config.audit.subject_keys =
            [("dev-1".to_string(), pki.join("audit-subject-dev-1.key"))].into();
        config.store.url = format!("sqlite://{}", dir.join("gateway.db").display());
        config.files.partners = partners;
        config
    }

    /// The development PKI directory, if one should be created on start.
    pub fn dev_pki_dir(&self) -> Option<&Path> {
        self.tls
            .dev_pki_dir
            .as_deref()
            .filter(|dir| !dir.as_os_str().is_empty())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_the_embedded_defaults() {
        let config: Config = toml::from_str("").unwrap();
        assert_eq!(config.server.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.server.max_message_bytes, DEFAULT_MAX_MESSAGE_BYTES);
        assert_eq!(config.store.url, DEFAULT_DATABASE_URL);
        assert_eq!(config.dev_pki_dir(), Some(Path::new(DEFAULT_DEV_PKI_DIR)));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<Config>("[server]\nlisten_on = \"x\"").unwrap_err();
        assert!(err.to_string().contains("listen_on"), "{err}");
    }

    #[test]
    fn validation_reports_every_problem() {
        let mut config = Config::default();
        config.server.max_message_bytes = 10;
        config.store.url = "mysql://x".into();
        let err = config
            .validate(Path::new("k.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.max_message_bytes"), "{err}");
        assert!(err.contains("store.url"), "{err}");
    }

    #[test]
    fn trace_export_is_off_unless_an_endpoint_is_given() {
        let config: Config = toml::from_str("").unwrap();
        assert_eq!(config.telemetry.otlp_endpoint, None);
        assert_eq!(config.telemetry.service_name, DEFAULT_SERVICE_NAME);
        let config: Config =
            toml::from_str("[telemetry]\notlp_endpoint = \"http://127.0.0.1:4317\"").unwrap();
        config.validate(Path::new("k.toml")).unwrap();
    }

    #[test]
    fn a_bad_otlp_endpoint_is_named_with_its_key() {
        for bad in [
            "127.0.0.1:4317",
            "not a url",
            "https://collector:4317",
            "http://",
        ] {
            let mut config = Config::default();
            config.telemetry.otlp_endpoint = Some(bad.into());
            let err = config
                .validate(Path::new("k.toml"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("telemetry.otlp_endpoint"), "{bad}: {err}");
        }
    }
}
