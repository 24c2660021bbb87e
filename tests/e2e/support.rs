//! The test harness: a real gateway on 127.0.0.1 with a PKI generated at test time, the LVV
//! default policy from `config/`, and a registry mirroring `config/partners.toml` whose
//! certificates are the freshly generated ones.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use ketenpoort::certificate::{read_certificates, read_private_key};
use ketenpoort::{
    api::{
        client::{ClientTls, payload_from_json},
        proto::{
            AckRequest, SendReceipt, SendRequest, SubscribeRequest, SubscribeResponse,
            signal_service_client::SignalServiceClient,
        },
    },
    catalogue::Catalogue,
    clock::Clock,
    config::Config,
    identity::dev_pki::DevCa,
    registry::{self, PartnerDef},
    server::{self, Gateway},
    store::Store,
};
use rustls::{ClientConfig, RootCertStore, pki_types::ServerName};
use tempfile::TempDir;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_rustls::TlsConnector;
use tokio_stream::StreamExt;
use tonic::{Streaming, transport::Channel};

/// A running gateway and everything needed to talk to it.
pub struct Harness {
    pub dir: TempDir,
    pub partners: Vec<PartnerDef>,
    pub catalogue: Catalogue,
    config: Config,
    gateway: Option<Gateway>,
    /// Further gateways on the same database and files.
    replicas: Vec<Gateway>,
    /// The gateway's clock: real time, moved ahead when a test says so.
    pub clock: Clock,
}

/// Extra certificates registered for a partner, beside its own.
#[derive(Default)]
pub struct Options {
    pub extra_certificates: Vec<(String, PathBuf)>,
}

impl Harness {
    /// Starts a gateway with the default policy and a fresh PKI.
    pub async fn start() -> Harness {
        Self::start_with(|_, _| Options::default()).await
    }

    /// Starts a gateway; `prepare` may issue further certificates with the test CA before the
    /// registry is written, and returns which to register.
    pub async fn start_with(prepare: impl FnOnce(&DevCa, &Path) -> Options) -> Harness {
        Self::launch(Vec::new(), prepare).await
    }

    /// Starts a gateway whose registry holds `extra` endpoints after the default ones, each with
    /// its own test-time certificate.
    pub async fn start_with_partners(extra: Vec<PartnerDef>) -> Harness {
        Self::launch(extra, |_, _| Options::default()).await
    }

    /// Starts a gateway whose store is the PostgreSQL database at `url`.
    pub async fn start_on(url: &str) -> Harness {
        Self::launch_on(Some(url), Vec::new(), |_, _| Options::default(), |_| {}).await
    }

    async fn launch(
        extra: Vec<PartnerDef>,
        prepare: impl FnOnce(&DevCa, &Path) -> Options,
    ) -> Harness {
        Self::launch_on(None, extra, prepare, |_| {}).await
    }

    /// Starts a gateway whose settings `tune` adjusts first.
    pub async fn start_tuned(tune: impl FnOnce(&mut Config)) -> Harness {
        Self::launch_on(None, Vec::new(), |_, _| Options::default(), tune).await
    }

