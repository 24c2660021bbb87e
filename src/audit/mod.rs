//! Audit records: one per accepted, refused, filtered, delivered and acknowledged signal, and
//! the hash chain that makes removal or change of any record detectable.
//!
//! Records never hold payload values or case references; field paths are names only. Each
//! record's hash covers its canonical encoding and the previous record's hash.

pub mod export;
pub mod keys;
mod sealed;
pub mod verify;

pub use sealed::{Members, Placed, SealedEvent};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::Oin;

/// Hash that precedes the first record of the chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// A delivery was not acknowledged in time: it is no longer streamed and its copy is erased.
    DeliveryExpired,
    /// A privacy officer read the audit log (query, report, verification, export).
    AuditRead,
    /// A request for the audit log was refused (no valid token, wrong role).
    AuditRefused,
    /// An operator changed the registry (partner or certificate), or it was seeded.
    RegistryChanged,
    /// An operator's request was refused (no valid token, wrong role, a certificate refused).
    AdminRefused,
    /// Records past their retention were removed (after a signed checkpoint at the cut).
    AuditPruned,
    /// A partner's `Ack` or `GetReceipt` was refused (the detail names the method and why).
    RequestRefused,
    /// The programme monitor read a report of aggregate figures (the detail names the quarter).
    MonitorReport,
    /// A request for a monitor report was refused (no valid token, wrong role).
    MonitorRefused,
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done as asked.
    Ok,
    /// Refused.
    Refused,
}

/// An event to record; the store's writer gives it its place in the chain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEvent {
    /// What happened.
    pub event: EventKind,
    /// How it ended.
    pub outcome: Outcome,
    /// The organisation that acted (sender, recipient acknowledging, caller).
    pub actor: Option<Oin>,
    /// The natural person who acted, from a verified JWT (`sub`).
    pub actor_person: Option<String>,
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
    /// The case and data subject, as keyed hashes.
    #[serde(flatten)]
    pub subject: Subject,
    /// W3C trace context of the request, to match the partner's own processing records.
    #[serde(flatten)]
    pub trace: Trace,
    /// Further facts: reasons, field paths, rule, policy version. Never payload values.
    pub detail: serde_json::Value,
}

/// Who a record is about, as keyed hashes (HMAC-SHA256) under the key `subject_key_id`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// Keyed hash of the case reference.
    pub case_ref_hash: Option<String>,
    /// Kind of subject identifier found in the payload: `v_nummer` or `bsn`.
    pub subject_type: Option<String>,
    /// Keyed hash of that identifier.
    pub subject_hash: Option<String>,
    /// Id of the HMAC key.
    pub subject_key_id: Option<String>,
}

/// W3C trace context ids of the request that caused an event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    /// 32 hex characters, taken from the caller's `traceparent` or started here.
    pub trace_id: Option<String>,
    /// 16 hex characters: the gateway's own span for the request.
    pub span_id: Option<String>,
}

/// Who acted in a request, as the audit log records it: the organisation, the natural person
/// a verified token names, and the request's trace. Every audit event a request causes is
/// built from its actor ([`Actor::event`]), so none loses the person or the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The calling partner's OIN.
    pub oin: Oin,
    /// The person (`sub` of a verified JWT), when a token named one.
    pub person: Option<String>,
    /// W3C trace context of the request.
    pub trace: Trace,
}

/// A signed statement of the chain's head at a sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Last record covered.
    pub seq: i64,
    /// Unix milliseconds.
    pub at: i64,
    /// Hash of record `seq`.
    pub head_hash: String,
    /// Id of the signing key.
    pub key_id: String,
    /// Ed25519 signature over [`Checkpoint::message`], hex.
    pub signature: String,
}

/// An event with its place in the chain.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// A record as stored: with the hash the writer computed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredRecord {
    /// The record.
    #[serde(flatten)]
    pub record: AuditRecord,
    /// Its hash (hex) as written.
    pub hash: String,
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
            actor_person: None,
            counterparty: None,
            purpose: None,
            legal_basis: None,
            signal_id: None,
            signal_type: None,
            delivery_id: None,
            subject: Subject::default(),
            trace: Trace::default(),
            detail: serde_json::Value::Null,
        }
    }

    /// The organisation that received the copy this record is about, for a delivery's
    /// records: the counterparty of its creation and expiry, the actor of its fetching and
    /// acknowledgement. `None` for every other record.
    pub fn delivery_receiver(&self) -> Option<&Oin> {
        match self.event {
            EventKind::DeliveryCreated | EventKind::DeliveryExpired => self.counterparty.as_ref(),
            EventKind::DeliveryStreamed | EventKind::DeliveryAcknowledged => self.actor.as_ref(),
            _ => None,
        }
    }
}

