//! An audit event sealed for the chain before the writer takes it: its detail bounded and its
//! members of the record's canonical JSON encoded once, so that the one writer, which every
//! record passes through in turn, only places it after the head (sequence number, id, time,
//! previous hash) and hashes it ([`ChainHead::place`]). Sealing can then happen in the
//! request's own task, beside the other requests, instead of in the writer.
//!
//! The hash is the one [`AuditRecord::hash`](super::AuditRecord::hash) computes, and `audit verify` recomputes, from
//! the whole record: the record's canonical JSON is its place followed by the event's members
//! and the previous hash, so the members encoded here are spliced in, not encoded again.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use super::{AuditEvent, ChainHead, MAX_DETAIL_BYTES};

/// An event ready to be placed in the chain.
#[derive(Debug, Clone)]
pub struct SealedEvent {
    event: AuditEvent,
    members: Members,
}

/// The event's members of the record's canonical JSON: `"event":…,…,"detail":…`, all the
/// chain needs of it to place and hash the record.
#[derive(Debug, Clone)]
pub struct Members {
    text: String,
    /// Where the detail's JSON begins in `text` (it is the last member).
    detail_at: usize,
}

/// Where a record was placed in the chain, and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// Its sequence number.
    pub seq: i64,
    /// Its transaction id (UUIDv7).
    pub id: String,
    /// The hash of the record before it.
    pub prev_hash: String,
    /// Its own hash.
    pub hash: String,
}

// === impl SealedEvent ===

impl SealedEvent {
    /// Seals `event`: a detail larger than [`MAX_DETAIL_BYTES`] is replaced by a note of its
    /// size, so that nothing can grow the log by more than that per record. The detail is
    /// encoded once, for the bound, the hash and the stored row alike.
    pub fn new(mut event: AuditEvent) -> Self {
        let mut detail = serde_json::to_string(&event.detail).unwrap_or_default();
        if detail.len() > MAX_DETAIL_BYTES {
            event.detail = serde_json::json!({ "detail_omitted_bytes": detail.len() });
            detail = event.detail.to_string();
        }
        // `{…,"detail":null}` without the detail: the braces are the record's, the members in
        // between the event's, and the detail, last, goes in place of the `null`.
        let taken = std::mem::take(&mut event.detail);
        let object = serde_json::to_string(&event).unwrap_or_default();
        event.detail = taken;
        let mut text = object
            .get(1..object.len().saturating_sub(1 + "null".len()))
            .unwrap_or_default()
            .to_string();
        let detail_at = text.len();
        text.push_str(&detail);
        Self {
            event,
            members: Members { text, detail_at },
        }
    }

    /// The event, as sealed (its detail bounded), and its members: the event's fields can
    /// then be moved into the stored row while the members place and hash the record.
    pub fn into_parts(self) -> (AuditEvent, Members) {
        (self.event, self.members)
    }
}

impl From<AuditEvent> for SealedEvent {
    fn from(event: AuditEvent) -> Self {
        Self::new(event)
    }
}

// === impl Members ===

impl Members {
    /// The event's detail as JSON text, as it is hashed.
    pub fn detail_json(&self) -> &str {
        self.text.get(self.detail_at..).unwrap_or_default()
    }
}

// === impl ChainHead ===

impl ChainHead {
    /// Places the event whose members are `members` after the head, at `at`, and advances
    /// the head.
    pub fn place(&mut self, members: &Members, at: i64) -> Placed {
        let seq = self.seq + 1;
        let id = uuid::Uuid::now_v7().to_string();
        let prev_hash = std::mem::take(&mut self.hash);
        let hash = hash_of(seq, &id, at, &members.text, &prev_hash);
        self.seq = seq;
        self.hash = hash.clone();
        Placed {
            seq,
            id,
            prev_hash,
            hash,
        }
    }

    /// Places `event` after the head, returning the record and its hash, and advances the head.
    #[cfg(test)]
    pub fn append(
        &mut self,
        event: impl Into<SealedEvent>,
        at: i64,
    ) -> (super::AuditRecord, String) {
        let (event, members) = event.into().into_parts();
        let placed = self.place(&members, at);
        let record = super::AuditRecord {
            seq: placed.seq,
            id: placed.id,
            at,
            event,
            prev_hash: placed.prev_hash,
        };
        (record, placed.hash)
    }
}

/// [`AuditRecord::hash`](super::AuditRecord::hash) of the record placed at `seq` with `id` at `at`, whose event's
/// members are `members`, after the record hashed `prev_hash`.
fn hash_of(seq: i64, id: &str, at: i64, members: &str, prev_hash: &str) -> String {
    let quoted = |text: &str| serde_json::to_string(text).unwrap_or_default();
    let mut canonical = String::with_capacity(members.len() + 200);
    // Writing into a `String` cannot fail.
    let _ = write!(
        canonical,
        "{{\"seq\":{},\"id\":{},\"at\":{},{members},\"prev_hash\":{}}}",
        seq,
        quoted(id),
        at,
        quoted(prev_hash),
    );
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(canonical.as_bytes());
    format!("{:x}", hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        audit::{EventKind, Outcome, Subject, Trace},
        ids::Oin,
    };

    /// An event with every member set, and a detail that JSON must escape.
    fn full_event() -> AuditEvent {
        let oin = |s: &str| s.parse::<Oin>().unwrap();
        let mut event = AuditEvent::new(EventKind::DeliveryCreated, Outcome::Ok);
        event.actor = Some(oin("00000099300000010000"));
        event.actor_person = Some("mw-\"Jansen\"\n\u{e9}".into());
        event.counterparty = Some(oin("00000099300000160000"));
        event.purpose = Some("CASE_DIRECTION".into());
        event.legal_basis = Some("Vw 2000 art. 107; AVG art. 9(2)(g)".into());
        event.signal_id = Some("01a231a5-57a8-7509-92ec-81ff0b98344a".into());
        event.signal_type = Some("Intake".into());
        event.delivery_id = Some("01a231a5-57a8-7509-92ec-820087c2c939".into());
        event.subject = Subject {
            case_ref_hash: Some("ab".repeat(32)),
            subject_type: Some("v_nummer".into()),
            subject_hash: Some("cd".repeat(32)),
            subject_key_id: Some("dev-1".into()),
        };
        event.trace = Trace {
            trace_id: Some("7711f54c1b9242db9ff2b22ef2e25ca5".into()),
            span_id: Some("659cea831d3a4a8b".into()),
        };
        event.detail = serde_json::json!({
            "withheld": ["person.bsn"],
            "detail": ",\"detail\":{}",
            "n": 1.5,
            "tab\t": null,
        });
        event
    }

    #[test]
    fn the_spliced_hash_is_the_records_own() {
        let mut oversized = AuditEvent::new(EventKind::SignalRefused, Outcome::Refused);
        oversized.detail = serde_json::json!({ "reason": "x".repeat(MAX_DETAIL_BYTES) });
        let events = [
            AuditEvent::new(EventKind::SignalAccepted, Outcome::Ok),
            full_event(),
            oversized,
        ];
        let mut head = ChainHead::genesis();
        for (at, event) in events.into_iter().enumerate() {
            let sealed = SealedEvent::new(event);
            let (event, members) = sealed.clone().into_parts();
            assert_eq!(members.detail_json(), event.detail.to_string());
            let (record, hash) = head.append(sealed, at as i64 * 1_000_003);
            assert_eq!(hash, record.hash(), "record {}", record.seq);
            assert_eq!(head.hash, hash);
        }
        assert_eq!(head.seq, 3);
    }
}
