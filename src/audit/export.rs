//! Export formats of the audit log: the native JSON Lines (a header naming the signing key,
//! every record with its hash, every signed checkpoint), which verifies offline with the
//! public key alone; and lines shaped after the Dutch Logboek Dataverwerkingen standard.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    Checkpoint, EventKind, Outcome, StoredRecord,
    keys::SignatureKey,
    verify::{Verification, Verifier},
};

/// The first line of a native export.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportHeader {
    /// Format version.
    pub format: String,
    /// Id of the key that signed the checkpoints.
    pub key_id: String,
    /// The public key, PEM (informative: verify with a key obtained independently).
    pub public_key: String,
    /// True when the export holds every record; false when limited by scope or time, in which
    /// case links across the missing records cannot be checked.
    pub complete: bool,
}

/// One line of a native export.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ExportLine {
    /// The header.
    Header(ExportHeader),
    /// A record with its hash.
    Record(Box<StoredRecord>),
    /// A signed checkpoint.
    Checkpoint(Checkpoint),
}

/// Why an export file cannot be verified.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A line is not valid JSON of the export format.
    #[error("line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The file has no header line.
    #[error("the file does not start with an export header")]
    NoHeader,
}

impl ExportHeader {
    /// The header of an export signed with `key`.
    pub fn new(key: &SignatureKey, complete: bool) -> Self {
        Self {
            format: "ketenpoort-audit-export-v1".into(),
            key_id: key.key_id().to_string(),
            public_key: key.to_pem(),
            complete,
        }
    }
}

/// The snake_case name of an event kind.
pub fn event_name(kind: EventKind) -> String {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

fn line(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The header line.
pub fn header_line(header: &ExportHeader) -> String {
    line(&ExportLine::Header(header.clone()))
}

/// A record line.
pub fn record_line(record: &StoredRecord) -> String {
    line(&ExportLine::Record(Box::new(record.clone())))
}

/// A checkpoint line.
pub fn checkpoint_line(checkpoint: &Checkpoint) -> String {
    line(&ExportLine::Checkpoint(checkpoint.clone()))
}

/// A record in the shape of a Logboek Dataverwerkingen processing record.
pub fn ldv_line(stored: &StoredRecord) -> String {
    line(&ldv_value(stored))
}

/// A record in the shape of the Logboek Dataverwerkingen standard, as a JSON value (the
/// lines of [`ldv_line`], and the records the Logboek read API answers).
pub fn ldv_value(stored: &StoredRecord) -> serde_json::Value {
    let r = &stored.record;
    let e = &r.event;
    let time = humantime::format_rfc3339_millis(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(r.at).unwrap_or(0)),
    )
    .to_string();
    json!({
        "trace_id": e.trace.trace_id,
        "span_id": e.trace.span_id,
        "name": event_name(e.event),
        "start_time": time,
        "end_time": time,
        "status_code": if e.outcome == Outcome::Ok { "OK" } else { "ERROR" },
        "resource": { "service.name": "ketenpoort" },
        "attributes": {
            "dpl.core.processing_activity_id": e.purpose,
            "dpl.core.data_subject_id": e.subject.subject_hash.as_ref().or(e.subject.case_ref_hash.as_ref()),
            "dpl.core.data_subject_id_type": e.subject.subject_type.as_deref().unwrap_or("case_ref"),
            "dpl.core.user.id": e.actor_person,
            "dpl.core.organisation.oin": e.actor,
            "ketenpoort.counterparty_oin": e.counterparty,
            "ketenpoort.legal_basis": e.legal_basis,
            "ketenpoort.signal_id": e.signal_id,
            "ketenpoort.signal_type": e.signal_type,
            "ketenpoort.delivery_id": e.delivery_id,
            "ketenpoort.transaction_id": r.id,
            "ketenpoort.audit_seq": r.seq,
            "ketenpoort.audit_hash": stored.hash,
        },
    })
}

/// Verifies a native export with `key`, offline.
pub fn verify_export(text: &str, key: &SignatureKey) -> Result<Verification, ExportError> {
    let mut header = None;
    let mut records = Vec::new();
    let mut checkpoints = Vec::new();
    for (i, text) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let parsed: ExportLine = serde_json::from_str(text).map_err(|e| ExportError::Line {
            line: i + 1,
            reason: e.to_string(),
        })?;
        match parsed {
            ExportLine::Header(h) => header = Some(h),
            ExportLine::Record(r) => records.push(*r),
            ExportLine::Checkpoint(c) => checkpoints.push(c),
        }
    }
    let header = header.ok_or(ExportError::NoHeader)?;
    let mut verifier = Verifier::new(key, checkpoints, !header.complete);
    for record in &records {
        verifier.push(record);
    }
    Ok(verifier.finish())
}
