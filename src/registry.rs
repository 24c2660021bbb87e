//! The partner registry: every partner endpoint with its OIN, role, receiving purposes,
//! status and registered certificate fingerprints, loaded from `config/partners.toml`.
//!
//! A partner is an endpoint, not an organisation: a municipality's case-direction system and
//! its public-order system are two partners with their own OIN (a sub-OIN in production),
//! certificate and purposes, so each receives only what its own purposes allow.

use std::{
    collections::{HashMap, HashSet},
    fmt,
    path::{Path, PathBuf},
    sync::Arc,
};

use serde::{Deserialize, Serialize};

use crate::{
    certificate::{CertInfo, read_certificates},
    ids::{CertFingerprint, Oin},
    toml_file::{FileError, read_toml},
};

/// What a partner is in the LVV chain; policy rules name the sender role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A municipality (case direction, public order or care coordination system).
    Municipality,
    /// Dienst Terugkeer en Vertrek (repatriation and departure service).
    Dtv,
    /// Immigratie- en Naturalisatiedienst (immigration service).
    Ind,
    /// Police, Afdeling Vreemdelingenpolitie, Identificatie en Mensenhandel (AVIM).
    Police,
    /// A non-governmental organisation that guides participants.
    Ngo,
    /// The programme's monitoring, which receives aggregated data only.
    Monitor,
    /// A privacy officer, who reads the audit log.
    PrivacyOfficer,
    /// An operator, who manages partners and certificates.
    Operator,
}

/// Whether a partner may take part in exchanges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartnerStatus {
    /// Sends and receives.
    #[default]
    Active,
    /// Registered, but its signals and subscriptions are refused; its queue is kept.
    Suspended,
}

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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartnersFile {
    #[serde(default)]
    partner: Vec<PartnerDef>,
}

/// The state of a registered certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertState {
    /// Accepted.
    Active,
    /// Accepted until its retirement time, then refused: the old half of a rotation.
    Retiring,
    /// Refused from the next handshake; open connections using it are closed.
    Revoked,
}

/// A certificate registered for a partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// SHA-256 of the DER encoding.
    pub fingerprint: String,
    /// State.
    pub state: CertState,
    /// For a retiring certificate: when it stops being accepted (Unix ms).
    pub retire_at: Option<i64>,
    /// Subject, when the certificate itself was registered (not only its fingerprint).
    pub subject: Option<String>,
    /// Issuer.
    pub issuer: Option<String>,
    /// Serial number (hex).
    pub serial: Option<String>,
    /// Start of validity (Unix ms).
    pub not_before: Option<i64>,
    /// End of validity (Unix ms).
    pub not_after: Option<i64>,
    /// Who made the last change (operator, or `partners.toml` for the seed).
    pub changed_by: String,
    /// When (Unix ms).
    pub changed_at: i64,
}

/// A partner as stored: the form shared by `partners.toml` seeding and the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerRecord {
    /// Short id.
    pub id: String,
    /// OIN.
    pub oin: Oin,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Receiving purpose codes.
    pub purposes: Vec<String>,
    /// Status.
    pub status: PartnerStatus,
    /// Ed25519 public keys (PEM text) verifying the JWTs of the people behind its requests.
    pub jwt_keys: Vec<String>,
    /// For a privacy officer: partner ids whose audit records it reads, or `["*"]`.
    pub audit_scope: Vec<String>,
    /// Its certificates.
    pub certificates: Vec<Certificate>,
    /// Who made the last change.
    pub changed_by: String,
    /// When (Unix ms).
    pub changed_at: i64,
}

/// A registered partner endpoint, ready for lookups.
#[derive(Debug, Clone)]
pub struct Partner {
    /// Short id.
    pub id: String,
    /// OIN.
    pub oin: Oin,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Receiving purpose codes.
    pub purposes: Vec<String>,
    /// Status.
    pub status: PartnerStatus,
    /// Keys verifying the JWTs of the people behind this partner's requests.
    pub jwt_keys: Vec<jsonwebtoken::DecodingKey>,
    /// What audit records this partner may read, when it is a privacy officer.
    pub audit_scope: AuditScope,
    /// The stored form, for showing and changing.
    pub record: PartnerRecord,
}

/// The audit records a privacy officer may read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AuditScope {
    /// None (every partner that is not a privacy officer).
    #[default]
    None,
    /// Records where one of these OINs is actor or counterparty.
    Partners(Vec<Oin>),
    /// All records (the programme's privacy officer).
    All,
}

