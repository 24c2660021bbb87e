//! Audit records: one per accepted, refused, filtered, delivered and acknowledged signal, and
//! the hash chain that makes removal or change of any record detectable.
//!
//! Records never hold payload values or case references; field paths are names only. Each
//! record's hash covers its canonical encoding and the previous record's hash.

pub mod keys;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::identity::Oin;

/// Hash that precedes the first record of the chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A signal was accepted and committed.
    SignalAccepted,
    /// A signal was refused; the detail holds the reason.
    SignalRefused,
    /// A resend with a known idempotency key was answered with the original receipt.
    SignalResent,
    /// A recipient's filtered copy was created.
    DeliveryCreated,
    /// A delivery was streamed to its recipient.
    DeliveryStreamed,
    /// A recipient acknowledged a delivery.
    DeliveryAcknowledged,
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done as asked.
    Ok,
    /// Refused.
    Refused,
}

/// An event to record; the store's writer gives it its place in the chain.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent {
    /// What happened.
    pub event: EventKind,
    /// How it ended.
    pub outcome: Outcome,
    /// The organisation that acted (sender, recipient acknowledging, caller).
    pub actor: Option<Oin>,
    /// The other organisation (recipient of a delivery, sender of an acknowledged signal).
    pub counterparty: Option<Oin>,
    /// Processing activity: purpose code(s).
    pub purpose: Option<String>,
    /// The legal basis the processing rests on.
    pub legal_basis: Option<String>,
    /// The signal.
    pub signal_id: Option<String>,
    /// The signal type.
    pub signal_type: Option<String>,
    /// The delivery.
    pub delivery_id: Option<String>,
    /// Further facts: reasons, field paths, rule, policy version. Never payload values.
    pub detail: serde_json::Value,
}

/// An event with its place in the chain.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// UUIDv7 of the record.
    pub id: String,
    /// Unix milliseconds.
    pub at: i64,
    /// The event.
    #[serde(flatten)]
    pub event: AuditEvent,
    /// Hash of the previous record (hex).
    pub prev_hash: String,
}

/// The head of the chain: the last sequence number and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// Last sequence number (0 for an empty log).
    pub seq: i64,
    /// Last hash (hex).
    pub hash: String,
}

// === impl AuditEvent ===

impl AuditEvent {
    /// An event with only kind and outcome set.
    pub fn new(event: EventKind, outcome: Outcome) -> Self {
        Self {
            event,
            outcome,
            actor: None,
            counterparty: None,
            purpose: None,
            legal_basis: None,
            signal_id: None,
            signal_type: None,
            delivery_id: None,
            detail: serde_json::Value::Null,
        }
    }
}

// === impl AuditRecord ===

impl AuditRecord {
    /// The record's hash: SHA-256 over the previous hash and the canonical JSON encoding.
    pub fn hash(&self) -> String {
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        let mut hasher = Sha256::new();
        hasher.update(self.prev_hash.as_bytes());
        hasher.update(&canonical);
        hex::encode(hasher.finalize())
    }
}

// === impl ChainHead ===

impl ChainHead {
    /// Head of an empty chain.
    pub fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS_HASH.to_string(),
        }
    }

    /// Places `event` after the head, returning the record and its hash, and advances the head.
    pub fn append(&mut self, event: AuditEvent, at: i64) -> (AuditRecord, String) {
        let record = AuditRecord {
            seq: self.seq + 1,
            id: uuid::Uuid::now_v7().to_string(),
            at,
            event,
            prev_hash: self.hash.clone(),
        };
        let hash = record.hash();
        self.seq = record.seq;
        self.hash = hash.clone();
        (record, hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_links_each_record_to_the_previous_one() {
        let mut head = ChainHead::genesis();
        let (first, h1) = head.append(AuditEvent::new(EventKind::SignalAccepted, Outcome::Ok), 1);
        let (second, h2) = head.append(AuditEvent::new(EventKind::DeliveryCreated, Outcome::Ok), 2);
        assert_eq!(first.prev_hash, GENESIS_HASH);
        assert_eq!(second.prev_hash, h1);
        assert_eq!(second.hash(), h2);
        assert_eq!(head, ChainHead { seq: 2, hash: h2 });
        let mut altered = second.clone();
        altered.at = 3;
        assert_ne!(altered.hash(), second.hash());
    }
}
