//! The TLS side of identity: a rustls server configuration that demands a client certificate
//! chaining to the trust anchors *and* registered for a partner, and the mapping of such a
//! certificate to the caller's [`PeerIdentity`] (the accept loop is in
//! [`super::connections`]).
//!
//! Refusals happen inside the handshake, so a connection without a certificate, with one from
//! another CA, or with a valid but unregistered certificate never reaches a gRPC handler.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use arc_swap::ArcSwap;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error as TlsError, RootCertStore,
    ServerConfig, SignatureScheme,
    client::danger::HandshakeSignatureValid,
    pki_types::{CertificateDer, UnixTime},
    server::{
        WebPkiClientVerifier,
        danger::{ClientCertVerified, ClientCertVerifier},
    },
};

use super::PeerIdentity;
use crate::{
    certificate::{
        CertInfo, CertificateError as CertFileError, read_certificates, read_private_key,
    },
    clock::{now_ms, unix_ms},
    ids::CertFingerprint,
    registry::{CertState, Registry, SharedRegistry},
};

/// Where the TLS material is: the trust anchors partner certificates must chain to, and the
/// gateway's own certificate chain and private key (PEM files).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// CA certificates that partner certificates must chain to.
    pub trust_anchors: PathBuf,
    /// The gateway's server certificate chain.
    pub certificate: PathBuf,
    /// The private key of the server certificate.
    pub private_key: PathBuf,
}

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A certificate or key file is unusable.
    #[error(transparent)]
    File(#[from] CertFileError),
    /// rustls refused the trust anchors, certificate or key.
    #[error("TLS configuration: {0}")]
    Rustls(String),
}

/// Why a presented client certificate is not accepted, beyond chain validation.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Unrecognised {
    /// No partner has this certificate registered.
    #[error("certificate {0} is not registered for any partner")]
    NotRegistered(CertFingerprint),
    /// The certificate's subject serialNumber names another OIN than the partner's.
    #[error("certificate {0} carries OIN {1:?} but is registered for a partner with OIN {2}")]
    OinMismatch(CertFingerprint, Option<String>, String),
    /// The certificate was revoked, or retired and its retirement time has passed.
    #[error("certificate {0} is {1:?} and no longer accepted")]
    NoLongerAccepted(CertFingerprint, CertState),
    /// The partner the certificate belongs to is suspended.
    #[error("certificate {0} belongs to suspended partner {1}")]
    Suspended(CertFingerprint, String),
}

/// A client certificate verifier that accepts only registered partner certificates.
#[derive(Debug)]
struct RegisteredPartnerVerifier {
    chain: Arc<dyn ClientCertVerifier>,
    registry: SharedRegistry,
}

/// The TLS configuration in force; replaced whole when trust anchors are reloaded.
pub type SharedServerConfig = Arc<ArcSwap<ServerConfig>>;

/// A verifier of certificate chains against the trust anchors in a PEM file, without the
/// registry check: for vetting a certificate before it is registered.
pub fn chain_verifier(trust_anchors: &Path) -> Result<Arc<dyn ClientCertVerifier>, TlsSetupError> {
    super::install_crypto_provider();
    let mut roots = RootCertStore::empty();
    for anchor in read_certificates(trust_anchors)? {
        roots
            .add(anchor)
            .map_err(|e| TlsSetupError::Rustls(format!("{}: {e}", trust_anchors.display())))?;
    }
    WebPkiClientVerifier::builder(Arc::new(roots))
        .build()
        .map_err(|e| TlsSetupError::Rustls(e.to_string()))
}

/// Builds the rustls server configuration from PEM files: trust anchors for client
/// certificates, and the gateway's own certificate chain and key. Only HTTP/2 is offered;
/// sessions are never resumed.
pub fn server_config(
    files: &TlsFiles,
    registry: SharedRegistry,
) -> Result<ServerConfig, TlsSetupError> {
    let chain = chain_verifier(&files.trust_anchors)?;
    let verifier = Arc::new(RegisteredPartnerVerifier { chain, registry });
    let mut config = ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            read_certificates(&files.certificate)?,
            read_private_key(&files.private_key)?,
        )
        .map_err(|e| TlsSetupError::Rustls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    // No session resumption: a resumed session would skip the registry check and the
    // certificate's validity, so every connection presents and proves its certificate anew.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(config)
}

/// Identifies the partner behind a chain-validated client certificate.
pub fn identify(registry: &Registry, der: &[u8]) -> Result<PeerIdentity, Unrecognised> {
    let fingerprint = CertFingerprint::of_der(der);
    let (partner, certificate) = registry
        .certificate(&fingerprint)
        .ok_or(Unrecognised::NotRegistered(fingerprint))?;
    if !certificate.accepted_at(now_ms()) {
        return Err(Unrecognised::NoLongerAccepted(
            fingerprint,
            certificate.state,
        ));
    }
    let info = CertInfo::from_der(der).ok();
    let expires_at = info.as_ref().map(|info| unix_ms(info.not_after));
    let cert_oin = info.and_then(|info| info.oin);
    if cert_oin.as_ref() != Some(&partner.oin) {
        return Err(Unrecognised::OinMismatch(
            fingerprint,
            cert_oin.map(|o| o.to_string()),
            partner.oin.to_string(),
        ));
    }
    if !partner.is_active() {
        return Err(Unrecognised::Suspended(fingerprint, partner.id.clone()));
    }
    Ok(PeerIdentity {
        oin: partner.oin.clone(),
        fingerprint,
        expires_at,
    })
}

// === impl RegisteredPartnerVerifier ===

impl ClientCertVerifier for RegisteredPartnerVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.chain.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, TlsError> {
        self.chain
            .verify_client_cert(end_entity, intermediates, now)?;
        match identify(&self.registry.load(), end_entity) {
            Ok(_) => Ok(ClientCertVerified::assertion()),
            Err(reason) => {
                tracing::info!(reason = %reason, "client certificate refused");
                Err(TlsError::InvalidCertificate(
                    CertificateError::ApplicationVerificationFailure,
                ))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.chain.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.chain.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chain.supported_verify_schemes()
    }
}
