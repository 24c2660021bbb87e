//! The natural person behind a request: a JWT (EdDSA) in the `authorization` metadata, signed
//! with a key registered for the calling partner, naming the officer, operator or case worker
//! (`sub`). The certificate says which organisation calls; the token says who in it.

use std::path::Path;

use jsonwebtoken::{Algorithm, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::registry::Partner;

/// Claims the gateway requires and reads.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The person, e.g. an employee number or e-mail address of the officer.
    pub sub: String,
    /// The audience; must be the gateway's `audit.jwt_audience`.
    pub aud: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issued at, Unix seconds.
    #[serde(default)]
    pub iat: u64,
}

/// Why a token is refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// No `authorization: Bearer …` metadata.
    #[error("no token: send the JWT naming the person as metadata 'authorization: Bearer <jwt>'")]
    Missing,
    /// The partner has no JWT keys registered.
    #[error("no JWT keys are registered for partner {0}")]
    NoKeys(String),
    /// The token does not verify under any of the partner's keys, or its claims are wrong.
    #[error("the token is not valid for this partner: {0}")]
    Invalid(String),
    /// A development token could not be made.
    #[error("cannot make a token: {0}")]
    Mint(String),
}

/// Verifies `token` against the keys registered for `partner`; returns the person (`sub`).
pub fn verify(partner: &Partner, token: &str, audience: &str) -> Result<String, TokenError> {
    if partner.jwt_keys.is_empty() {
        return Err(TokenError::NoKeys(partner.id.clone()));
    }
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["sub", "aud", "exp"]);
    let mut last = String::new();
    for key in &partner.jwt_keys {
        match jsonwebtoken::decode::<Claims>(token, key, &validation) {
            Ok(data) if !data.claims.sub.trim().is_empty() => return Ok(data.claims.sub),
            Ok(_) => last = "sub is empty".into(),
            Err(e) => last = e.to_string(),
        }
    }
    Err(TokenError::Invalid(last))
}

/// Takes the token out of an `authorization` metadata value.
pub fn bearer(value: Option<&str>) -> Result<&str, TokenError> {
    value
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(TokenError::Missing)
}

/// Mints a development token for `sub`, valid for `minutes`, with a PKCS#8 PEM Ed25519 key.
pub fn mint(
    key_file: &Path,
    sub: &str,
    audience: &str,
    minutes: u64,
) -> Result<String, TokenError> {
    let pem = std::fs::read(key_file)
        .map_err(|e| TokenError::Mint(format!("{}: {e}", key_file.display())))?;
    let key = EncodingKey::from_ed_pem(&pem).map_err(|e| TokenError::Mint(e.to_string()))?;
    let now = u64::try_from(crate::clock::now_ms() / 1000).unwrap_or(0);
    let claims = Claims {
        sub: sub.to_string(),
        aud: audience.to_string(),
        exp: now + minutes * 60,
        iat: now,
    };
    jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &key)
        .map_err(|e| TokenError::Mint(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        audit::keys::{generate_signing_key, public_pem},
        registry::{PartnerRecord, PartnerStatus, Registry, Role},
    };

    fn officer(public_pem: &str) -> std::sync::Arc<Partner> {
        let record = PartnerRecord {
            id: "fg".into(),
            oin: "00000099700000010000".parse().unwrap(),
            name: "FG".into(),
            role: Role::PrivacyOfficer,
            purposes: vec![],
            status: PartnerStatus::Active,
            jwt_keys: vec![public_pem.to_string()],
            audit_scope: vec!["*".into()],
            certificates: vec![],
            changed_by: "test".into(),
            changed_at: 0,
        };
        Registry::assemble(Path::new("test"), vec![record])
            .unwrap()
            .by_id("fg")
            .unwrap()
            .clone()
    }

    #[test]
    fn a_minted_token_verifies_only_with_its_key_and_audience() {
        let dir = tempfile::tempdir().unwrap();
        let (key, other) = (dir.path().join("k"), dir.path().join("o"));
        let private = generate_signing_key().unwrap();
        std::fs::write(&key, &private).unwrap();
        std::fs::write(&other, generate_signing_key().unwrap()).unwrap();
        let partner = officer(&public_pem(&private).unwrap());
        let token = mint(&key, "fg@example.org", "ketenpoort", 5).unwrap();
        assert_eq!(
            verify(&partner, &token, "ketenpoort").unwrap(),
            "fg@example.org"
        );
        assert!(matches!(
            verify(&partner, &token, "elsewhere"),
            Err(TokenError::Invalid(_))
        ));
        let forged = mint(&other, "fg@example.org", "ketenpoort", 5).unwrap();
        assert!(matches!(
            verify(&partner, &forged, "ketenpoort"),
            Err(TokenError::Invalid(_))
        ));
        assert_eq!(bearer(Some(&format!("Bearer {token}"))).unwrap(), token);
        assert!(matches!(bearer(None), Err(TokenError::Missing)));
    }
}
