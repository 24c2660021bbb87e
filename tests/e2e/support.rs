//! The test harness: a real gateway on 127.0.0.1 with a PKI generated at test time, the LVV
//! default policy from `config/`, and a registry mirroring `config/partners.toml` whose
//! certificates are the freshly generated ones.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use ketenpoort::{
    api::{
        client::{ClientTls, payload_from_json},
        proto::{
            AckRequest, SendReceipt, SendRequest, SubscribeRequest, SubscribeResponse,
            signal_service_client::SignalServiceClient,
        },
    },
    catalogue::Catalogue,
    config::Config,
    identity::dev_pki::DevCa,
    registry::{self, PartnerDef},
    server::{self, Gateway},
    store::Store,
};
use tempfile::TempDir;
use tokio_stream::StreamExt;
use tonic::{Streaming, transport::Channel};

/// A running gateway and everything needed to talk to it.
pub struct Harness {
    pub dir: TempDir,
    pub partners: Vec<PartnerDef>,
    pub catalogue: Catalogue,
    config: Config,
    gateway: Option<Gateway>,
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

    async fn launch(
        extra: Vec<PartnerDef>,
        prepare: impl FnOnce(&DevCa, &Path) -> Options,
    ) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let pki = dir.path().join("pki");
        let mut partners = registry::load_definitions(Path::new("config/partners.toml")).unwrap();
        partners.extend(extra);
        server::ensure_dev_pki(&pki, &partners, false).unwrap();
        let ca = DevCa::load(&pki).unwrap();
        let options = prepare(&ca, &pki);
        let partners_file = dir.path().join("partners.toml");
        std::fs::write(&partners_file, registry_toml(&partners, &pki, &options)).unwrap();
        let mut config = Config::default();
        config.server.listen = "127.0.0.1:0".parse().unwrap();
        config.tls.trust_anchors = pki.join("ca.pem");
        config.tls.certificate = pki.join("gateway.pem");
        config.tls.private_key = pki.join("gateway.key");
        config.tls.dev_pki_dir = None;
        config.store.url = format!("sqlite://{}", dir.path().join("gateway.db").display());
        config.files.partners = partners_file;
        config.files.policy = "config/policy.toml".into();
        let gateway = server::start(&config).await.unwrap();
        Harness {
            dir,
            partners,
            catalogue: Catalogue::load().unwrap(),
            config,
            gateway: Some(gateway),
        }
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

    fn gateway(&self) -> &Gateway {
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
        ClientTls::dev(&self.pki(), id)
            .connect(&self.endpoint())
            .await
            .unwrap()
    }

    /// Stops the gateway and starts it again on the same database and port.
    pub async fn restart(&mut self) {
        let port = self.port();
        self.gateway.take().unwrap().shutdown().await;
        self.config.server.listen = format!("127.0.0.1:{port}").parse().unwrap();
        self.gateway = Some(server::start(&self.config).await.unwrap());
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
        let certs: Vec<String> = certs
            .iter()
            .map(|c| format!("{:?}", c.display().to_string()))
            .collect();
        let purposes: Vec<String> = p.purposes.iter().map(|c| format!("{c:?}")).collect();
        writeln!(
            out,
            "[[partner]]\nid = {:?}\noin = \"{}\"\nname = {:?}\nrole = \"{}\"\npurposes = [{}]\ncertificates = [{}]\n",
            p.id,
            p.oin,
            p.name,
            p.role,
            purposes.join(", "),
            certs.join(", ")
        )
        .unwrap();
    }
    out
}

/// A fully populated intake for a person with a BSN.
pub const INTAKE: &str = r#"{
  "person": {
    "vNummer": "1234567890",
    "bsn": "123456782",
    "names": [{"givenNames": "Testa", "surname": "Persoon"}, {"givenNames": "T.", "surname": "Alias", "isAlias": true}],
    "birthDate": "1990-01-01",
    "nationalities": ["SOM"]
  },
  "intakeDate": "2026-11-20",
  "intakeLocation": "GM0344 LVV Utrecht",
  "participationAgreed": true
}"#;

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

/// The next message of a subscription, or `None` when none arrives within `wait`.
pub async fn next_delivery(
    stream: &mut Streaming<SubscribeResponse>,
    wait: Duration,
) -> Option<ketenpoort::api::proto::Delivery> {
    match tokio::time::timeout(wait, stream.next()).await {
        Ok(Some(Ok(message))) => message.delivery,
        Ok(Some(Err(status))) => panic!("stream failed: {status:?}"),
        Ok(None) | Err(_) => None,
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
