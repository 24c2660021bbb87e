//! The accept loop: TCP connections become [`PartnerConnection`]s carrying the caller's
//! [`PeerIdentity`] once the handshake succeeded, and every open connection is kept in
//! [`Connections`], so that revoking a certificate or suspending a partner also ends the
//! connections already made with it.

use std::{
    collections::HashMap,
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use parking_lot::Mutex;
use rustls::{CertificateError, Error as TlsError};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{Semaphore, mpsc},
};
use tokio_rustls::{TlsAcceptor, server::TlsStream};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tonic::transport::server::Connected;

use super::{
    PeerIdentity,
    tls::{SharedServerConfig, identify},
};
use crate::{
    ids::CertFingerprint,
    registry::{Registry, SharedRegistry},
    telemetry,
};
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
    open: Mutex<HashMap<u64, OpenConnection>>,
}

/// An open connection: its certificate, when that expires (Unix ms), and what closes it.
type OpenConnection = (CertFingerprint, Option<i64>, CancellationToken);

/// Removes a connection from the table when it ends.
struct Registration {
    id: u64,
    table: Arc<Connections>,
}

/// The bounds on TLS handshakes: how long one may take, and how many may be in progress.
#[derive(Debug, Clone, Copy)]
pub struct Handshakes {
    /// Time a client gets to complete the handshake.
    pub timeout: Duration,
    /// Handshakes in progress at once; a connection beyond that is dropped at once.
    pub max_in_progress: usize,
}

/// Accepts TCP connections and completes TLS handshakes concurrently, yielding identified
/// partner connections until `shutdown` is cancelled. Failed handshakes are logged and dropped.
pub fn incoming(
    listener: TcpListener,
    config: SharedServerConfig,
    registry: SharedRegistry,
    connections: Arc<Connections>,
    handshakes: Handshakes,
    shutdown: CancellationToken,
) -> ReceiverStream<io::Result<PartnerConnection>> {
    let (tx, rx) = mpsc::channel(64);
    let handshake_timeout = handshakes.timeout;
    let in_progress = Arc::new(Semaphore::new(handshakes.max_in_progress));
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
            // Before authentication a connection costs a task and a buffer: bounded, so that a
            // flood of TCP connections that never finish a handshake cannot grow without end.
            let Ok(permit) = in_progress.clone().try_acquire_owned() else {
                telemetry::handshake_failure("capacity");
                tracing::warn!(peer.addr = %addr, "too many TLS handshakes in progress; connection dropped");
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = TlsAcceptor::from(config.load_full());
            let (registry, connections, tx) = (registry.clone(), connections.clone(), tx.clone());
            tokio::spawn(async move {
                let handshake = tokio::time::timeout(handshake_timeout, acceptor.accept(tcp));
                let handshake = handshake.await;
                drop(permit);
                let stream = match handshake {
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
                        let (registration, token) =
                            connections.register(peer.fingerprint, peer.expires_at);
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
        expires_at: Option<i64>,
    ) -> (Registration, CancellationToken) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let token = CancellationToken::new();
        let entry = (fingerprint, expires_at, token.clone());
        self.open.lock().insert(id, entry);
        let registration = Registration {
            id,
            table: self.clone(),
        };
        (registration, token)
    }

    /// Ends every open connection whose certificate `registry` no longer accepts (revoked,
    /// retired past its time, unregistered, or of a suspended partner), or that has expired.
    /// Returns how many.
    pub fn close_unaccepted(&self, registry: &Registry) -> usize {
        let now = crate::clock::now_ms();
        let open = self.open.lock();
        let mut closed = 0;
        for (fingerprint, expires_at, token) in open.values() {
            let accepted = registry
                .certificate(fingerprint)
                .is_some_and(|(partner, cert)| partner.is_active() && cert.accepted_at(now))
                && expires_at.is_none_or(|end| now < end);
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
