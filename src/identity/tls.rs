//! The TLS side of identity: a rustls server configuration that demands a client certificate
//! chaining to the trust anchors *and* registered for a partner, and the accept loop that
//! turns TCP connections into [`PartnerConnection`]s carrying the caller's [`PeerIdentity`].
//!
//! Refusals happen inside the handshake, so a connection without a certificate, with one from
//! another CA, or with a valid but unregistered certificate never reaches a gRPC handler.

use std::{
    collections::HashMap,
    future::Future,
    io,
    path::Path,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use arc_swap::ArcSwap;
use parking_lot::Mutex;

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
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::mpsc,
};
use tokio_rustls::{TlsAcceptor, server::TlsStream};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tonic::transport::server::Connected;

use super::PeerIdentity;
use crate::{
    certificate::{
        CertInfo, CertificateError as CertFileError, read_certificates, read_private_key,
    },
    clock::now_ms,
    ids::CertFingerprint,
    registry::{Registry, SharedRegistry},
    telemetry,
};

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
    NoLongerAccepted(CertFingerprint, crate::registry::CertState),
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

/// An established mutual-TLS connection of an identified partner. It ends with an error
/// as soon as its certificate is no longer accepted (see [`Connections::close_unaccepted`]).
pub struct PartnerConnection {
    stream: TlsStream<TcpStream>,
    peer: PeerIdentity,
    closed: Pin<Box<WaitForCancellationFutureOwned>>,
    _registration: Registration,
}

/// The open partner connections, so that revoking a certificate or suspending a partner
/// also ends the connections already made with it.
#[derive(Debug, Default)]
pub struct Connections {
    next: AtomicU64,
    open: Mutex<HashMap<u64, (CertFingerprint, CancellationToken)>>,
}

/// Removes a connection from the table when it ends.
struct Registration {
    id: u64,
    table: Arc<Connections>,
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
/// certificates, and the gateway's own certificate chain and key. Only HTTP/2 is offered.
pub fn server_config(
    trust_anchors: &Path,
    certificate: &Path,
    private_key: &Path,
    registry: SharedRegistry,
) -> Result<ServerConfig, TlsSetupError> {
    let chain = chain_verifier(trust_anchors)?;
    let verifier = Arc::new(RegisteredPartnerVerifier { chain, registry });
    let mut config = ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            read_certificates(certificate)?,
            read_private_key(private_key)?,
        )
        .map_err(|e| TlsSetupError::Rustls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
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
    let cert_oin = CertInfo::from_der(der).ok().and_then(|info| info.oin);
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
    })
}

/// Accepts TCP connections and completes TLS handshakes concurrently, yielding identified
/// partner connections until `shutdown` is cancelled. Failed handshakes are logged and dropped.
pub fn incoming(
    listener: TcpListener,
    config: SharedServerConfig,
    registry: SharedRegistry,
    connections: Arc<Connections>,
    handshake_timeout: Duration,
    shutdown: CancellationToken,
) -> ReceiverStream<io::Result<PartnerConnection>> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let (tcp, addr) = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = TlsAcceptor::from(config.load_full());
            let (registry, connections, tx) = (registry.clone(), connections.clone(), tx.clone());
            tokio::spawn(async move {
                let handshake = tokio::time::timeout(handshake_timeout, acceptor.accept(tcp));
                let stream = match handshake.await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => {
                        telemetry::handshake_failure(failure_reason(&e));
                        tracing::info!(peer.addr = %addr, error = %e, "TLS handshake refused");
                        return;
                    }
                    Err(_) => {
                        telemetry::handshake_failure("timeout");
                        tracing::info!(peer.addr = %addr, "TLS handshake timed out");
                        return;
                    }
                };
                let peer = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|certs| certs.first())
                    .map(|der| identify(&registry.load(), der));
                match peer {
                    Some(Ok(peer)) => {
                        tracing::debug!(peer.addr = %addr, client.oin = %peer.oin, "partner connected");
                        let (registration, token) = connections.register(peer.fingerprint);
                        let connection = PartnerConnection {
                            stream,
                            peer,
                            closed: Box::pin(token.cancelled_owned()),
                            _registration: registration,
                        };
                        let _ = tx.send(Ok(connection)).await;
                    }
                    Some(Err(e)) => {
                        tracing::info!(peer.addr = %addr, error = %e, "partner refused")
                    }
                    None => tracing::info!(peer.addr = %addr, "no client certificate"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
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

/// A short code for why a handshake failed, for metrics labels.
fn failure_reason(error: &io::Error) -> &'static str {
    let Some(tls) = error.get_ref().and_then(|e| e.downcast_ref::<TlsError>()) else {
        return "io";
    };
    match tls {
        TlsError::NoCertificatesPresented => "no_certificate",
        TlsError::InvalidCertificate(CertificateError::UnknownIssuer) => "unknown_ca",
        TlsError::InvalidCertificate(CertificateError::Expired) => "expired",
        TlsError::InvalidCertificate(CertificateError::NotValidYet) => "not_yet_valid",
        TlsError::InvalidCertificate(CertificateError::ApplicationVerificationFailure) => {
            "not_registered_or_revoked"
        }
        TlsError::InvalidCertificate(_) => "bad_certificate",
        TlsError::AlertReceived(_) => "client_alert",
        _ => "protocol",
    }
}

// === impl Connections ===

impl Connections {
    fn register(
        self: &Arc<Self>,
        fingerprint: CertFingerprint,
    ) -> (Registration, CancellationToken) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let token = CancellationToken::new();
        self.open.lock().insert(id, (fingerprint, token.clone()));
        let registration = Registration {
            id,
            table: self.clone(),
        };
        (registration, token)
    }

    /// Ends every open connection whose certificate `registry` no longer accepts (revoked,
    /// retired past its time, unregistered, or of a suspended partner). Returns how many.
    pub fn close_unaccepted(&self, registry: &Registry) -> usize {
        let now = crate::clock::now_ms();
        let open = self.open.lock();
        let mut closed = 0;
        for (fingerprint, token) in open.values() {
            let accepted = registry
                .certificate(fingerprint)
                .is_some_and(|(partner, cert)| partner.is_active() && cert.accepted_at(now));
            if !accepted && !token.is_cancelled() {
                tracing::info!(certificate = %fingerprint, "closing a connection whose certificate is no longer accepted");
                token.cancel();
                closed += 1;
            }
        }
        closed
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.table.open.lock().remove(&self.id);
    }
}

// === impl PartnerConnection ===

impl PartnerConnection {
    fn check_open(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        match self.closed.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the client certificate is no longer accepted",
            )),
            Poll::Pending => Ok(()),
        }
    }
}

impl Connected for PartnerConnection {
    type ConnectInfo = PeerIdentity;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.peer.clone()
    }
}

impl AsyncRead for PartnerConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.check_open(cx)?;
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for PartnerConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.check_open(cx)?;
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.check_open(cx)?;
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
