//! Typed gateway settings (`config/ketenpoort.toml`), their defaults, and validation that
//! reports every problem with its key before any socket opens.
//!
//! Every field has a default, so `ketenpoort serve` on a fresh clone runs without a settings
//! file: it listens on 127.0.0.1:8443, keeps its database in `var/ketenpoort.db`, reads the
//! partners and policy from `config/`, and creates a development PKI in `var/dev-pki/`.
//! Relative paths are taken from the working directory.

use std::path::{Path, PathBuf};

use serde::Deserialize;

mod console;
mod limits;
mod sections;

pub use console::ConsoleConfig;
pub use limits::LimitsConfig;

pub use sections::{
    AuditConfig, DeliveryConfig, FilesConfig, MetricsConfig, ServerConfig, StoreConfig,
    TelemetryConfig, TlsConfig, check_otlp_endpoint,
};

use crate::{
    database::Backend,
    toml_file::{FileError, read_toml},
};

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
    /// The privacy officers' web console (off by default).
    pub console: ConsoleConfig,
    /// What one connection or partner may cost.
    pub limits: LimitsConfig,
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
        if self.delivery.lease_secs == 0 {
            problems.push("delivery.lease_secs must be at least 1".to_string());
        }
        if self.delivery.idempotency_window_days == 0 {
            problems.push(
                "delivery.idempotency_window_days must be at least 1: a resend must still be recognised"
                    .to_string(),
            );
        }
        for (key, value) in [
            (
                "server.max_subscriptions_per_partner",
                self.server.max_subscriptions_per_partner as u64,
            ),
            (
                "server.max_handshakes_in_progress",
                self.server.max_handshakes_in_progress as u64,
            ),
            (
                "server.max_streams_per_connection",
                u64::from(self.server.max_streams_per_connection),
            ),
            (
                "server.request_timeout_secs",
                self.server.request_timeout_secs,
            ),
            (
                "server.http2_keepalive_secs",
                self.server.http2_keepalive_secs,
            ),
        ] {
            if value == 0 {
                problems.push(format!("{key} must be at least 1"));
            }
        }
        problems.extend(self.limits.problems());
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
        problems.extend(self.console.problems());
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
    #[cfg(any(test, feature = "test-util"))]
    pub fn local(dir: &Path, pki: &Path, partners: PathBuf) -> Self {
        let mut config = Config::default();
        config.server.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        config.metrics.listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
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
        // Tests and benchmarks load the gateway harder than a partner may; the tests of the
        // limits set their own.
        config.limits.send_per_second = 100_000;
        config.limits.send_burst = 100_000;
        config.limits.send_in_flight = 10_000;
        config.limits.handshakes_per_second_per_address = 10_000;
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

#[cfg(test)]
mod tests;
