//! Key material of the audit log: the gateway's Ed25519 signing key (checkpoints and signed
//! receipts), its public half for offline verification, and the HMAC keys under which case
//! references and subject identifiers are stored as keyed hashes.
//!
//! HMAC keys carry an id, stored with each record, so a key can be rotated: a new key hashes
//! new records, and a search hashes the query under every configured key.

use std::path::{Path, PathBuf};

use ring::{
    hmac,
    rand::{SecureRandom, SystemRandom},
    signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey},
};
use sha2::{Digest, Sha256};

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the 32 key bytes follow.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The gateway's signing key. Signs with aws-lc-rs, whose assembly signs in 11–17 µs on this
/// machine where ed25519-dalek took 18–29 and ring 27–40 (a receipt per `Send`; README,
/// "Benchmarks"). Ed25519 is deterministic: all three give the same signature.
pub struct Signer {
    key: aws_lc_rs::signature::Ed25519KeyPair,
    key_id: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// A public key that checks the gateway's signatures.
#[derive(Debug, Clone)]
pub struct SignatureKey {
    public: Vec<u8>,
    key_id: String,
}

/// The HMAC keys for case references and subject identifiers.
#[derive(Clone)]
pub struct SubjectKeys {
    active: (String, hmac::Key),
    all: Vec<(String, hmac::Key)>,
}

/// Why key material is unusable.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A key file does not hold the expected key.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The active HMAC key id is not among the configured keys.
    #[error("audit.active_subject_key {0:?} is not one of audit.subject_keys")]
    UnknownActiveKey(String),
    /// Key generation failed.
    #[error("cannot generate a key")]
    Generate,
}

/// A new Ed25519 private key, PKCS#8 PEM.
pub fn generate_signing_key() -> Result<String, KeyError> {
    let pkcs8 =
        Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| KeyError::Generate)?;
    Ok(pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.as_ref())))
}

/// The public half of a PKCS#8 PEM Ed25519 private key, as SubjectPublicKeyInfo PEM.
pub fn public_pem(private_pem: &str) -> Result<String, KeyError> {
    let pem = pem::parse(private_pem).map_err(|_| KeyError::Generate)?;
    let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pem.contents())
        .map_err(|_| KeyError::Generate)?;
    Ok(SignatureKey {
        public: key.public_key().as_ref().to_vec(),
        key_id: String::new(),
    }
    .to_pem())
}

/// A new 256-bit HMAC key, hex.
pub fn generate_subject_key() -> Result<String, KeyError> {
    let mut key = [0u8; 32];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| KeyError::Generate)?;
    Ok(hex::encode(key))
}

fn read(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.into(),
        source,
    })
}

fn invalid(path: &Path, reason: impl Into<String>) -> KeyError {
    KeyError::Invalid {
        path: path.into(),
        reason: reason.into(),
    }
}

fn key_id(public: &[u8]) -> String {
    hex::encode(&Sha256::digest(public)[..8])
}

// === impl Signer ===

impl Signer {
    /// Loads a PKCS#8 PEM Ed25519 private key; a v2 key's public half must match its private.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        use aws_lc_rs::signature::KeyPair as _;
        let text = read(path)?;
        let pem = pem::parse(&text).map_err(|e| invalid(path, e.to_string()))?;
        let key = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(pem.contents())
            .map_err(|e| invalid(path, format!("not an Ed25519 PKCS#8 key: {e}")))?;
        let key_id = key_id(key.public_key().as_ref());
        Ok(Self { key, key_id })
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.key.sign(message).as_ref().to_vec()
    }

    /// Short id of the key: the first 8 bytes of the SHA-256 of the public key, hex.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The public half.
    pub fn public(&self) -> SignatureKey {
        SignatureKey {
            public: aws_lc_rs::signature::KeyPair::public_key(&self.key)
                .as_ref()
                .to_vec(),
            key_id: self.key_id.clone(),
        }
    }
}

// === impl SignatureKey ===

