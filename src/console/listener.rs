//! The console's TLS listener: the gateway's own server certificate and key, no client
//! certificate asked (browsers have none; officers sign in with a token instead), HTTP/1.1.
//! Handshakes run in tasks of their own, bounded in time and number, so a client that stalls
//! its handshake holds up nobody else.

use std::{io, net::SocketAddr, sync::Arc, time::Duration};

use rustls::ServerConfig;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{Semaphore, mpsc},
};
use tokio_rustls::{TlsAcceptor, server::TlsStream};
use tokio_util::sync::CancellationToken;

use super::ConsoleError;
use crate::{
    certificate::{read_certificates, read_private_key},
    identity::{self, tls::TlsFiles},
};

/// How long a browser gets to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; a connection beyond that is closed at once.
const MAX_HANDSHAKES: usize = 64;

/// Accepted, handshaken TLS connections, for `axum::serve`.
pub struct TlsListener {
    addr: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

/// The rustls configuration of the console: the gateway's certificate, no client
/// authentication, HTTP/1.1.
pub fn server_config(files: &TlsFiles) -> Result<ServerConfig, ConsoleError> {
    identity::install_crypto_provider();
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            read_certificates(&files.certificate)?,
            read_private_key(&files.private_key)?,
        )
        .map_err(|e| ConsoleError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

// === impl TlsListener ===

impl TlsListener {
    /// Starts accepting on `listener`, handshaking with `config`, until `shutdown`.
    pub fn spawn(
        listener: TcpListener,
        config: ServerConfig,
        shutdown: CancellationToken,
    ) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let (sender, ready) = mpsc::channel(MAX_HANDSHAKES);
        let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = shutdown.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let (tcp, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::debug!(error = %e, "console accept failed");
                        continue;
                    }
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    tracing::info!("console handshakes at their limit; connection closed");
                    continue;
                };
                let (acceptor, sender) = (acceptor.clone(), sender.clone());
                tokio::spawn(async move {
                    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
                    match handshake.await {
                        Ok(Ok(tls)) => {
                            drop(slot);
                            let _ = sender.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, "console handshake failed"),
                        Err(_) => tracing::debug!("console handshake timed out"),
                    }
                });
            }
        });
        Ok(Self { addr, ready })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept loop ended with the gateway; serving ends by its shutdown signal.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.addr)
    }
}
