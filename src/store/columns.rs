//! What several statements share: the column lists of the audit log and of a signal's keyed
//! subject, and the decoders and encoders of columns stored as JSON or enum text. Each exists
//! once, so a column added to a table is added in one place.

use sqlx::{Row, any::AnyRow};

use super::StoreError;
use crate::audit::Subject;

/// The columns of `audit_log`, in the order records are written and read. A macro, so that
/// statements can `concat!` it into a `&'static str`.
macro_rules! audit_columns {
    () => {
        "seq, id, at, event, outcome, actor_oin, actor_person, counterparty_oin, purpose, legal_basis, signal_id, signal_type, delivery_id, case_ref_hash, subject_type, subject_hash, subject_key_id, trace_id, span_id, detail, prev_hash, hash"
    };
}

/// The keyed-subject columns of `signals`, as selected from a join aliasing it `s`.
macro_rules! signal_subject {
    () => {
        "s.case_ref_hash, s.subject_type, s.subject_hash, s.subject_key_id"
    };
}

pub(super) use {audit_columns, signal_subject};

/// The keyed-hash subject columns of a row (of `audit_log`, or of `signals` joined).
pub(super) fn subject_of(row: &AnyRow) -> Result<Subject, sqlx::Error> {
    Ok(Subject {
        case_ref_hash: row.try_get("case_ref_hash")?,
        subject_type: row.try_get("subject_type")?,
        subject_hash: row.try_get("subject_hash")?,
        subject_key_id: row.try_get("subject_key_id")?,
    })
}

/// A list of strings as the JSON text it is stored as.
pub(super) fn to_json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

/// A list of strings from the JSON text it is stored as.
pub(super) fn from_json(text: String) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// An enum's serde name (`signal_accepted`), as stored in a text column.
pub(super) fn enum_text<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}
