//! `config/partners.toml`: the partner definitions an empty database is seeded from, and their
//! conversion into the records the database keeps (reading each partner's certificate and key
//! files).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Certificate, PartnerRecord, PartnerStatus, RegistryError, Role};
use crate::{
    certificate::{CertInfo, read_certificates},
    ids::{CertFingerprint, Oin},
    toml_file::read_toml,
};

/// One `[[partner]]` entry of `partners.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerDef {
    /// Short, stable id (lower case, digits and dashes), e.g. `gemeente-utrecht`. The
    /// development PKI names the partner's files after it.
    pub id: String,
    /// The endpoint's OIN.
    pub oin: Oin,
    /// Human-readable name of the organisation and system.
    pub name: String,
    /// The partner's role.
    pub role: Role,
    /// Codes of the purposes this endpoint receives for (see `policy.toml`).
    #[serde(default)]
    pub purposes: Vec<String>,
    /// Active or suspended; active by default.
    #[serde(default)]
    pub status: PartnerStatus,
    /// PEM files of the partner's certificates; their fingerprints are registered.
    #[serde(default)]
    pub certificates: Vec<PathBuf>,
    /// SHA-256 fingerprints (hex) of further certificates registered for the partner.
    #[serde(default)]
    pub fingerprints: Vec<String>,
    /// Ed25519 public keys (PEM files) that verify the JWTs naming the natural person behind
    /// this partner's requests (officers, operators, case workers).
    #[serde(default)]
    pub jwt_keys: Vec<PathBuf>,
    /// For a privacy officer: ids of the partners whose audit records it may read, or `["*"]`
    /// for the programme's officer, who reads all.
    #[serde(default)]
    pub audit_scope: Vec<String>,
    /// The `https://` URL of the partner's own Logboek Dataverwerkingen read API (no user
    /// name, password, query or fragment), when it has one; unset by default.
    #[serde(default)]
    pub logboek_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartnersFile {
    #[serde(default)]
    partner: Vec<PartnerDef>,
}

/// Reads the partner definitions from `partners.toml` without touching certificates.
pub fn load_definitions(path: &Path) -> Result<Vec<PartnerDef>, RegistryError> {
    let (_, file): (_, PartnersFile) = read_toml(path)?;
    Ok(file.partner)
}

/// Turns definitions into records, reading each partner's certificate and key files.
pub fn records_from_definitions(
    path: &Path,
    defs: Vec<PartnerDef>,
    now: i64,
) -> Result<Vec<PartnerRecord>, RegistryError> {
    let mut problems = Vec::new();
    let records = defs
        .into_iter()
        .map(|def| {
            let mut certificates = Vec::new();
            for file in &def.certificates {
                match certificate_from_file(file, &def.oin, now) {
                    Ok(cert) => certificates.push(cert),
                    Err(problem) => problems.push(format!("partner {}: {problem}", def.id)),
                }
            }
            for hex in &def.fingerprints {
                match hex.parse::<CertFingerprint>() {
                    Ok(fp) => certificates.push(Certificate::fingerprint_only(fp, now)),
                    Err(e) => problems.push(format!("partner {}: {e}", def.id)),
                }
            }
            let mut jwt_keys = Vec::new();
            for file in &def.jwt_keys {
                match std::fs::read_to_string(file) {
                    Ok(pem) => jwt_keys.push(pem),
                    Err(e) => problems.push(format!(
                        "partner {}: JWT key {}: {e}",
                        def.id,
                        file.display()
                    )),
                }
            }
            PartnerRecord {
                id: def.id,
                oin: def.oin,
                name: def.name,
                role: def.role,
                purposes: def.purposes,
                status: def.status,
                jwt_keys,
                audit_scope: def.audit_scope,
                logboek_url: def.logboek_url,
                certificates,
                changed_by: "partners.toml".into(),
                changed_at: now,
                version: 0,
            }
        })
        .collect();
    if problems.is_empty() {
        Ok(records)
    } else {
        Err(RegistryError::Invalid {
            path: path.into(),
            problems,
        })
    }
}

fn certificate_from_file(file: &Path, oin: &Oin, now: i64) -> Result<Certificate, String> {
    let certs = read_certificates(file).map_err(|e| e.to_string())?;
    let info = CertInfo::from_der(&certs[0]).map_err(|e| format!("{}: {e}", file.display()))?;
    match &info.oin {
        Some(cert_oin) if cert_oin == oin => {
            Ok(Certificate::from_info(&info, "partners.toml", now))
        }
        Some(cert_oin) => Err(format!(
            "{} carries OIN {cert_oin} in its subject serialNumber, not {oin}",
            file.display()
        )),
        None => Err(format!(
            "{} has no OIN in its subject serialNumber",
            file.display()
        )),
    }
}
