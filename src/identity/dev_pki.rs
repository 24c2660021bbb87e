//! The development PKI: a local CA, the gateway's server certificate and one client
//! certificate per registered partner, so that a fresh clone runs over real mutual TLS.
//!
//! Development certificates carry the partner's OIN in the subject serialNumber, as
//! PKIoverheid certificates do; only test OINs (prefix 00000099) are accepted here, so a
//! development certificate can never impersonate a real organisation. Never use this PKI in
//! production: partners there present PKIoverheid certificates.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use time::OffsetDateTime;

use crate::{
    audit::keys,
    ids::Oin,
    registry::{PartnerDef, Role},
};

/// File name of the CA certificate, the trust anchor for partner certificates.
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA private key.
pub const CA_KEY_FILE: &str = "ca.key";
/// File name of the gateway's server certificate.
pub const SERVER_CERT_FILE: &str = "gateway.pem";
/// File name of the gateway's server key.
pub const SERVER_KEY_FILE: &str = "gateway.key";
/// How long development certificates are valid.
const VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// Host names and addresses in the development server certificate.
const SERVER_NAMES: &[&str] = &["localhost", "127.0.0.1", "::1"];

/// A development certificate authority that can issue server and partner certificates.
pub struct DevCa {
    cert_pem: String,
    key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate and its private key, both PEM.
pub struct IssuedCert {
    /// The certificate.
    pub cert_pem: String,
    /// The private key (PKCS#8).
    pub key_pem: String,
}

/// One partner to issue a development certificate for.
pub struct DevPartner<'a> {
    /// Short partner id; the files are named `<id>.pem` and `<id>.key`.
    pub id: &'a str,
    /// The partner's OIN, placed in the subject serialNumber.
    pub oin: &'a Oin,
    /// Organisation name, placed in the subject commonName.
    pub name: &'a str,
}

/// Why the development PKI could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DevPkiError {
    /// Generating or signing failed.
    #[error("cannot generate certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The directory holds a PKI already and `--force` was not given.
    #[error("{0} already holds a development PKI; pass --force to replace it")]
    Exists(PathBuf),
    /// A key could not be generated.
    #[error(transparent)]
    Key(#[from] crate::audit::keys::KeyError),
    /// A partner has a real (non-test) OIN.
    #[error(
        "partner {id} has OIN {oin}, which is not a test OIN (prefix 00000099): development certificates only carry test OINs"
    )]
    NotTestOin {
        /// The partner id.
        id: String,
        /// Its OIN.
        oin: Oin,
    },
}

/// Creates the development PKI for the registered partners if `dir` has none yet: the
/// certificates, the audit log's signing and subject keys, and a JWT key pair for every
/// officer, operator and monitor (`<id>-jwt.key`, `<id>-jwt.pub.pem`). Returns the files written
/// (none when it existed).
pub fn ensure(dir: &Path, defs: &[PartnerDef], force: bool) -> Result<Vec<PathBuf>, DevPkiError> {
    if dir.join(CA_CERT_FILE).exists() && !force {
        return Ok(Vec::new());
    }
    let partners: Vec<DevPartner<'_>> = defs
        .iter()
        .map(|d| DevPartner {
            id: &d.id,
            oin: &d.oin,
            name: &d.name,
        })
        .collect();
    let mut written = create(dir, &partners, force)?;
    let signing = keys::generate_signing_key().map_err(DevPkiError::Key)?;
    let people = defs.iter().filter(|d| {
        matches!(
            d.role,
            Role::PrivacyOfficer | Role::Operator | Role::Monitor
        )
    });
    let mut files = vec![
        (DEV_SIGNING_KEY.to_string(), signing.clone(), true),
        (
            DEV_SIGNING_PUBLIC_KEY.to_string(),
            keys::public_pem(&signing).map_err(DevPkiError::Key)?,
            false,
        ),
        (
            DEV_SUBJECT_KEY.to_string(),
            keys::generate_subject_key().map_err(DevPkiError::Key)?,
            true,
        ),
    ];
    for person in people {
        let private = keys::generate_signing_key().map_err(DevPkiError::Key)?;
        let public = keys::public_pem(&private).map_err(DevPkiError::Key)?;
        files.push((format!("{}-jwt.key", person.id), private, true));
        files.push((format!("{}-jwt.pub.pem", person.id), public, false));
    }
    for (name, contents, secret) in files {
        let path = dir.join(name);
        write_file(&path, &contents, secret)?;
        written.push(path);
    }
    Ok(written)
}

/// File name of the development audit signing key (see `AuditConfig::signing_key`).
pub const DEV_SIGNING_KEY: &str = "audit-signing.key";
/// File name of its public half.
pub const DEV_SIGNING_PUBLIC_KEY: &str = "audit-signing.pub.pem";
/// File name of the development subject HMAC key `dev-1`.
pub const DEV_SUBJECT_KEY: &str = "audit-subject-dev-1.key";