    async fn launch_on(
        database: Option<&str>,
        extra: Vec<PartnerDef>,
        prepare: impl FnOnce(&DevCa, &Path) -> Options,
        tune: impl FnOnce(&mut Config),
    ) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let pki = dir.path().join("pki");
        let mut partners = registry::load_definitions(Path::new("config/partners.toml")).unwrap();
        partners.extend(extra);
        ketenpoort::identity::dev_pki::ensure(&pki, &partners, false).unwrap();
        let ca = DevCa::load(&pki).unwrap();
        let options = prepare(&ca, &pki);
        let partners_file = dir.path().join("partners.toml");
        std::fs::write(&partners_file, registry_toml(&partners, &pki, &options)).unwrap();
        let mut config = Config::local(dir.path(), &pki, partners_file);
        if let Some(url) = database {
            config.store.url = url.to_string();
        }
        // Small, so that tests cross several signed checkpoints.
        config.audit.checkpoint_every_records = 4;
        config.files.policy = dir.path().join("policy.toml");
        std::fs::copy("config/policy.toml", &config.files.policy).unwrap();
        tune(&mut config);
        let clock = Clock::shifted();
        let gateway = server::start_with(&config, clock.clone()).await.unwrap();
        Harness {
            clock,
            dir,
            partners,
            catalogue: Catalogue::load().unwrap(),
            config,
            gateway: Some(gateway),
            replicas: Vec::new(),
        }
    }

    /// Starts another gateway on the same database, PKI and files, as a replica behind a load
    /// balancer would be; returns its port.
    pub async fn start_replica(&mut self) -> u16 {
        let mut config = self.config.clone();
        config.server.listen = "127.0.0.1:0".parse().unwrap();
        config.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
        let replica = server::start(&config).await.unwrap();
        let port = replica.local_addr().port();
        self.replicas.push(replica);
        port
    }

    pub fn pki(&self) -> PathBuf {
        self.dir.path().join("pki")
    }

    pub fn port(&self) -> u16 {
        self.gateway().local_addr().port()
    }

    pub fn endpoint(&self) -> String {
        format!("https://localhost:{}", self.port())
    }

    /// The gateway's SQLite database file.
    pub fn database(&self) -> PathBuf {
        self.dir.path().join("gateway.db")
    }

    /// A request carrying a development JWT for the person `sub` of partner `id`.
    pub fn with_token<T>(&self, id: &str, sub: &str, message: T) -> tonic::Request<T> {
        let key = self.pki().join(format!("{id}-jwt.key"));
        let token = ketenpoort::identity::person::mint(&key, sub, "ketenpoort", 5).unwrap();
        let mut request = tonic::Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        request
    }

    /// The harness's own copy of the default policy, which a test may change and reload.
    pub fn policy_file(&self) -> &Path {
        &self.config.files.policy
    }

    pub fn gateway(&self) -> &Gateway {
        self.gateway.as_ref().unwrap()
    }

    pub fn store(&self) -> &Store {
        self.gateway().store()
    }

    /// The OIN of a partner of the default registry.
    pub fn oin(&self, id: &str) -> String {
        self.partners
            .iter()
            .find(|p| p.id == id)
            .unwrap_or_else(|| panic!("no partner {id}"))
            .oin
            .to_string()
    }

    /// A client acting as partner `id`, with its test-time certificate.
    pub async fn client(&self, id: &str) -> SignalServiceClient<Channel> {
        SignalServiceClient::new(self.channel(id).await)
    }

    /// A mutual-TLS channel acting as partner `id`, for any service.
    pub async fn channel(&self, id: &str) -> Channel {
        self.channel_on(self.port(), id).await
    }

    /// A mutual-TLS channel acting as partner `id` to the gateway (or replica) on `port`.
    pub async fn channel_on(&self, port: u16, id: &str) -> Channel {
        ClientTls::dev(&self.pki(), id)
            .channel(&format!("https://localhost:{port}"))
            .await
            .unwrap()
    }

    /// Stops the gateway and starts it again on the same database and port.
    pub async fn restart(&mut self) {
        let port = self.port();
        self.gateway.take().unwrap().shutdown().await;
        self.config.server.listen = format!("127.0.0.1:{port}").parse().unwrap();
        self.gateway = Some(
            server::start_with(&self.config, self.clock.clone())
                .await
                .unwrap(),
        );
    }

    /// Sends [`INTAKE`] for purpose INTAKE and returns the receipt.
    pub async fn send_intake(
        &self,
        client: &mut SignalServiceClient<Channel>,
        key: &str,
        recipients: &[&str],
    ) -> SendReceipt {
        let request = self.request(key, "INTAKE", recipients, "Intake", INTAKE);
        client
            .send(request)
            .await
            .unwrap()
            .into_inner()
            .receipt
            .unwrap()
    }

    /// A `Send` request for catalogue signal `signal` given as JSON.
    pub fn request(
        &self,
        key: &str,
        purpose: &str,
        recipients: &[&str],
        signal: &str,
        json: &str,
    ) -> SendRequest {
        SendRequest {
            idempotency_key: key.into(),
            case_ref: "LVV-TEST-0001".into(),
            purpose: purpose.into(),
            recipients: recipients.iter().map(|id| self.oin(id)).collect(),
            payload: Some(payload_from_json(&self.catalogue, signal, json).unwrap()),
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        // Gateways not shut down explicitly end with the test's runtime.
        self.gateway.take();
        self.replicas.clear();
    }
}

