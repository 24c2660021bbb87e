//! Wires the gateway together: loads and checks catalogue, registry and policy, prepares the
//! development PKI when asked, opens the store, and serves the gRPC services over mutual TLS.
//!
//! Everything that can be wrong with the configuration is found here, before the socket opens.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use arc_swap::ArcSwap;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;

use crate::{
    api::{
        AdminApi, AuditApi, MonitorApi, PolicyApi, SignalApi,
        proto::{
            admin_service_server::AdminServiceServer, audit_service_server::AuditServiceServer,
            monitor_service_server::MonitorServiceServer,
            policy_service_server::PolicyServiceServer, signal_service_server::SignalServiceServer,
        },
        span::RpcSpans,
    },
    audit::keys::{self, Signer, SubjectKeys},
    catalogue::{Catalogue, CatalogueError, DESCRIPTOR_SET},
    clock::Clock,
    config::Config,
    console::{self, ConsoleError},
    exchange::{
        Exchange, Parts,
        jobs::{self, Schedule},
        limits::SendLimits,
        retention::Forgetting,
    },
    identity::{
        self,
        connections::{self, ConnectionLimits, Connections},
        dev_pki::{self, DevPkiError},
        person::TokenRules,
        tls::{self, TlsFiles, TlsSetupError},
    },
    policy::{Policy, PolicyError},
    registry::{self, RegistryError},
    store::{Store, StoreError, WriterSettings, wakeups::Notifier},
    telemetry,
};

mod seed;

