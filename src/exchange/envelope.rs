//! The envelope of a `Send` as the transport received it, and its validation: every field is
//! checked before anything is stored, logged or echoed, and every refusal says what to fix
//! without repeating the value.

use std::{collections::HashSet, fmt};

use prost_reflect::{DynamicMessage, MessageDescriptor};
use sha2::{Digest, Sha256};

use super::ExchangeError;
use crate::{
    catalogue::{Catalogue, TYPE_URL_PREFIX},
    ids::Oin,
};

/// Longest accepted idempotency key.
const MAX_IDEMPOTENCY_KEY: usize = 128;
/// Longest accepted case reference.
const MAX_CASE_REF: usize = 64;
/// Longest accepted purpose code.
const MAX_CODE: usize = 64;
/// Longest accepted payload type URL.
const MAX_TYPE_URL: usize = 256;

/// A `Send` request before validation.
#[derive(Clone, Default)]
pub struct Envelope {
    /// The sender's key that makes a resend safe.
    pub idempotency_key: String,
    /// The chain's case reference.
    pub case_ref: String,
    /// The sending purpose code.
    pub purpose: String,
    /// Recipient OINs, as given.
    pub recipients: Vec<String>,
    /// The payload: a catalogue message packed as `google.protobuf.Any`.
    pub payload: Option<Payload>,
    /// Size of the whole request as encoded on the wire, in bytes.
    pub encoded_len: usize,
}

/// A packed catalogue message.
#[derive(Clone, Default)]
pub struct Payload {
    /// `type.googleapis.com/ketenpoort.v1.<Message>`.
    pub type_url: String,
    /// The encoded message.
    pub value: Vec<u8>,
}

/// An envelope that passed validation, with its payload decoded.
pub(super) struct Checked<'a> {
    /// The signal type.
    pub signal: MessageDescriptor,
    /// The decoded payload.
    pub payload: DynamicMessage,
    /// The payload's encoding, as sent: what the filter cuts each copy from.
    pub encoded: &'a [u8],
    /// The recipients, parsed, each once.
    pub recipients: Vec<Oin>,
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The case reference and the payload are personal data: never shown.
        f.debug_struct("Envelope")
            .field("recipients", &self.recipients.len())
            .field("encoded_len", &self.encoded_len)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Payload")
            .field("bytes", &self.value.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Checked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checked")
            .field("signal", &self.signal.name())
            .field("recipients", &self.recipients)
            .finish_non_exhaustive()
    }
}

// === impl Envelope ===