impl SignatureKey {
    /// Loads an Ed25519 public key (SubjectPublicKeyInfo PEM, as `audit public-key` prints).
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        Self::from_pem(&read(path)?).map_err(|reason| invalid(path, reason))
    }

    /// Parses an Ed25519 SubjectPublicKeyInfo PEM.
    pub fn from_pem(text: &str) -> Result<Self, String> {
        let pem = pem::parse(text).map_err(|e| e.to_string())?;
        let public = pem
            .contents()
            .strip_prefix(&ED25519_SPKI_PREFIX[..])
            .filter(|key| key.len() == 32)
            .ok_or("not an Ed25519 public key")?
            .to_vec();
        let key_id = key_id(&public);
        Ok(Self { public, key_id })
    }

    /// The key as SubjectPublicKeyInfo PEM.
    pub fn to_pem(&self) -> String {
        let mut der = ED25519_SPKI_PREFIX.to_vec();
        der.extend_from_slice(&self.public);
        pem::encode(&pem::Pem::new("PUBLIC KEY", der))
    }

    /// Short id of the key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// True when `signature` is this key's signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.public)
            .verify(message, signature)
            .is_ok()
    }
}

// === impl SubjectKeys ===

impl SubjectKeys {
    /// Loads the HMAC keys (`id → file holding 64 hex characters`) and picks the active one.
    pub fn load(files: &[(String, PathBuf)], active: &str) -> Result<Self, KeyError> {
        let mut all = Vec::with_capacity(files.len());
        for (id, path) in files {
            let text = read(path)?;
            let bytes = hex::decode(text.trim())
                .ok()
                .filter(|b| b.len() >= 32)
                .ok_or_else(|| {
                    invalid(
                        path,
                        "expected at least 64 hexadecimal characters (a 256-bit key)",
                    )
                })?;
            all.push((id.clone(), hmac::Key::new(hmac::HMAC_SHA256, &bytes)));
        }
        let active = all
            .iter()
            .find(|(id, _)| id == active)
            .cloned()
            .ok_or_else(|| KeyError::UnknownActiveKey(active.to_string()))?;
        Ok(Self { active, all })
    }

    /// Id of the active key.
    pub fn active_id(&self) -> &str {
        &self.active.0
    }

    /// The keyed hash of `value` under the active key, hex.
    pub fn hash(&self, value: &str) -> String {
        hex::encode(hmac::sign(&self.active.1, value.as_bytes()).as_ref())
    }

    /// The keyed hashes of `value` under every configured key, for searching.
    pub fn all_hashes(&self, value: &str) -> Vec<String> {
        self.all
            .iter()
            .map(|(_, key)| hex::encode(hmac::sign(key, value.as_bytes()).as_ref()))
            .collect()
    }
}

impl std::fmt::Debug for SubjectKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key bytes are secret; show only the ids.
        f.debug_struct("SubjectKeys")
            .field("active", &self.active.0)
            .field(
                "all",
                &self.all.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_with_the_exported_public_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing.key");
        std::fs::write(&path, generate_signing_key().unwrap()).unwrap();
        let signer = Signer::load(&path).unwrap();
        let signature = signer.sign(b"checkpoint");
        let public = SignatureKey::from_pem(&signer.public().to_pem()).unwrap();
        assert_eq!(public.key_id(), signer.key_id());
        assert!(public.verify(b"checkpoint", &signature));
        assert!(!public.verify(b"checkpoinT", &signature));
    }

    #[test]
    fn a_key_whose_public_half_is_not_its_own_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing.key");
        let pem = pem::parse(generate_signing_key().unwrap()).unwrap();
        let mut der = pem.contents().to_vec();
        // A v2 PKCS#8 document ends with the 32 bytes of the public key.
        let last = der.len() - 1;
        der[last] ^= 1;
        std::fs::write(&path, pem::encode(&pem::Pem::new("PRIVATE KEY", der))).unwrap();
        assert!(matches!(Signer::load(&path), Err(KeyError::Invalid { .. })));
    }

    #[test]
    fn subject_hashes_are_keyed_and_searchable_across_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (dir.path().join("old"), dir.path().join("new"));
        std::fs::write(&old, generate_subject_key().unwrap()).unwrap();
        std::fs::write(&new, generate_subject_key().unwrap()).unwrap();
        let files = vec![("k1".to_string(), old), ("k2".to_string(), new)];
        let before = SubjectKeys::load(&files, "k1").unwrap();
        let after = SubjectKeys::load(&files, "k2").unwrap();
        let hashed = before.hash("LVV-UTR-2026-0042");
        assert_ne!(hashed, after.hash("LVV-UTR-2026-0042"));
        assert!(!hashed.contains("0042"));
        assert!(after.all_hashes("LVV-UTR-2026-0042").contains(&hashed));
        assert!(matches!(
            SubjectKeys::load(&files, "k9"),
            Err(KeyError::UnknownActiveKey(_))
        ));
    }
}