/// How long a peer gets to answer an HTTP/2 keepalive ping before it is disconnected.
const HTTP2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a request's body a peer may send before the gateway reads it (hyper's default
/// is 1 MiB). A `Send` too large is refused from its length prefix, but whatever the window
/// let through is still received and decrypted: with 1 MiB, a partner repeating 1.5 MiB
/// `Send`s made the gateway decrypt and copy a megabyte for each refusal. Signals are a few
/// kilobytes; one at the 1 MiB limit takes eight window updates.
const HTTP2_STREAM_WINDOW: u32 = 128 * 1024;
/// The same over all of one connection's requests: four streams' worth.
const HTTP2_CONNECTION_WINDOW: u32 = 4 * HTTP2_STREAM_WINDOW;
/// How long a shutdown waits for open requests before it stops them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A running gateway.
pub struct Gateway {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    console_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
    exchange: Arc<Exchange>,
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The embedded catalogue is unusable.
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    /// The registry is unusable.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The policy is refused.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The development PKI could not be made.
    #[error("development PKI: {0}")]
    DevPki(#[from] DevPkiError),
    /// TLS could not be configured.
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Audit key material is unusable.
    #[error("audit keys: {0}")]
    Keys(#[from] keys::KeyError),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The metrics listener could not start.
    #[error(transparent)]
    Metrics(#[from] telemetry::MetricsError),
    /// The privacy officers' console could not start.
    #[error(transparent)]
    Console(#[from] ConsoleError),
    /// Reflection could not be set up.
    #[error("gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// Starts a gateway with `config`; returns once it listens.
pub async fn start(config: &Config) -> Result<Gateway, StartError> {
    start_with_clock(config, Clock::system()).await
}

/// Starts a gateway whose use cases read the time from `clock`, for tests that move time
/// instead of sleeping.
#[cfg(any(test, feature = "test-util"))]
pub async fn start_with(config: &Config, clock: Clock) -> Result<Gateway, StartError> {
    start_with_clock(config, clock).await
}

async fn start_with_clock(config: &Config, clock: Clock) -> Result<Gateway, StartError> {
    identity::install_crypto_provider();
    let catalogue = Arc::new(Catalogue::load()?);
    let defs = registry::load_definitions(&config.files.partners)?;
    if let Some(dir) = config.dev_pki_dir() {
        let written = dev_pki::ensure(dir, &defs, false)?;
        if !written.is_empty() {
            tracing::info!(dir = %dir.display(), files = written.len(), "created development PKI");
        }
    }
    let policy = Policy::load(&config.files.policy, &catalogue)?;
    let policy_version = policy.version().to_string();
    let signer = Arc::new(Signer::load(&config.audit.signing_key)?);
    let subject_files: Vec<(String, PathBuf)> = config
        .audit
        .subject_keys
        .iter()
        .map(|(id, file)| (id.clone(), file.clone()))
        .collect();
    let subject_keys = SubjectKeys::load(&subject_files, &config.audit.active_subject_key)?;
    let notifier = Arc::new(Notifier::default());
    let settings = WriterSettings {
        erase_on_ack: config.delivery.erase_after_ack_secs == 0,
        signer,
        checkpoint_every_records: config.audit.checkpoint_every_records,
        checkpoint_every: Duration::from_secs(config.audit.checkpoint_every_secs),
    };
    let store = Store::open(&config.store.url, notifier.clone(), settings).await?;
    let registry = Arc::new(ArcSwap::from_pointee(
        seed::registry_from_store(&store, &config.files.partners, defs).await?,
    ));
    policy.check_registry(&config.files.policy, &registry.load())?;
    console::check(&config.console, &policy)?;
    let tls_files = TlsFiles {
        trust_anchors: config.tls.trust_anchors.clone(),
        certificate: config.tls.certificate.clone(),
        private_key: config.tls.private_key.clone(),
    };
    let tls_config = Arc::new(ArcSwap::from_pointee(tls::server_config(
        &tls_files,
        registry.clone(),
    )?));
    let connections = Arc::new(Connections::new(ConnectionLimits {
        handshake_timeout: Duration::from_secs(config.server.handshake_timeout_secs),
        max_handshakes_in_progress: config.server.max_handshakes_in_progress,
        max_connections: config.limits.max_connections,
        handshakes_per_second_per_address: config.limits.handshakes_per_second_per_address,
        tcp_keepalive: Duration::from_secs(config.limits.tcp_keepalive_secs),
        idle: Duration::from_secs(config.limits.connection_idle_secs),
        max_age: Duration::from_secs(config.limits.connection_max_age_secs),
    }));
    let listener = TcpListener::bind(config.server.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.server.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.server.listen,
        source,
    })?;
    let shutdown = CancellationToken::new();
    let incoming = connections::incoming(
        listener,
        tls_config.clone(),
        registry.clone(),
        connections.clone(),
        shutdown.clone(),
    );
    let exchange = Arc::new(Exchange::new(Parts {
        registry: registry.clone(),
        policy,
        policy_file: config.files.policy.clone(),
        catalogue,
        store: store.clone(),
        notifier,
        subject_keys,
        tokens: TokenRules {
            audience: config.audit.jwt_audience.clone(),
            max_lifetime: Duration::from_secs(config.audit.jwt_max_lifetime_secs),
        },
        connections,
        tls: tls_files.clone(),
        tls_config,
        shutdown: shutdown.clone(),
        clock,
        max_message_bytes: config.server.max_message_bytes,
        lease: Duration::from_secs(config.delivery.lease_secs),
        max_subscriptions_per_partner: config.server.max_subscriptions_per_partner,
        max_pending_per_receiver: config.limits.max_pending_per_receiver,
        sends: SendLimits::new(
            config.limits.send_per_second,
            config.limits.send_burst,
            config.limits.send_in_flight,
        ),
        forgetting: Forgetting {
            erase_after_ack: (config.delivery.erase_after_ack_secs > 0)
                .then(|| Duration::from_secs(config.delivery.erase_after_ack_secs)),
            idempotency_window: Duration::from_secs(
                config.delivery.idempotency_window_days * 86_400,
            ),
        },
    }));
    let days = |n: u64| (n > 0).then(|| Duration::from_secs(n * 86_400));
    jobs::spawn(
        &exchange,
        Schedule {
            expire_after: days(config.delivery.expire_after_days),
            retention: days(config.audit.retention_days),
        },
    );
    let metrics_addr = match config.metrics.listen {
        Some(listen) => {
            let max_pending = config.limits.max_pending_per_receiver;
            let (store, shutdown) = (store.clone(), shutdown.clone());
            Some(telemetry::serve(listen, store, registry, max_pending, shutdown).await?)
        }
        None => None,
    };
    let console_addr = console::serve(
        &config.console,
        exchange.clone(),
        &tls_files,
        shutdown.clone(),
    )
    .await?;
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<SignalServiceServer<SignalApi>>().await;
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    // tonic's own limit is a backstop a little above ours, so that a request just over ours
    // gets our INVALID_ARGUMENT naming the configured limit, and a far larger one is refused
    // from its length prefix (OUT_OF_RANGE) before it is decoded or recorded.
    let signals = SignalServiceServer::new(SignalApi::new(exchange.clone()))
        .max_decoding_message_size(config.server.max_message_bytes + 64 * 1024);
    let limits = &config.server;
    let router = Server::builder()
        .max_concurrent_streams(Some(limits.max_streams_per_connection))
        .initial_stream_window_size(Some(HTTP2_STREAM_WINDOW))
        .initial_connection_window_size(Some(HTTP2_CONNECTION_WINDOW))
        .http2_keepalive_interval(Some(Duration::from_secs(limits.http2_keepalive_secs)))
        .http2_keepalive_timeout(Some(HTTP2_KEEPALIVE_TIMEOUT))
        .timeout(Duration::from_secs(limits.request_timeout_secs))
        .layer(RpcSpans::new(exchange.clone()))
        .add_service(health_service)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?)
        .add_service(signals)
        .add_service(PolicyServiceServer::new(PolicyApi::new(exchange.clone())))
        .add_service(AuditServiceServer::new(AuditApi::new(exchange.clone())))
        .add_service(AdminServiceServer::new(AdminApi::new(exchange.clone())))
        .add_service(MonitorServiceServer::new(MonitorApi::new(exchange.clone())));
    let task = tokio::spawn(
        router.serve_with_incoming_shutdown(incoming, shutdown.clone().cancelled_owned()),
    );
    tracing::info!(%addr, policy.version = %policy_version, "gateway listening");
    Ok(Gateway {
        addr,
        metrics_addr,
        console_addr,
        shutdown,
        task,
        exchange,
    })
}

// === impl Gateway ===

impl Gateway {
    /// The address the gateway listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of the metrics and health endpoint, when it is on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The address of the privacy officers' console, when it is on.
    pub fn console_addr(&self) -> Option<SocketAddr> {
        self.console_addr
    }

    /// The gateway's store (for inspection in tests and tools).
    #[cfg(any(test, feature = "test-util"))]
    pub fn store(&self) -> &Store {
        self.exchange.store()
    }

    /// Expires deliveries unacknowledged for longer than `max_age` now (as the job started
    /// by `[delivery] expire_after_days` does each minute); returns how many.
    #[cfg(any(test, feature = "test-util"))]
    pub async fn expire_deliveries(
        &self,
        max_age: Duration,
    ) -> Result<u64, crate::exchange::ExchangeError> {
        self.exchange.expire_deliveries(max_age).await
    }

    /// Forgets settled signals and acknowledged copies now (as the job does each minute).
    #[cfg(any(test, feature = "test-util"))]
    pub async fn forget_now(
        &self,
    ) -> Result<crate::store::Forgotten, crate::exchange::ExchangeError> {
        self.exchange.forget().await
    }

    /// Removes audit records older than `retention` now (as the hourly job does).
    #[cfg(any(test, feature = "test-util"))]
    pub async fn prune_audit(
        &self,
        retention: Duration,
    ) -> Result<Option<crate::store::Pruned>, crate::exchange::ExchangeError> {
        self.exchange.prune_audit(retention).await
    }

    /// Version of the policy in force.
    pub fn policy_version(&self) -> String {
        self.exchange.policy().version().to_string()
    }

    /// Reads the policy file again and puts it in force if it passes every start-up check;
    /// otherwise the policy in force stays. Returns the version in force afterwards.
    pub fn reload_policy(&self) -> Result<String, PolicyError> {
        self.exchange.reload_policy()
    }

    /// Stops accepting, ends open streams, waits for requests in flight (at most
    /// [`SHUTDOWN_GRACE`]), and closes the store after its last commit.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        // Other replicas may take this gateway's streamed, unacknowledged deliveries at once.
        if let Err(e) = self.exchange.release_leases().await {
            tracing::warn!(error = %e, "stream leases not released; they end by themselves");
        }
        let mut task = self.task;
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "server ended with an error"),
            Ok(Err(e)) => tracing::warn!(error = %e, "server task failed"),
            Err(_) => {
                tracing::warn!("requests still open after the grace period; stopping them");
                task.abort();
            }
        }
        self.exchange.store().close().await;
        tracing::info!("gateway stopped");
    }
}