impl Envelope {
    /// Checks the envelope of `sender` and decodes the payload; every message says what to
    /// fix.
    pub(super) fn check(
        &self,
        sender: &Oin,
        catalogue: &Catalogue,
        max_bytes: usize,
    ) -> Result<Checked<'_>, ExchangeError> {
        let invalid = |msg: String| Err(ExchangeError::Invalid(msg));
        let size = self.encoded_len;
        if size > max_bytes {
            return invalid(format!(
                "the signal is {size} bytes; the gateway accepts at most {max_bytes} bytes: send case data only, no documents"
            ));
        }
        if self.idempotency_key.trim().is_empty() {
            return invalid("idempotency_key is empty: set a key unique to this signal (for example a UUID), so a resend after a failure is safe".into());
        }
        if self.idempotency_key.len() > MAX_IDEMPOTENCY_KEY {
            return invalid(format!(
                "idempotency_key is longer than {MAX_IDEMPOTENCY_KEY} characters"
            ));
        }
        if !printable(&self.idempotency_key) {
            return invalid("idempotency_key holds control characters: use printable characters only (for example a UUID)".into());
        }
        if self.case_ref.is_empty() {
            return invalid(
                "case_ref is empty: set the chain's case reference (for example LVV-UTR-2026-0042)"
                    .into(),
            );
        }
        if self.case_ref.len() > MAX_CASE_REF
            || !self
                .case_ref
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./:".contains(&b))
        {
            return invalid(format!(
                "case_ref must be 1 to {MAX_CASE_REF} characters of letters, digits and -_./: (a case number, never a V-nummer, BSN or name)"
            ));
        }
        if self.purpose.is_empty() {
            return invalid("purpose is empty: set the code of your sending purpose from the policy (for example INTAKE)".into());
        }
        if !is_code(&self.purpose) {
            return invalid(format!(
                "purpose must be a purpose code from the policy: 1 to {MAX_CODE} capitals, digits and _ (for example INTAKE; PolicyService.WhatMayI lists yours)"
            ));
        }
        let recipients = self.check_recipients(sender)?;
        let Some(any) = &self.payload else {
            return invalid(format!(
                "payload is missing: pack a catalogue message as google.protobuf.Any with type URL {TYPE_URL_PREFIX}ketenpoort.v1.<Message>"
            ));
        };
        if any.type_url.len() > MAX_TYPE_URL || !printable(&any.type_url) {
            return invalid(format!(
                "payload type URL must be at most {MAX_TYPE_URL} printable characters, such as {TYPE_URL_PREFIX}ketenpoort.v1.Intake"
            ));
        }
        let signal = catalogue
            .signal_for_type_url(&any.type_url)
            .map_err(|e| ExchangeError::Invalid(e.to_string()))?
            .clone();
        let payload =
            DynamicMessage::decode(signal.clone(), any.value.as_slice()).map_err(|e| {
                ExchangeError::Invalid(format!(
                    "payload does not decode as {}: {e}",
                    signal.full_name()
                ))
            })?;
        // Each value in the form its field's schema gives: a payload packed under another
        // signal's type URL fails here rather than land free text in, say, a date field.
        catalogue
            .check_formats(&payload)
            .map_err(|e| ExchangeError::Invalid(e.to_string()))?;
        Ok(Checked {
            signal,
            payload,
            encoded: &any.value,
            recipients,
        })
    }

    fn check_recipients(&self, sender: &Oin) -> Result<Vec<Oin>, ExchangeError> {
        if self.recipients.is_empty() {
            return Err(ExchangeError::Invalid(
                "recipients is empty: name at least one recipient by OIN".into(),
            ));
        }
        let mut seen = HashSet::new();
        self.recipients
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let oin: Oin = text
                    .parse()
                    .map_err(|e| ExchangeError::Invalid(format!("recipients[{i}]: {e}")))?;
                if &oin == sender {
                    return Err(ExchangeError::Invalid(format!(
                        "recipients[{i}] is your own OIN: a partner does not send signals to itself"
                    )));
                }
                if !seen.insert(oin.clone()) {
                    return Err(ExchangeError::Invalid(format!(
                        "recipients[{i}] repeats {oin}: name each recipient once"
                    )));
                }
                Ok(oin)
            })
            .collect()
    }

    /// SHA-256 over the envelope's content, each part length-prefixed, to recognise resends.
    pub(super) fn content_hash(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        let mut part = |bytes: &[u8]| {
            hasher.update((bytes.len() as u64).to_be_bytes());
            hasher.update(bytes);
        };
        part(self.case_ref.as_bytes());
        part(self.purpose.as_bytes());
        for recipient in &self.recipients {
            part(recipient.as_bytes());
        }
        if let Some(any) = &self.payload {
            part(any.type_url.as_bytes());
            part(&any.value);
        }
        hasher.finalize().into()
    }

    /// The signal type the payload claims, for metrics and the refusal's audit record:
    /// the catalogue name when the type URL names a catalogue message, else `None`.
    pub(super) fn claimed_type<'c>(&self, catalogue: &'c Catalogue) -> Option<&'c str> {
        let any = self.payload.as_ref()?;
        catalogue
            .signal_for_type_url(&any.type_url)
            .ok()
            .map(|m| m.name())
    }
}

/// Whether `text` is a code as the policy writes them: capitals, digits and `_`.
pub(super) fn is_code(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_CODE
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Whether `text` holds no control characters (NUL, newlines, escapes).
fn printable(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_printable_strings() {
        assert!(is_code("INTAKE") && is_code("CASE_DIRECTION") && is_code("R2"));
        assert!(!is_code("") && !is_code("intake") && !is_code("V-NUMMER 1234567890"));
        assert!(!is_code(&"A".repeat(65)));
        assert!(printable("0199-key: é") && !printable("key\0") && !printable("a\nb"));
    }

    /// What a careless client may put in any field: a value it should never see repeated.
    const SECRET: &str = "zz-secret V-nummer ü";

    /// Mostly `valid`, so that the later checks are reached too; else printable text or any
    /// characters, with or without the secret.
    fn field(valid: &'static str) -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let text = ("[ -~]{0,80}", any::<bool>(), "\\PC{0,8}").prop_map(|(text, secret, tail)| {
            if secret {
                format!("{text}{SECRET}{tail}")
            } else {
                text + &tail
            }
        });
        prop_oneof![3 => Just(valid.to_string()), 1 => text]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..Default::default()
        })]

        /// Whatever a client sends, a refusal names the field and the rule, never the value.
        #[test]
        fn a_refusal_never_repeats_what_was_sent(
            key in field("key-1"),
            case_ref in field("LVV-UTR-2026-0042"),
            purpose in field("INTAKE"),
            recipient in field("00000099100000010000"),
            type_url in field("type.googleapis.com/ketenpoort.v1.Intake"),
            value in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            with_payload in proptest::prelude::any::<bool>(),
        ) {
            let catalogue = Catalogue::load().unwrap();
            let sender: Oin = "00000099300000010000".parse().unwrap();
            let envelope = Envelope {
                idempotency_key: key,
                case_ref,
                purpose,
                recipients: vec![recipient],
                payload: with_payload.then_some(Payload { type_url, value }),
                encoded_len: 100,
            };
            if let Err(e) = envelope.check(&sender, &catalogue, 1 << 20) {
                proptest::prop_assert!(!e.to_string().contains("secret"), "{}", e);
            }
        }
    }
}