fn registry_toml(partners: &[PartnerDef], pki: &Path, options: &Options) -> String {
    let mut out = String::new();
    for p in partners {
        let mut certs = vec![pki.join(format!("{}.pem", p.id))];
        certs.extend(
            options
                .extra_certificates
                .iter()
                .filter(|(id, _)| *id == p.id)
                .map(|(_, path)| path.clone()),
        );
        let quoted = |paths: &[PathBuf]| -> String {
            let quoted: Vec<String> = paths
                .iter()
                .map(|c| format!("{:?}", c.display().to_string()))
                .collect();
            quoted.join(", ")
        };
        let jwt_keys: Vec<PathBuf> = p
            .jwt_keys
            .iter()
            .map(|_| pki.join(format!("{}-jwt.pub.pem", p.id)))
            .collect();
        let scope: Vec<String> = p.audit_scope.iter().map(|id| format!("{id:?}")).collect();
        let purposes: Vec<String> = p.purposes.iter().map(|c| format!("{c:?}")).collect();
        writeln!(
            out,
            "[[partner]]\nid = {:?}\noin = \"{}\"\nname = {:?}\nrole = \"{}\"\npurposes = [{}]\ncertificates = [{}]\njwt_keys = [{}]\naudit_scope = [{}]\n",
            p.id,
            p.oin,
            p.name,
            p.role,
            purposes.join(", "),
            quoted(&certs),
            quoted(&jwt_keys),
            scope.join(", ")
        )
        .unwrap();
        if let Some(url) = &p.logboek_url {
            writeln!(out, "logboek_url = {url:?}\n").unwrap();
        }
    }
    out
}

/// A fully populated intake for a person with a BSN.
pub const INTAKE: &str = include_str!("../fixtures/intake.json");

/// Opens a subscription.
pub async fn subscribe(client: &mut SignalServiceClient<Channel>) -> Streaming<SubscribeResponse> {
    client
        .subscribe(SubscribeRequest {})
        .await
        .unwrap()
        .into_inner()
}

/// An `Ack` for one delivery.
pub fn ack_request(delivery_id: impl Into<String>) -> AckRequest {
    AckRequest {
        delivery_ids: vec![delivery_id.into()],
    }
}

/// The next delivery of a subscription, passing over the caught-up marker, or `None` when
/// none arrives within `wait`.
pub async fn next_delivery(
    stream: &mut Streaming<SubscribeResponse>,
    wait: Duration,
) -> Option<ketenpoort::api::proto::Delivery> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(SubscribeResponse {
                delivery: Some(delivery),
                ..
            }))) => return Some(delivery),
            Ok(Some(Ok(_marker))) => continue,
            Ok(Some(Err(status))) => panic!("stream failed: {status:?}"),
            Ok(None) | Err(_) => return None,
        }
    }
}

/// Writes a certificate issued by `ca` for `oin`, valid from `not_before` for `validity`.
pub fn write_cert(
    ca: &DevCa,
    dir: &Path,
    name: &str,
    oin: &str,
    not_before: SystemTime,
    validity: Duration,
) -> PathBuf {
    let issued = ca
        .issue_partner(&oin.parse().unwrap(), name, not_before, validity)
        .unwrap();
    let cert = dir.join(format!("{name}.pem"));
    std::fs::write(&cert, issued.cert_pem).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), issued.key_pem).unwrap();
    cert
}

