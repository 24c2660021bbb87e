//! Reading certificates and keys from PEM files, and the facts the gateway takes from a
//! certificate: fingerprint, subject, OIN (subject serialNumber) and validity.

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::ids::{CertFingerprint, InvalidOin, Oin};

/// OID of the X.520 serialNumber attribute, where PKIoverheid certificates carry the OIN.
const OID_SERIAL_NUMBER: &str = "2.5.4.5";

/// What the gateway knows of one certificate.
#[derive(Debug, Clone)]
pub struct CertInfo {
    /// SHA-256 of the DER encoding.
    pub fingerprint: CertFingerprint,
    /// The subject distinguished name, as text.
    pub subject: String,
    /// The issuer distinguished name, as text.
    pub issuer: String,
    /// The serial number, hex with colons.
    pub serial: String,
    /// The OIN from the subject serialNumber, when present.
    pub oin: Option<Oin>,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
}

/// Why a certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// A PEM file could not be read or holds no usable item.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The DER encoding is not an X.509 certificate.
    #[error("not an X.509 certificate: {0}")]
    Parse(String),
    /// The subject serialNumber is present but not an OIN.
    #[error("subject serialNumber is not an OIN: {0}")]
    BadOin(#[from] InvalidOin),
}

/// Reads all certificates from a PEM file; refuses a file without any.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, CertificateError> {
    let pem_err = |reason: String| CertificateError::Pem {
        path: path.into(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(pem_err("no CERTIFICATE block found".into()));
    }
    Ok(certs)
}

/// Reads the first private key from a PEM file.
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, CertificateError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| CertificateError::Pem {
        path: path.into(),
        reason: e.to_string(),
    })
}

// === impl CertInfo ===

impl CertInfo {
    /// Parses a DER-encoded certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, CertificateError> {
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|e| CertificateError::Parse(e.to_string()))?;
        let oin = cert
            .subject()
            .iter_attributes()
            .find(|attr| attr.attr_type().to_id_string() == OID_SERIAL_NUMBER)
            .and_then(|attr| attr.as_str().ok())
            .map(str::parse::<Oin>)
            .transpose()?;
        let validity = cert.validity();
        Ok(Self {
            fingerprint: CertFingerprint::of_der(der),
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            serial: cert.raw_serial_as_string(),
            oin,
            not_before: to_system_time(validity.not_before.timestamp()),
            not_after: to_system_time(validity.not_after.timestamp()),
        })
    }

    /// True when `now` lies within the validity period.
    pub fn is_valid_at(&self, now: SystemTime) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

fn to_system_time(unix_secs: i64) -> SystemTime {
    match u64::try_from(unix_secs) {
        Ok(secs) => UNIX_EPOCH + Duration::from_secs(secs),
        Err(_) => UNIX_EPOCH,
    }
}
