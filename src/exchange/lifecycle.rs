//! Operator changes to the registry: add a partner, add a certificate for rotation, retire
//! one at a date, revoke one, and list what expires soon (a partner's status and Logboek
//! read API URL are in [`super::partner_details`]).
//!
//! Each operation checks its input against the registry in force and returns the partner's
//! changed record; the store saves it with its audit record, and every gateway reloads.
//! A certificate is vetted before it is registered: it must be valid now, chain to a trust
//! anchor, carry the partner's OIN in its subject serialNumber, and not be registered yet.

use std::sync::Arc;

use rustls::{
    pki_types::{CertificateDer, UnixTime, pem::PemObject},
    server::danger::ClientCertVerifier,
};

use crate::{
    certificate::CertInfo,
    clock::{rfc3339, unix_ms},
    ids::Oin,
    registry::{
        CertState, Certificate, Partner, PartnerRecord, PartnerStatus, Registry, Role,
        check_logboek_url,
    },
};

/// A changed partner record and what changed, for the audit record.
#[derive(Debug, Clone)]
pub struct Change {
    /// The record to save.
    pub record: PartnerRecord,
    /// What happened, e.g. `certificate_revoked`.
    pub action: &'static str,
    /// The certificate concerned, if any.
    pub fingerprint: Option<String>,
}

/// A partner to add.
#[derive(Debug, Clone)]
pub struct NewPartner {
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
    /// Ed25519 public keys (PEM) for its people's JWTs.
    pub jwt_keys: Vec<String>,
    /// The URL of its own Logboek read API, if it has one.
    pub logboek_url: Option<String>,
}

/// Why an operator's change is refused; each message says what to fix.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    /// No partner with this id.
    #[error("no partner with id {0}")]
    UnknownPartner(String),
    /// The id or OIN is taken.
    #[error("{0}")]
    Exists(String),
    /// The input is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The PEM holds no certificate.
    #[error("the PEM holds no usable certificate: {0}")]
    Pem(String),
    /// The certificate has expired.
    #[error("the certificate expired on {0}; ask the partner for a current one")]
    Expired(String),
    /// The certificate is not valid yet.
    #[error("the certificate is not valid before {0}; register it once it is")]
    NotYetValid(String),
    /// The certificate does not chain to a trust anchor.
    #[error(
        "the certificate does not chain to a configured trust anchor ({0}); it must be issued under the PKIoverheid private root (or the development CA)"
    )]
    NoChain(String),
    /// The certificate names another OIN.
    #[error(
        "the certificate carries OIN {found} in its subject serialNumber, but partner {partner} has OIN {expected}"
    )]
    OinMismatch {
        /// OIN in the certificate (or "none").
        found: String,
        /// The partner.
        partner: String,
        /// The partner's OIN.
        expected: String,
    },
    /// The certificate is registered already.
    #[error("the certificate is already registered for partner {0}")]
    AlreadyRegistered(String),
    /// No registered certificate has this fingerprint.
    #[error("no registered certificate has fingerprint {0}")]
    UnknownCertificate(String),
    /// The change would leave nothing to change.
    #[error("{0}")]
    Pointless(String),
    /// The change was made against an older version of the partner.
    #[error(
        "partner {partner} is at version {current}, not {expected}: it was changed since; \
         read it again and make the change against its current version"
    )]
    Stale {
        /// The partner's id.
        partner: String,
        /// The version the change was made against.
        expected: i64,
        /// The version in force.
        current: i64,
    },
}

/// A certificate as read from PEM, with its chain (for showing before a change).
#[derive(Debug, Clone)]
pub struct Inspected {
    /// Facts of the leaf certificate.
    pub info: CertInfo,
    /// The leaf and its intermediates, DER.
    chain: Vec<CertificateDer<'static>>,
}

/// Reads a PEM certificate (with optional intermediates after it).
pub fn inspect(pem: &str) -> Result<Inspected, Refusal> {
    let chain = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Refusal::Pem(e.to_string()))?;
    let leaf = chain
        .first()
        .ok_or_else(|| Refusal::Pem("no CERTIFICATE block".into()))?;
    let info = CertInfo::from_der(leaf).map_err(|e| Refusal::Pem(e.to_string()))?;
    Ok(Inspected { info, chain })
}

/// Vets a certificate for `partner`: valid now, chaining to `trust`, carrying its OIN, and
/// not registered yet.
pub fn vet(
    inspected: &Inspected,
    partner: &Partner,
    registry: &Registry,
    trust: &Arc<dyn ClientCertVerifier>,
    now: i64,
) -> Result<(), Refusal> {
    let info = &inspected.info;
    if unix_ms(info.not_after) < now {
        return Err(Refusal::Expired(rfc3339(unix_ms(info.not_after))));
    }
    if unix_ms(info.not_before) > now {
        return Err(Refusal::NotYetValid(rfc3339(unix_ms(info.not_before))));
    }
    let (leaf, intermediates) = inspected
        .chain
        .split_first()
        .ok_or_else(|| Refusal::Pem("no certificate".into()))?;
    let at = UnixTime::since_unix_epoch(std::time::Duration::from_millis(
        u64::try_from(now).unwrap_or(0),
    ));
    trust
        .verify_client_cert(leaf, intermediates, at)
        .map_err(|e| Refusal::NoChain(e.to_string()))?;
    if info.oin.as_ref() != Some(&partner.oin) {
        return Err(Refusal::OinMismatch {
            found: info.oin.as_ref().map_or("none".into(), Oin::to_string),
            partner: partner.id.clone(),
            expected: partner.oin.to_string(),
        });
    }
    if let Some((owner, _)) = registry.certificate(&info.fingerprint) {
        return Err(Refusal::AlreadyRegistered(owner.id.clone()));
    }
    Ok(())
}