/// Log lines of every gateway in this test process, captured at debug level.
#[derive(Clone, Default)]
pub struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogBuffer {
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Installs (once) a subscriber that captures every log line at debug level.
pub fn capture_logs() -> &'static LogBuffer {
    static BUFFER: std::sync::OnceLock<LogBuffer> = std::sync::OnceLock::new();
    BUFFER.get_or_init(|| {
        let buffer = LogBuffer::default();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug")
            .with_ansi(false)
            .with_writer(buffer.clone())
            .try_init();
        buffer
    })
}

/// Connects with raw TLS and HTTP/2, returning what the server sent first, or the TLS error.
pub async fn handshake(
    h: &Harness,
    identity: Option<(&str, &str)>,
) -> Result<Vec<u8>, rustls::Error> {
    handshake_on(h, h.port(), identity).await
}

/// [`handshake`] with the gateway (or replica) on `port`.
pub async fn handshake_on(
    h: &Harness,
    port: u16,
    identity: Option<(&str, &str)>,
) -> Result<Vec<u8>, rustls::Error> {
    let config = std::sync::Arc::new(client_config(h, identity));
    handshake_with(config, port).await.map(|(frame, _)| frame)
}

/// A rustls client configuration trusting the test CA, offering HTTP/2, with the client
/// certificate and key named in `identity` (files in the test PKI), or none.
pub fn client_config(h: &Harness, identity: Option<(&str, &str)>) -> ClientConfig {
    client_config_in(&h.pki(), identity)
}

/// [`client_config`] with the PKI in `pki`.
pub fn client_config_in(pki: &Path, identity: Option<(&str, &str)>) -> ClientConfig {
    ketenpoort::identity::install_crypto_provider();
    let mut roots = RootCertStore::empty();
    for ca in read_certificates(&pki.join("ca.pem")).unwrap() {
        roots.add(ca).unwrap();
    }
    let builder = ClientConfig::builder().with_root_certificates(roots);
    let mut config = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                read_certificates(&pki.join(cert)).unwrap(),
                read_private_key(&pki.join(key)).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    config
}

/// [`handshake`] with a given client configuration (and so its session cache): what the
/// server sent first and whether the session was resumed, or the TLS error.
pub async fn handshake_with(
    config: std::sync::Arc<ClientConfig>,
    port: u16,
) -> Result<(Vec<u8>, rustls::HandshakeKind), rustls::Error> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let server_name = ServerName::try_from("localhost").unwrap();
    let result: std::io::Result<(Vec<u8>, rustls::HandshakeKind)> = async {
        let mut tls = TlsConnector::from(config).connect(server_name, tcp).await?;
        tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await?;
        let mut buf = vec![0u8; 9];
        tls.read_exact(&mut buf).await?;
        let kind = tls.get_ref().1.handshake_kind();
        Ok((buf, kind.unwrap_or(rustls::HandshakeKind::Full)))
    }
    .await;
    result.map_err(|e| {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .cloned()
            // Dropped before or during the handshake.
            .unwrap_or_else(|| rustls::Error::General(e.to_string()))
    })
}

/// A plain HTTP GET against the gateway's metrics listener; returns status line and body.
pub async fn http_get(h: &Harness, path: &str) -> (String, String) {
    let addr = h.gateway().metrics_addr().expect("metrics are on in tests");
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (
        head.lines().next().unwrap_or_default().to_string(),
        body.to_string(),
    )
}

/// The bytes a receipt's signature covers, with its time moved by `shift_ms` (0 for the
/// receipt as given; anything else forges one).
pub fn receipt_bytes(receipt: &SendReceipt, shift_ms: i64) -> Vec<u8> {
    let oins: Vec<&str> = receipt
        .recipients
        .iter()
        .map(|r| r.recipient.as_str())
        .collect();
    let at = ketenpoort::api::unix_ms(receipt.accepted_at.as_ref().unwrap());
    ketenpoort::audit::receipt_message(
        &receipt.signal_id,
        &receipt.content_sha256,
        &oins,
        at + shift_ms,
        receipt.audit_sequence as i64,
    )
}
