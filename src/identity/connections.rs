//! The accept loop: TCP connections become [`PartnerConnection`]s carrying the caller's
//! [`PeerIdentity`] once the handshake succeeded, and every open connection is kept in
//! [`Connections`], so that revoking a certificate or suspending a partner also ends the
//! connections already made with it. [`ConnectionLimits`] bound what connections cost: how many
//! may be open or in a handshake, how long a handshake, a silence or a connection may last.

use std::{
    collections::HashMap,
    io,
    num::NonZeroU32,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use governor::{Quota, RateLimiter};
use parking_lot::Mutex;
use rustls::{CertificateError, Error as TlsError};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, mpsc},
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
    clock::now_ms,
    ids::CertFingerprint,
    registry::{Registry, SharedRegistry},
    telemetry,
};
/// An established mutual-TLS connection of an identified partner. It ends with an error
/// as soon as its certificate is no longer accepted, it was silent or open too long (see
/// [`Connections::close_ended`]).
pub struct PartnerConnection {
    stream: TlsStream<TcpStream>,
    peer: PeerIdentity,
    closed: Pin<Box<WaitForCancellationFutureOwned>>,
    /// When bytes last arrived (Unix ms).
    last_read: Arc<AtomicI64>,
    _registration: Registration,
    /// Its place among the open connections.
    _slot: OwnedSemaphorePermit,
}

/// The bounds on connections, each configurable (`[server]`).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Time a client gets to complete the TLS handshake.
    pub handshake_timeout: Duration,
    /// Handshakes in progress at once; a connection beyond that is dropped at once.
    pub max_handshakes_in_progress: usize,
    /// Connections open at once, in a handshake or established; one more is dropped at once.
    pub max_connections: usize,
    /// New connections per second from one address (twice that in a burst); more are
    /// dropped before their handshake.
    pub handshakes_per_second_per_address: u32,
    /// TCP keepalive probes after this much silence, so dead peers are found.
    pub tcp_keepalive: Duration,
    /// A connection from which nothing arrived for this long is closed.
    pub idle: Duration,
    /// A connection is closed at this age, whatever it does; clients reconnect.
    pub max_age: Duration,
}

/// The open partner connections, so that revoking a certificate or suspending a partner
/// also ends the connections already made with it.
#[derive(Debug)]
pub struct Connections {
    next: AtomicU64,
    open: Mutex<HashMap<u64, OpenConnection>>,
    limits: ConnectionLimits,
    slots: Arc<Semaphore>,
}

/// What the table knows of one open connection.
#[derive(Debug)]
struct OpenConnection {
    fingerprint: CertFingerprint,
    /// When its certificate expires (Unix ms).
    expires_at: Option<i64>,
    opened_at: i64,
    last_read: Arc<AtomicI64>,
    token: CancellationToken,
}

/// Removes a connection from the table when it ends.
struct Registration {
    id: u64,
    table: Arc<Connections>,
}