/// The registry in force, replaced whole when it changes (shared by the TLS verifier and the
/// services).
pub type SharedRegistry = Arc<arc_swap::ArcSwap<Registry>>;

/// All registered partners, indexed by OIN and by certificate fingerprint.
#[derive(Debug, Default)]
pub struct Registry {
    partners: Vec<Arc<Partner>>,
    by_oin: HashMap<Oin, Arc<Partner>>,
    by_fingerprint: HashMap<CertFingerprint, (Arc<Partner>, Certificate)>,
}

/// Why the registry could not be loaded; the message names the source and partner.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The file could not be read or parsed.
    #[error(transparent)]
    File(#[from] FileError),
    /// Entries are inconsistent; one line per problem.
    #[error("invalid partner registry {path}:\n  {}", .problems.join("\n  "))]
    Invalid {
        /// The file (or `database`).
        path: PathBuf,
        /// One line per problem.
        problems: Vec<String>,
    },
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
                certificates,
                changed_by: "partners.toml".into(),
                changed_at: now,
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

// === impl Registry ===

impl Registry {
    /// Builds the registry from `partners.toml` definitions (reading their files).
    pub fn build(path: &Path, defs: Vec<PartnerDef>) -> Result<Self, RegistryError> {
        let records = records_from_definitions(path, defs, 0)?;
        Self::assemble(path, records)
    }

    /// Builds the registry from records. Reports every inconsistency: duplicate ids, OINs or
    /// fingerprints, unusable JWT keys, officers' scopes naming unknown partners.
    pub fn assemble(source: &Path, records: Vec<PartnerRecord>) -> Result<Self, RegistryError> {
        let mut problems = Vec::new();
        let mut ids = HashSet::new();
        let mut registry = Registry::default();
        for record in &records {
            if !valid_id(&record.id) {
                problems.push(format!(
                    "partner id {:?}: use lower-case letters, digits and dashes",
                    record.id
                ));
            }
            if !ids.insert(record.id.clone()) {
                problems.push(format!("partner id {} appears twice", record.id));
            }
        }
        let oin_of: HashMap<&str, &Oin> = records.iter().map(|r| (r.id.as_str(), &r.oin)).collect();
        for record in &records {
            let jwt_keys = record
                .jwt_keys
                .iter()
                .filter_map(
                    |pem| match jsonwebtoken::DecodingKey::from_ed_pem(pem.as_bytes()) {
                        Ok(key) => Some(key),
                        Err(e) => {
                            problems.push(format!("partner {}: JWT key: {e}", record.id));
                            None
                        }
                    },
                )
                .collect();
            let audit_scope = match record.audit_scope.as_slice() {
                [] => AuditScope::None,
                [all] if all == "*" => AuditScope::All,
                ids => AuditScope::Partners(
                    ids.iter()
                        .filter_map(|other| match oin_of.get(other.as_str()) {
                            Some(oin) => Some((*oin).clone()),
                            None => {
                                problems.push(format!(
                                    "partner {}: audit_scope names unknown partner {other}",
                                    record.id
                                ));
                                None
                            }
                        })
                        .collect(),
                ),
            };
            if audit_scope != AuditScope::None && record.role != Role::PrivacyOfficer {
                problems.push(format!(
                    "partner {}: only a privacy-officer has an audit_scope",
                    record.id
                ));
            }
            let partner = Arc::new(Partner {
                id: record.id.clone(),
                oin: record.oin.clone(),
                name: record.name.clone(),
                role: record.role,
                purposes: record.purposes.clone(),
                status: record.status,
                jwt_keys,
                audit_scope,
                record: record.clone(),
            });
            for cert in &record.certificates {
                let Ok(fp) = cert.fingerprint.parse::<CertFingerprint>() else {
                    problems.push(format!(
                        "partner {}: bad fingerprint {}",
                        record.id, cert.fingerprint
                    ));
                    continue;
                };
                if let Some((other, _)) = registry
                    .by_fingerprint
                    .insert(fp, (partner.clone(), cert.clone()))
                {
                    problems.push(format!(
                        "certificate {fp} is registered for both {} and {}",
                        other.id, partner.id
                    ));
                }
            }
            if let Some(other) = registry.by_oin.insert(partner.oin.clone(), partner.clone()) {
                problems.push(format!(
                    "OIN {} is used by both {} and {}",
                    partner.oin, other.id, partner.id
                ));
            }
            registry.partners.push(partner);
        }
        if problems.is_empty() {
            Ok(registry)
        } else {
            Err(RegistryError::Invalid {
                path: source.into(),
                problems,
            })
        }
    }

    /// The partner a certificate is registered for, and the registration.
    pub fn certificate(&self, fp: &CertFingerprint) -> Option<(&Arc<Partner>, &Certificate)> {
        self.by_fingerprint.get(fp).map(|(p, c)| (p, c))
    }

    /// The partner with this OIN.
    pub fn by_oin(&self, oin: &Oin) -> Option<&Arc<Partner>> {
        self.by_oin.get(oin)
    }

    /// The partner with this short id.
    pub fn by_id(&self, id: &str) -> Option<&Arc<Partner>> {
        self.partners.iter().find(|p| p.id == id)
    }

    /// All partners, in registration order.
    pub fn partners(&self) -> &[Arc<Partner>] {
        &self.partners
    }

    /// The stored form of every partner.
    pub fn records(&self) -> Vec<PartnerRecord> {
        self.partners.iter().map(|p| p.record.clone()).collect()
    }
}

// === impl Certificate ===

impl Certificate {
    /// A registration of a certificate's facts, active.
    pub fn from_info(info: &CertInfo, changed_by: &str, now: i64) -> Self {
        Self {
            fingerprint: info.fingerprint.to_string(),
            state: CertState::Active,
            retire_at: None,
            subject: Some(info.subject.clone()),
            issuer: Some(info.issuer.clone()),
            serial: Some(info.serial.clone()),
            not_before: Some(crate::clock::unix_ms(info.not_before)),
            not_after: Some(crate::clock::unix_ms(info.not_after)),
            changed_by: changed_by.to_string(),
            changed_at: now,
        }
    }

    /// A registration by fingerprint only, active.
    pub fn fingerprint_only(fp: CertFingerprint, now: i64) -> Self {
        Self {
            fingerprint: fp.to_string(),
            state: CertState::Active,
            retire_at: None,
            subject: None,
            issuer: None,
            serial: None,
            not_before: None,
            not_after: None,
            changed_by: "partners.toml".into(),
            changed_at: now,
        }
    }

    /// True when the registration lets the certificate in at `now` (Unix ms).
    pub fn accepted_at(&self, now: i64) -> bool {
        match self.state {
            CertState::Active => true,
            CertState::Retiring => self.retire_at.is_none_or(|at| now < at),
            CertState::Revoked => false,
        }
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
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

// === impl Partner ===

impl Partner {
    /// True when the partner may send and receive.
    pub fn is_active(&self) -> bool {
        self.status == PartnerStatus::Active
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Role::Municipality => "municipality",
            Role::Dtv => "dtv",
            Role::Ind => "ind",
            Role::Police => "police",
            Role::Ngo => "ngo",
            Role::Monitor => "monitor",
            Role::PrivacyOfficer => "privacy-officer",
            Role::Operator => "operator",
        };
        f.write_str(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(id: &str, oin: &str) -> PartnerDef {
        PartnerDef {
            id: id.into(),
            oin: oin.parse().unwrap(),
            name: id.into(),
            role: Role::Municipality,
            purposes: vec![],
            status: PartnerStatus::Active,
            certificates: vec![],
            fingerprints: vec!["ab".repeat(32)],
            jwt_keys: vec![],
            audit_scope: vec![],
        }
    }

    #[test]
    fn duplicates_are_all_reported() {
        let err = Registry::build(
            Path::new("partners.toml"),
            vec![
                def("a", "00000099000000010000"),
                def("a", "00000099000000010000"),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("partner id a appears twice"), "{err}");
        assert!(
            err.contains("OIN 00000099000000010000 is used by both"),
            "{err}"
        );
        assert!(err.contains("is registered for both a and a"), "{err}");
    }

    #[test]
    fn lookups_by_oin_fingerprint_and_id() {
        let registry = Registry::build(
            Path::new("partners.toml"),
            vec![def("gemeente-x", "00000099000000010000")],
        )
        .unwrap();
        let fp: CertFingerprint = "ab".repeat(32).parse().unwrap();
        let (partner, cert) = registry.certificate(&fp).unwrap();
        assert_eq!(partner.id, "gemeente-x");
        assert!(cert.accepted_at(0));
        let oin: Oin = "00000099000000010000".parse().unwrap();
        assert_eq!(registry.by_oin(&oin).unwrap().id, "gemeente-x");
        assert!(registry.by_id("gemeente-x").unwrap().is_active());
    }
}