/// Adds a partner (without certificates; add them with [`add_certificate`]).
pub fn add_partner(
    registry: &Registry,
    new: NewPartner,
    by: &str,
    now: i64,
) -> Result<Change, Refusal> {
    if registry.by_id(&new.id).is_some() {
        return Err(Refusal::Exists(format!("partner id {} is taken", new.id)));
    }
    if let Some(other) = registry.by_oin(&new.oin) {
        return Err(Refusal::Exists(format!(
            "OIN {} is registered for {}",
            new.oin, other.id
        )));
    }
    checked(new.logboek_url.as_deref())?;
    let record = PartnerRecord {
        id: new.id,
        oin: new.oin,
        name: new.name,
        role: new.role,
        purposes: new.purposes,
        status: PartnerStatus::Active,
        jwt_keys: new.jwt_keys,
        audit_scope: Vec::new(),
        logboek_url: new.logboek_url,
        certificates: Vec::new(),
        changed_by: by.to_string(),
        changed_at: now,
        version: 0,
    };
    Ok(Change {
        record,
        action: "partner_added",
        fingerprint: None,
    })
}

/// Registers a vetted certificate for a partner, active beside its current ones (rotation).
pub fn add_certificate(
    registry: &Registry,
    partner_id: &str,
    inspected: &Inspected,
    trust: &Arc<dyn ClientCertVerifier>,
    by: &str,
    now: i64,
) -> Result<Change, Refusal> {
    let partner = partner(registry, partner_id)?;
    vet(inspected, partner, registry, trust, now)?;
    let mut record = touched(partner, by, now);
    record
        .certificates
        .push(Certificate::from_info(&inspected.info, by, now));
    Ok(Change {
        record,
        action: "certificate_added",
        fingerprint: Some(inspected.info.fingerprint.to_string()),
    })
}

/// Retires a certificate at `at` (Unix ms): accepted until then, refused after.
pub fn retire_certificate(
    registry: &Registry,
    fingerprint: &str,
    at: i64,
    by: &str,
    now: i64,
) -> Result<Change, Refusal> {
    change_certificate(
        registry,
        fingerprint,
        by,
        now,
        "certificate_retired",
        |cert| {
            cert.state = CertState::Retiring;
            cert.retire_at = Some(at);
        },
    )
}

/// Revokes a certificate: refused from the next handshake, open connections closed.
pub fn revoke_certificate(
    registry: &Registry,
    fingerprint: &str,
    by: &str,
    now: i64,
) -> Result<Change, Refusal> {
    change_certificate(
        registry,
        fingerprint,
        by,
        now,
        "certificate_revoked",
        |cert| cert.state = CertState::Revoked,
    )
}

/// Accepted certificates that expire within `within_ms` of `now`, soonest first.
pub fn expiring(registry: &Registry, within_ms: i64, now: i64) -> Vec<(Arc<Partner>, Certificate)> {
    let mut found: Vec<(Arc<Partner>, Certificate)> = registry
        .partners()
        .iter()
        .flat_map(|p| {
            p.record
                .certificates
                .iter()
                .filter(|c| {
                    c.accepted_at(now) && c.not_after.is_some_and(|end| end - now <= within_ms)
                })
                .map(move |c| (p.clone(), c.clone()))
        })
        .collect();
    found.sort_by_key(|(_, c)| c.not_after);
    found
}

pub(super) fn partner<'r>(registry: &'r Registry, id: &str) -> Result<&'r Arc<Partner>, Refusal> {
    registry
        .by_id(id)
        .ok_or_else(|| Refusal::UnknownPartner(id.to_string()))
}

pub(super) fn touched(partner: &Partner, by: &str, now: i64) -> PartnerRecord {
    let mut record = partner.record.clone();
    record.changed_by = by.to_string();
    record.changed_at = now;
    record
}

fn change_certificate(
    registry: &Registry,
    fingerprint: &str,
    by: &str,
    now: i64,
    action: &'static str,
    change: impl FnOnce(&mut Certificate),
) -> Result<Change, Refusal> {
    let fp = fingerprint
        .parse()
        .map_err(|e: crate::ids::InvalidFingerprint| Refusal::Invalid(e.to_string()))?;
    let (partner, _) = registry
        .certificate(&fp)
        .ok_or_else(|| Refusal::UnknownCertificate(fp.to_string()))?;
    let mut record = touched(partner, by, now);
    let cert = record
        .certificates
        .iter_mut()
        .find(|c| c.fingerprint == fp.to_string())
        .ok_or_else(|| Refusal::UnknownCertificate(fp.to_string()))?;
    // A revoked certificate stays revoked: retiring or revoking it again changes nothing.
    if cert.state == CertState::Revoked {
        return Err(Refusal::Pointless(
            "the certificate is revoked already".into(),
        ));
    }
    change(cert);
    cert.changed_by = by.to_string();
    cert.changed_at = now;
    Ok(Change {
        record,
        action,
        fingerprint: Some(fp.to_string()),
    })
}

/// Refuses a Logboek read API URL that is not a plain `https://` one, without repeating it.
pub(super) fn checked(url: Option<&str>) -> Result<(), Refusal> {
    url.map_or(Ok(()), check_logboek_url)
        .map_err(|e| Refusal::Invalid(e.to_string()))
}
