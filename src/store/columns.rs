//! What several statements share: the column lists of the audit log and of a signal's keyed
//! subject, and the decoders and encoders of columns stored as JSON or enum text. Each exists
//! once, so a column added to a table is added in one place.

use sqlx::{Any, Row, any::AnyRow};

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

/// A type a column decodes to, from sqlx's rows and from rusqlite's values alike.
pub(super) trait Field:
    rusqlite::types::FromSql + for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any>
{
}

impl<T> Field for T where
    T: rusqlite::types::FromSql + for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any>
{
}

/// A row whose columns are read by name: sqlx's, or the writer's ([`super::link::Row`]).
pub(super) trait Fields {
    /// The value of column `name`.
    fn field<T: Field>(&self, name: &str) -> Result<T, StoreError>;
}

impl Fields for AnyRow {
    fn field<T: Field>(&self, name: &str) -> Result<T, StoreError> {
        Ok(self.try_get(name)?)
    }
}

/// The keyed-hash subject columns of a row (of `audit_log`, or of `signals` joined).
pub(super) fn subject_of(row: &impl Fields) -> Result<Subject, StoreError> {
    Ok(Subject {
        case_ref_hash: row.field("case_ref_hash")?,
        subject_type: row.field("subject_type")?,
        subject_hash: row.field("subject_hash")?,
        subject_key_id: row.field("subject_key_id")?,
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