/// Creates a development PKI in `dir` for `partners`. Refuses to replace an existing one
/// unless `force` is set. Returns the files written.
pub fn create(
    dir: &Path,
    partners: &[DevPartner<'_>],
    force: bool,
) -> Result<Vec<PathBuf>, DevPkiError> {
    if dir.join(CA_CERT_FILE).exists() && !force {
        return Err(DevPkiError::Exists(dir.into()));
    }
    for p in partners {
        if !p.oin.is_test_oin() {
            return Err(DevPkiError::NotTestOin {
                id: p.id.into(),
                oin: p.oin.clone(),
            });
        }
    }
    fs::create_dir_all(dir).map_err(|source| DevPkiError::Io {
        path: dir.into(),
        source,
    })?;
    let ca = DevCa::generate("Ketenpoort Development CA")?;
    let mut written = Vec::new();
    let mut write = |name: &str, contents: &str, secret: bool| -> Result<(), DevPkiError> {
        let path = dir.join(name);
        write_file(&path, contents, secret)?;
        written.push(path);
        Ok(())
    };
    write(CA_CERT_FILE, &ca.cert_pem, false)?;
    write(CA_KEY_FILE, &ca.key_pem, true)?;
    let server = ca.issue_server(SERVER_NAMES)?;
    write(SERVER_CERT_FILE, &server.cert_pem, false)?;
    write(SERVER_KEY_FILE, &server.key_pem, true)?;
    for p in partners {
        let issued = ca.issue_partner(p.oin, p.name, SystemTime::now(), VALIDITY)?;
        write(&format!("{}.pem", p.id), &issued.cert_pem, false)?;
        write(&format!("{}.key", p.id), &issued.key_pem, true)?;
    }
    Ok(written)
}

/// Writes a PKI file; `secret` files are readable by their owner only.
pub fn write_file(path: &Path, contents: &str, secret: bool) -> Result<(), DevPkiError> {
    let io_err = |source| DevPkiError::Io {
        path: path.into(),
        source,
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(path).map_err(io_err)?;
    file.write_all(contents.as_bytes()).map_err(io_err)
}

// === impl DevCa ===

impl DevCa {
    /// Generates a new self-signed CA.
    pub fn generate(common_name: &str) -> Result<Self, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Ketenpoort development");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
        ];
        set_validity(&mut params, SystemTime::now(), VALIDITY * 5);
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(Self {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// Loads a CA written by [`create`] from its directory.
    pub fn load(dir: &Path) -> Result<Self, DevPkiError> {
        let read = |name: &str| {
            let path = dir.join(name);
            fs::read_to_string(&path).map_err(|source| DevPkiError::Io { path, source })
        };
        let cert_pem = read(CA_CERT_FILE)?;
        let key_pem = read(CA_KEY_FILE)?;
        let key = KeyPair::from_pem(&key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key)?;
        Ok(Self {
            cert_pem,
            key_pem,
            issuer,
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Issues a server certificate for the given DNS names and IP addresses.
    pub fn issue_server(&self, names: &[&str]) -> Result<IssuedCert, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.subject_alt_names = names
            .iter()
            .map(|name| match name.parse() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => Ok(SanType::DnsName((*name).try_into()?)),
            })
            .collect::<Result<_, rcgen::Error>>()?;
        params
            .distinguished_name
            .push(DnType::CommonName, "Ketenpoort gateway");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params, SystemTime::now(), VALIDITY)
    }

    /// Issues a partner client certificate valid from `not_before` for `validity`, with the
    /// OIN in the subject serialNumber as in PKIoverheid certificates.
    pub fn issue_partner(
        &self,
        oin: &Oin,
        name: &str,
        not_before: SystemTime,
        validity: Duration,
    ) -> Result<IssuedCert, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CountryName, "NL");
        params
            .distinguished_name
            .push(DnType::OrganizationName, name);
        params.distinguished_name.push(DnType::CommonName, name);
        params
            .distinguished_name
            .push(DnType::CustomDnType(vec![2, 5, 4, 5]), oin.as_str());
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params, not_before, validity)
    }

    fn sign(
        &self,
        mut params: CertificateParams,
        not_before: SystemTime,
        validity: Duration,
    ) -> Result<IssuedCert, rcgen::Error> {
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, not_before, validity);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

fn set_validity(params: &mut CertificateParams, not_before: SystemTime, validity: Duration) {
    params.not_before = OffsetDateTime::from(not_before);
    params.not_after = OffsetDateTime::from(not_before + validity);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificate::CertInfo;
    use rustls::pki_types::{CertificateDer, pem::PemObject};

    #[test]
    fn partner_certificate_carries_the_oin_in_the_subject_serial_number() {
        let ca = DevCa::generate("test ca").unwrap();
        let oin: Oin = "00000099000000010000".parse().unwrap();
        let issued = ca
            .issue_partner(&oin, "Gemeente Test", SystemTime::now(), VALIDITY)
            .unwrap();
        let der = CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).unwrap();
        let info = CertInfo::from_der(&der).unwrap();
        assert_eq!(info.oin, Some(oin));
        assert!(info.subject.contains("Gemeente Test"), "{}", info.subject);
        assert!(info.is_valid_at(SystemTime::now()));
    }

    #[test]
    fn refuses_real_oins_and_existing_directories() {
        let dir = tempfile::tempdir().unwrap();
        let real: Oin = "00000001000000010000".parse().unwrap();
        let err = create(
            dir.path(),
            &[DevPartner {
                id: "x",
                oin: &real,
                name: "X",
            }],
            false,
        )
        .err()
        .unwrap();
        assert!(matches!(err, DevPkiError::NotTestOin { .. }), "{err}");
        create(dir.path(), &[], false).unwrap();
        let loaded = DevCa::load(dir.path()).unwrap();
        assert!(loaded.cert_pem().contains("BEGIN CERTIFICATE"));
        assert!(matches!(
            create(dir.path(), &[], false),
            Err(DevPkiError::Exists(_))
        ));
        create(dir.path(), &[], true).unwrap();
    }
}