// === impl Actor ===

impl Actor {
    /// An event of `kind` acted by this actor, with its person and trace.
    pub fn event(&self, kind: EventKind, outcome: Outcome) -> AuditEvent {
        AuditEvent {
            actor: Some(self.oin.clone()),
            actor_person: self.person.clone(),
            trace: self.trace.clone(),
            ..AuditEvent::new(kind, outcome)
        }
    }

    /// The same actor in a new request, with a trace of its own: a console session signed in
    /// once makes many requests, each audited under its own trace id.
    pub fn in_new_request(&self) -> Actor {
        Actor {
            trace: Trace::continue_from(None),
            ..self.clone()
        }
    }
}

// === impl Trace ===

impl Trace {
    /// Continues the caller's W3C `traceparent` (`00-<trace id>-<parent span>-<flags>`) with a
    /// new span of the gateway, or starts a new trace when there is none or it is malformed.
    pub fn continue_from(traceparent: Option<&str>) -> Self {
        let random = uuid::Uuid::new_v4().into_bytes();
        let trace_id = traceparent
            .and_then(|header| {
                let mut parts = header.trim().split('-');
                let (version, trace, span) = (parts.next()?, parts.next()?, parts.next()?);
                let valid = version.len() == 2
                    && trace.len() == 32
                    && span.len() == 16
                    && trace.bytes().all(|b| b.is_ascii_hexdigit())
                    && trace != "00000000000000000000000000000000";
                valid.then(|| trace.to_ascii_lowercase())
            })
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        Self {
            trace_id: Some(trace_id),
            span_id: Some(hex::encode(&random[..8])),
        }
    }

    /// The `traceparent` value of the gateway's span.
    pub fn traceparent(&self) -> Option<String> {
        Some(format!(
            "00-{}-{}-01",
            self.trace_id.as_deref()?,
            self.span_id.as_deref()?
        ))
    }
}

// === impl Checkpoint ===

impl Checkpoint {
    /// The bytes a checkpoint signature covers.
    pub fn message(seq: i64, at: i64, head_hash: &str) -> Vec<u8> {
        format!("ketenpoort-checkpoint-v1\n{seq}\n{at}\n{head_hash}").into_bytes()
    }
}

/// The bytes a receipt signature covers; documented in `gateway.proto` (`SendReceipt`).
pub fn receipt_message(
    signal_id: &str,
    content_sha256: &str,
    recipients: &[&str],
    accepted_at: i64,
    audit_seq: i64,
) -> Vec<u8> {
    format!(
        "ketenpoort-receipt-v1\n{signal_id}\n{content_sha256}\n{}\n{accepted_at}\n{audit_seq}",
        recipients.join(",")
    )
    .into_bytes()
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

/// Largest `detail` a record keeps, serialized, in bytes; a larger one is replaced by a note
/// of its size, so that nothing can grow the log by more than this per record.
pub const MAX_DETAIL_BYTES: usize = 8 * 1024;

// === impl ChainHead ===

impl ChainHead {
    /// Head of an empty chain.
    pub fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS_HASH.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_records_detail_has_a_size_bound() {
        let mut head = ChainHead::genesis();
        let mut event = AuditEvent::new(EventKind::SignalRefused, Outcome::Refused);
        event.detail = serde_json::json!({ "reason": "x".repeat(100_000) });
        let (record, _) = head.append(event, 0);
        // {"reason":"xxx…"}: 100,000 characters and 13 of JSON around them.
        assert_eq!(record.event.detail["detail_omitted_bytes"], 100_013);
        let mut small = AuditEvent::new(EventKind::SignalRefused, Outcome::Refused);
        small.detail = serde_json::json!({ "reason": "no rule" });
        let (record, _) = head.append(small, 0);
        assert_eq!(record.event.detail["reason"], "no rule");
    }

    #[test]
    fn trace_context_is_continued_or_started() {
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let trace = Trace::continue_from(Some(parent));
        assert_eq!(
            trace.trace_id.as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_ne!(trace.span_id.as_deref(), Some("00f067aa0ba902b7"));
        assert_eq!(trace.span_id.as_ref().unwrap().len(), 16);
        let started = Trace::continue_from(Some("garbage"));
        assert_eq!(started.trace_id.as_ref().unwrap().len(), 32);
        assert_ne!(started.trace_id, trace.trace_id);
        assert!(started.traceparent().unwrap().starts_with("00-"));
    }

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
