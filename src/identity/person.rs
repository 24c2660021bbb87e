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

/// Seconds of clock difference tolerated between the token's issuer and the gateway.
const LEEWAY_SECS: u64 = 30;

/// What a token must satisfy besides its signature.
#[derive(Debug, Clone)]
pub struct TokenRules {
    /// The `aud` every token must carry.
    pub audience: String,
    /// The longest a token may be valid: `exp` at most this far from now (and from `iat`).
    pub max_lifetime: std::time::Duration,
}

/// Verifies `token` against the keys registered for `partner` at `now` (Unix seconds);
/// returns the person (`sub`). Checks `aud`, `exp`, `nbf` and `iat` (with 30 s of leeway)
/// and refuses a token valid for longer than the rules allow.
pub fn verify(
    partner: &Partner,
    token: &str,
    rules: &TokenRules,
    now: u64,
) -> Result<String, TokenError> {
    if partner.jwt_keys.is_empty() {
        return Err(TokenError::NoKeys(partner.id.clone()));
    }
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&[rules.audience.as_str()]);
    validation.set_required_spec_claims(&["sub", "aud", "exp"]);
    validation.validate_nbf = true;
    validation.leeway = LEEWAY_SECS;
    let max = rules.max_lifetime.as_secs();
    let mut last = String::new();
    for key in &partner.jwt_keys {
        match jsonwebtoken::decode::<Claims>(token, key, &validation) {
            Ok(data) if data.claims.sub.trim().is_empty() => last = "sub is empty".into(),
            Ok(data) if data.claims.iat > now + LEEWAY_SECS => {
                last = "iat is in the future: check the issuer's clock".into();
            }
            Ok(data)
                if data.claims.exp > now + max + LEEWAY_SECS
                    || data.claims.exp.saturating_sub(data.claims.iat) > max + LEEWAY_SECS
                        && data.claims.iat > 0 =>
            {
                last =
                    format!("it is valid for longer than {max} s: mint tokens that expire sooner");
            }
            Ok(data) => return Ok(data.claims.sub),
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
            logboek_url: None,
            certificates: vec![],
            changed_by: "test".into(),
            changed_at: 0,
            version: 1,
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
        let now = u64::try_from(crate::clock::now_ms() / 1000).unwrap();
        assert_eq!(
            verify(&partner, &token, &rules("ketenpoort"), now).unwrap(),
            "fg@example.org"
        );
        assert!(matches!(
            verify(&partner, &token, &rules("elsewhere"), now),
            Err(TokenError::Invalid(_))
        ));
        let forged = mint(&other, "fg@example.org", "ketenpoort", 5).unwrap();
        assert!(matches!(
            verify(&partner, &forged, &rules("ketenpoort"), now),
            Err(TokenError::Invalid(_))
        ));
        assert_eq!(bearer(Some(&format!("Bearer {token}"))).unwrap(), token);
        assert!(matches!(bearer(None), Err(TokenError::Missing)));
    }

    fn rules(audience: &str) -> TokenRules {
        TokenRules {
            audience: audience.into(),
            max_lifetime: std::time::Duration::from_secs(3600),
        }
    }

    #[test]
    fn a_token_valid_too_long_or_issued_in_the_future_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k");
        let private = generate_signing_key().unwrap();
        std::fs::write(&key, &private).unwrap();
        let partner = officer(&public_pem(&private).unwrap());
        let now = u64::try_from(crate::clock::now_ms() / 1000).unwrap();
        let day = mint(&key, "fg@example.org", "ketenpoort", 24 * 60).unwrap();
        let refused = verify(&partner, &day, &rules("ketenpoort"), now).unwrap_err();
        assert!(
            refused.to_string().contains("longer than 3600 s"),
            "{refused}"
        );
        // Seen from an hour earlier, a fresh token was issued in the future.
        let fresh = mint(&key, "fg@example.org", "ketenpoort", 5).unwrap();
        let refused = verify(&partner, &fresh, &rules("ketenpoort"), now - 3600).unwrap_err();
        assert!(
            refused.to_string().contains("iat is in the future"),
            "{refused}"
        );
        assert!(verify(&partner, &fresh, &rules("ketenpoort"), now).is_ok());
    }
}
