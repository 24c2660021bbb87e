//! The identifiers every floor of the gateway speaks of: a partner's OIN and a certificate's
//! fingerprint. Parsing them is the only validation they need; nothing here knows TLS,
//! storage or the wire.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A Dutch government organisation number ("Organisatie-identificatienummer"): 20 digits,
/// carried in PKIoverheid certificates as the subject serialNumber.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Oin(String);

/// Why a string is not an OIN.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("an OIN is exactly 20 digits (got {len} characters{})", if *.digits { "" } else { ", not all digits" })]
pub struct InvalidOin {
    len: usize,
    digits: bool,
}

/// The SHA-256 fingerprint of a DER-encoded certificate.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertFingerprint([u8; 32]);

/// Why a string is not a certificate fingerprint.
#[derive(Debug, thiserror::Error)]
#[error("a certificate fingerprint is 64 hexadecimal characters (SHA-256), colons allowed")]
pub struct InvalidFingerprint;

// === impl Oin ===

impl Oin {
    /// The OIN as its 20 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for a test OIN (prefix 00000099), the only kind development certificates may carry.
    pub fn is_test_oin(&self) -> bool {
        self.0.starts_with("00000099")
    }
}

impl FromStr for Oin {
    type Err = InvalidOin;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.bytes().all(|b| b.is_ascii_digit());
        if s.len() == 20 && digits {
            Ok(Self(s.to_string()))
        } else {
            Err(InvalidOin {
                len: s.chars().count(),
                digits,
            })
        }
    }
}

impl TryFrom<String> for Oin {
    type Error = InvalidOin;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Oin> for String {
    fn from(oin: Oin) -> Self {
        oin.0
    }
}

impl fmt::Display for Oin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Oin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oin({})", self.0)
    }
}

// === impl CertFingerprint ===

impl CertFingerprint {
    /// Fingerprint of a DER-encoded certificate.
    pub fn of_der(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }
}

impl FromStr for CertFingerprint {
    type Err = InvalidFingerprint;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex_digits: String = s.chars().filter(|c| *c != ':').collect();
        let bytes = hex::decode(hex_digits).map_err(|_| InvalidFingerprint)?;
        bytes.try_into().map(Self).map_err(|_| InvalidFingerprint)
    }
}

impl fmt::Display for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertFingerprint({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oin_is_twenty_digits() {
        let oin: Oin = "00000099000000010000".parse().unwrap();
        assert!(oin.is_test_oin());
        assert_eq!(
            "0000009900000001000"
                .parse::<Oin>()
                .unwrap_err()
                .to_string(),
            "an OIN is exactly 20 digits (got 19 characters)"
        );
        assert!("0000009900000001000x".parse::<Oin>().is_err());
        assert!(!"00000001000000010000".parse::<Oin>().unwrap().is_test_oin());
    }

    #[test]
    fn fingerprint_round_trips_with_or_without_colons() {
        let fp = CertFingerprint::of_der(b"certificate");
        let hex = fp.to_string();
        assert_eq!(hex.parse::<CertFingerprint>().unwrap(), fp);
        let colons: Vec<String> = hex
            .as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        assert_eq!(colons.join(":").parse::<CertFingerprint>().unwrap(), fp);
        assert!("abcd".parse::<CertFingerprint>().is_err());
    }
}
