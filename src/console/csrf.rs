//! Secrets of the console: session ids and the tokens that protect every state-changing form
//! against cross-site request forgery, and their comparison in constant time.

use ring::rand::{SecureRandom, SystemRandom};

/// A fresh secret of 32 random bytes, hex-encoded.
pub fn fresh_secret() -> Result<String, ring::error::Unspecified> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// Whether a form's token equals the expected one, compared in constant time; an empty
/// expected token never matches.
pub fn matches(expected: &str, given: &str) -> bool {
    let (expected, given) = (expected.as_bytes(), given.as_bytes());
    // Lengths are not secret (always 64); the bytes are compared without an early exit.
    !expected.is_empty()
        && expected.len() == given.len()
        && expected
            .iter()
            .zip(given)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_fresh_and_compared_whole() {
        let (a, b) = (fresh_secret().unwrap(), fresh_secret().unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(matches(&a, &a.clone()));
        assert!(!matches(&a, &b));
        assert!(!matches(&a, &a[..10]));
        assert!(!matches("", ""));
    }
}
