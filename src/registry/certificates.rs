//! A certificate registered for a partner, with its state in the rotation lifecycle
//! (active, retiring at a time, revoked) and whether it is accepted at a given moment.

use serde::{Deserialize, Serialize};

use crate::{certificate::CertInfo, clock::unix_ms, ids::CertFingerprint};

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
            not_before: Some(unix_ms(info.not_before)),
            not_after: Some(unix_ms(info.not_after)),
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
