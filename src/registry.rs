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
    config::{FileError, read_toml},
    identity::{
        CertFingerprint, Oin,
        certificate::{CertInfo, read_certificates},
    },
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

/// A registered partner endpoint.
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
    /// Registered certificate fingerprints.
    pub fingerprints: Vec<CertFingerprint>,
    /// Keys verifying the JWTs of the people behind this partner's requests.
    pub jwt_keys: Vec<jsonwebtoken::DecodingKey>,
    /// What audit records this partner may read, when it is a privacy officer.
    pub audit_scope: AuditScope,
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

/// All registered partners, indexed by OIN and by certificate fingerprint.
#[derive(Debug, Default)]
pub struct Registry {
    partners: Vec<Arc<Partner>>,
    by_oin: HashMap<Oin, Arc<Partner>>,
    by_fingerprint: HashMap<CertFingerprint, Arc<Partner>>,
}

/// Why the registry could not be loaded; the message names the file and partner.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The file could not be read or parsed.
    #[error(transparent)]
    File(#[from] FileError),
    /// Entries are inconsistent; one line per problem.
    #[error("invalid partner registry {path}:\n  {}", .problems.join("\n  "))]
    Invalid {
        /// The file.
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

// === impl Registry ===

impl Registry {
    /// Builds the registry from definitions, reading each partner's certificate files.
    /// Reports every inconsistency: duplicate ids, OINs or fingerprints, unreadable
    /// certificates, and certificates whose OIN disagrees with the partner's.
    pub fn build(path: &Path, defs: Vec<PartnerDef>) -> Result<Self, RegistryError> {
        let mut problems = Vec::new();
        let mut ids = HashSet::new();
        let mut registry = Registry::default();
        let mut scopes = Vec::new();
        for def in defs {
            if !valid_id(&def.id) {
                problems.push(format!(
                    "partner id {:?}: use lower-case letters, digits and dashes",
                    def.id
                ));
            }
            if !ids.insert(def.id.clone()) {
                problems.push(format!("partner id {} appears twice", def.id));
            }
            let mut fingerprints = Vec::new();
            for file in &def.certificates {
                match certificate_fingerprint(file, &def.oin) {
                    Ok(fp) => fingerprints.push(fp),
                    Err(problem) => problems.push(format!("partner {}: {problem}", def.id)),
                }
            }
            for hex in &def.fingerprints {
                match hex.parse() {
                    Ok(fp) => fingerprints.push(fp),
                    Err(e) => problems.push(format!("partner {}: {e}", def.id)),
                }
            }
            let mut jwt_keys = Vec::new();
            for file in &def.jwt_keys {
                match std::fs::read(file)
                    .map_err(|e| e.to_string())
                    .and_then(|pem| {
                        jsonwebtoken::DecodingKey::from_ed_pem(&pem).map_err(|e| e.to_string())
                    }) {
                    Ok(key) => jwt_keys.push(key),
                    Err(e) => problems.push(format!(
                        "partner {}: JWT key {}: {e}",
                        def.id,
                        file.display()
                    )),
                }
            }
            scopes.push((def.id.clone(), def.audit_scope.clone()));
            let partner = Arc::new(Partner {
                id: def.id,
                oin: def.oin,
                name: def.name,
                role: def.role,
                purposes: def.purposes,
                status: def.status,
                fingerprints,
                jwt_keys,
                audit_scope: AuditScope::None,
            });
            for fp in &partner.fingerprints {
                if let Some(other) = registry.by_fingerprint.insert(*fp, partner.clone()) {
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
        registry.resolve_scopes(scopes, &mut problems);
        if problems.is_empty() {
            Ok(registry)
        } else {
            Err(RegistryError::Invalid {
                path: path.into(),
                problems,
            })
        }
    }

    /// Turns each officer's `audit_scope` of partner ids into OINs.
    fn resolve_scopes(&mut self, scopes: Vec<(String, Vec<String>)>, problems: &mut Vec<String>) {
        for (id, ids) in scopes {
            let scope = match ids.as_slice() {
                [] => AuditScope::None,
                [all] if all == "*" => AuditScope::All,
                ids => AuditScope::Partners(
                    ids.iter()
                        .filter_map(|other| match self.by_id(other) {
                            Some(p) => Some(p.oin.clone()),
                            None => {
                                problems.push(format!(
                                    "partner {id}: audit_scope names unknown partner {other}"
                                ));
                                None
                            }
                        })
                        .collect(),
                ),
            };
            let Some(index) = self.partners.iter().position(|p| p.id == id) else {
                continue;
            };
            if scope != AuditScope::None && self.partners[index].role != Role::PrivacyOfficer {
                problems.push(format!(
                    "partner {id}: only a privacy-officer has an audit_scope"
                ));
            }
            let mut partner = (*self.partners[index]).clone();
            partner.audit_scope = scope;
            let partner = Arc::new(partner);
            self.by_oin.insert(partner.oin.clone(), partner.clone());
            for fp in &partner.fingerprints {
                self.by_fingerprint.insert(*fp, partner.clone());
            }
            self.partners[index] = partner;
        }
    }

    /// The partner a certificate is registered for.
    pub fn by_fingerprint(&self, fp: &CertFingerprint) -> Option<&Arc<Partner>> {
        self.by_fingerprint.get(fp)
    }

    /// The partner with this OIN.
    pub fn by_oin(&self, oin: &Oin) -> Option<&Arc<Partner>> {
        self.by_oin.get(oin)
    }

    /// The partner with this short id.
    pub fn by_id(&self, id: &str) -> Option<&Arc<Partner>> {
        self.partners.iter().find(|p| p.id == id)
    }

    /// All partners, in file order.
    pub fn partners(&self) -> &[Arc<Partner>] {
        &self.partners
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn certificate_fingerprint(file: &Path, oin: &Oin) -> Result<CertFingerprint, String> {
    let certs = read_certificates(file).map_err(|e| e.to_string())?;
    let info = CertInfo::from_der(&certs[0]).map_err(|e| format!("{}: {e}", file.display()))?;
    match &info.oin {
        Some(cert_oin) if cert_oin == oin => Ok(info.fingerprint),
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
        assert_eq!(registry.by_fingerprint(&fp).unwrap().id, "gemeente-x");
        let oin: Oin = "00000099000000010000".parse().unwrap();
        assert_eq!(registry.by_oin(&oin).unwrap().id, "gemeente-x");
        assert!(registry.by_id("gemeente-x").unwrap().is_active());
    }
}
