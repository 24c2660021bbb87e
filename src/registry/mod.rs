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

mod certificates;
mod definitions;
mod logboek_url;

pub use certificates::{CertState, Certificate};
pub use definitions::{PartnerDef, load_definitions, records_from_definitions};
pub use logboek_url::{InvalidLogboekUrl, check_logboek_url};

use crate::{
    ids::{CertFingerprint, Oin},
    toml_file::FileError,
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
    /// The `https://` URL of the partner's own Logboek Dataverwerkingen read API, when known;
    /// the gateway's read API links each delivery to it.
    #[serde(default)]
    pub logboek_url: Option<String>,
    /// Its certificates.
    pub certificates: Vec<Certificate>,
    /// Who made the last change.
    pub changed_by: String,
    /// When (Unix ms).
    pub changed_at: i64,
    /// The stored version, raised by every change; 0 before the record is first stored.
    #[serde(default)]
    pub version: i64,
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

// === impl Registry ===

impl Registry {
    /// Builds the registry from `partners.toml` definitions (reading their files).
    pub fn build(path: &Path, defs: Vec<PartnerDef>) -> Result<Self, RegistryError> {
        let records = records_from_definitions(path, defs, 0)?;
        Self::assemble(path, records)
    }

    /// Builds the registry from records. Reports every inconsistency: duplicate ids, OINs or
    /// fingerprints, unusable JWT keys, officers' scopes naming unknown partners, Logboek read
    /// API URLs that are not plain `https://`.
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
            if let Some(Err(e)) = record.logboek_url.as_deref().map(check_logboek_url) {
                problems.push(format!("partner {}: {e}", record.id));
            }
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

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
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
mod tests;
