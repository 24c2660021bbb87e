//! Who is calling: the rustls server configuration that demands a registered client
//! certificate and maps it to a partner ([`tls`]), the person behind a request ([`person`]),
//! and the development PKI ([`dev_pki`]).
//!
//! Identity is the certificate. A connection reaches a handler only after its client
//! certificate chained to a configured trust anchor, its fingerprint is registered for an
//! active partner, and the OIN in its subject serialNumber agrees with that partner's OIN.
//! This module is the only place that installs a rustls crypto provider (ring).

pub mod connections;
pub mod dev_pki;
pub mod person;
pub mod tls;

use crate::ids::{CertFingerprint, Oin};

/// The authenticated peer of one connection, fixed at the TLS handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// OIN of the partner the certificate is registered for.
    pub oin: Oin,
    /// Fingerprint of the client certificate presented.
    pub fingerprint: CertFingerprint,
    /// When that certificate expires (Unix ms): the connection is closed then.
    pub expires_at: Option<i64>,
}

/// Installs ring as the process-wide rustls crypto provider. Safe to call more than once.
pub fn install_crypto_provider() {
    // An error only means a provider is installed already, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