/// Accepts TCP connections and completes TLS handshakes concurrently, yielding identified
/// partner connections until `shutdown` is cancelled. Failed handshakes are logged and dropped.
pub fn incoming(
    listener: TcpListener,
    config: SharedServerConfig,
    registry: SharedRegistry,
    connections: Arc<Connections>,
    shutdown: CancellationToken,
) -> ReceiverStream<io::Result<PartnerConnection>> {
    let (tx, rx) = mpsc::channel(64);
    let limits = connections.limits;
    let in_progress = Arc::new(Semaphore::new(limits.max_handshakes_in_progress));
    let per_address =
        NonZeroU32::new(limits.handshakes_per_second_per_address).unwrap_or(NonZeroU32::MIN);
    let burst = per_address.saturating_mul(NonZeroU32::MIN.saturating_add(1));
    let handshakes = RateLimiter::keyed(Quota::per_second(per_address).allow_burst(burst));
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
            // A TLS handshake costs the gateway a key exchange and a signature: a peer that
            // reconnects faster than any partner needs to is dropped before it gets one.
            if handshakes.check_key(&addr.ip()).is_err() {
                telemetry::handshake_failure("address_rate");
                tracing::debug!(peer.addr = %addr, "too many new connections from this address; dropped");
                continue;
            }
            let Ok(slot) = connections.slots.clone().try_acquire_owned() else {
                telemetry::handshake_failure("connections_full");
                tracing::warn!(peer.addr = %addr, "too many connections open; connection dropped");
                continue;
            };
            let Ok(permit) = in_progress.clone().try_acquire_owned() else {
                telemetry::handshake_failure("capacity");
                tracing::warn!(peer.addr = %addr, "too many TLS handshakes in progress; connection dropped");
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let keepalive = socket2::TcpKeepalive::new()
                .with_time(limits.tcp_keepalive)
                .with_interval(limits.tcp_keepalive);
            if let Err(e) = socket2::SockRef::from(&tcp).set_tcp_keepalive(&keepalive) {
                tracing::debug!(error = %e, "cannot set TCP keepalive");
            }
            let acceptor = TlsAcceptor::from(config.load_full());
            let (registry, connections, tx) = (registry.clone(), connections.clone(), tx.clone());
            tokio::spawn(async move {
                let handshake =
                    tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp));
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
                        let (registration, token, last_read) =
                            connections.register(peer.fingerprint, peer.expires_at);
                        let connection = PartnerConnection {
                            stream,
                            peer,
                            closed: Box::pin(token.cancelled_owned()),
                            last_read,
                            _registration: registration,
                            _slot: slot,
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
    /// An empty table whose connections keep to `limits`.
    pub fn new(limits: ConnectionLimits) -> Self {
        Self {
            next: AtomicU64::new(0),
            open: Mutex::default(),
            limits,
            slots: Arc::new(Semaphore::new(limits.max_connections)),
        }
    }

    fn register(
        self: &Arc<Self>,
        fingerprint: CertFingerprint,
        expires_at: Option<i64>,
    ) -> (Registration, CancellationToken, Arc<AtomicI64>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let now = now_ms();
        let entry = OpenConnection {
            fingerprint,
            expires_at,
            opened_at: now,
            last_read: Arc::new(AtomicI64::new(now)),
            token: CancellationToken::new(),
        };
        let handles = (entry.token.clone(), entry.last_read.clone());
        self.open.lock().insert(id, entry);
        let registration = Registration {
            id,
            table: self.clone(),
        };
        (registration, handles.0, handles.1)
    }

    /// Ends every open connection whose certificate `registry` no longer accepts (revoked,
    /// retired past its time, unregistered, or of a suspended partner) or has expired, and
    /// every connection silent or open longer than the limits allow. Returns how many.
    pub fn close_ended(&self, registry: &Registry) -> usize {
        let now = now_ms();
        let idle = i64::try_from(self.limits.idle.as_millis()).unwrap_or(i64::MAX);
        let max_age = i64::try_from(self.limits.max_age.as_millis()).unwrap_or(i64::MAX);
        let open = self.open.lock();
        let mut closed = 0;
        for c in open.values() {
            let accepted = registry
                .certificate(&c.fingerprint)
                .is_some_and(|(partner, cert)| partner.is_active() && cert.accepted_at(now));
            let why = if !accepted {
                "its certificate is no longer accepted"
            } else if c.expires_at.is_some_and(|end| now >= end) {
                "its certificate expired"
            } else if now - c.last_read.load(Ordering::Relaxed) >= idle {
                "it was idle too long"
            } else if now - c.opened_at >= max_age {
                "it reached the maximum connection age"
            } else {
                continue;
            };
            if !c.token.is_cancelled() {
                tracing::info!(certificate = %c.fingerprint, "closing a connection: {why}");
                c.token.cancel();
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
                "closed by the gateway: certificate no longer accepted, idle or too old",
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
        let before = buf.filled().len();
        let read = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.last_read.store(now_ms(), Ordering::Relaxed);
        }
        read
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
