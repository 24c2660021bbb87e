//! An audit event sealed for the chain before the writer takes it: its detail bounded and its
//! members of the record's canonical JSON encoded once, so that the one writer, which every
//! record passes through in turn, only places it after the head (sequence number, id, time,
//! previous hash) and hashes it ([`ChainHead::append`]). Sealing can then happen in the
//! request's own task, beside the other requests, instead of in the writer.
//!
//! The hash is the one [`AuditRecord::hash`] computes, and `audit verify` recomputes, from
//! the whole record: the record's canonical JSON is its place followed by the event's members
//! and the previous hash, so the members encoded here are spliced in, not encoded again.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use super::{AuditEvent, AuditRecord, ChainHead, MAX_DETAIL_BYTES};

/// An event ready to be placed in the chain.
#[derive(Debug, Clone)]
pub struct SealedEvent {
    event: AuditEvent,
    /// The event's members of the record's canonical JSON: `"event":…,…,"detail":…`.
    members: String,
    /// Where the detail's JSON begins in `members` (it is the last member).
    detail_at: usize,
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
        let mut members = object
            .get(1..object.len().saturating_sub(1 + "null".len()))
            .unwrap_or_default()
            .to_string();
        let detail_at = members.len();
        members.push_str(&detail);
        Self {
            event,
            members,
            detail_at,
        }
    }

    /// The event, as sealed.
    pub fn event(&self) -> &AuditEvent {
        &self.event
    }

    /// The event's detail as JSON text, as it is hashed.
    pub fn detail_json(&self) -> &str {
        self.members.get(self.detail_at..).unwrap_or_default()
    }
}

impl From<AuditEvent> for SealedEvent {
    fn from(event: AuditEvent) -> Self {
        Self::new(event)
    }
}

// === impl ChainHead ===

impl ChainHead {
    /// Places `event` after the head, returning the record and its hash, and advances the head.
    pub fn append(&mut self, event: impl Into<SealedEvent>, at: i64) -> (AuditRecord, String) {
        let SealedEvent { event, members, .. } = event.into();
        let record = AuditRecord {
            seq: self.seq + 1,
            id: uuid::Uuid::now_v7().to_string(),
            at,
            event,
            prev_hash: self.hash.clone(),
        };
        let hash = hash_of(&record, &members);
        self.seq = record.seq;
        self.hash = hash.clone();
        (record, hash)
    }
}

/// [`AuditRecord::hash`] of `record`, whose event's members are `members`.
fn hash_of(record: &AuditRecord, members: &str) -> String {
    let quoted = |text: &str| serde_json::to_string(text).unwrap_or_default();
    let mut canonical = String::with_capacity(members.len() + 200);
    // Writing into a `String` cannot fail.
    let _ = write!(
        canonical,
        "{{\"seq\":{},\"id\":{},\"at\":{},{members},\"prev_hash\":{}}}",
        record.seq,
        quoted(&record.id),
        record.at,
        quoted(&record.prev_hash),
    );
    let mut hasher = Sha256::new();
    hasher.update(record.prev_hash.as_bytes());
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
            assert_eq!(sealed.detail_json(), sealed.event().detail.to_string());
            let (record, hash) = head.append(sealed, at as i64 * 1_000_003);
            assert_eq!(hash, record.hash(), "record {}", record.seq);
            assert_eq!(head.hash, hash);
        }
        assert_eq!(head.seq, 3);
    }
}
