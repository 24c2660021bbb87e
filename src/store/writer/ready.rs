//! Audit events made ready for the writer in the caller's task: sealed for the chain
//! ([`SealedEvent`]) and their columns of `audit_log` written ([`JsonRows::values`]), so that
//! the one writer, which every record passes through in turn, only places each after the head
//! and adds its place and hashes to the row. A `Send`'s records and those of `Store::audit`
//! come ready; the writer readies the records it makes itself.

use super::{
    Writer,
    rows::{AuditRow, Rows},
};
use crate::{
    audit::{AuditEvent, SealedEvent},
    ids::Oin,
    store::{
        columns::enum_text,
        json_rows::{JsonRows, Values},
    },
};

/// An audit event, sealed, with its columns of `audit_log` from `event` to `detail`.
#[derive(Debug, Clone)]
pub(in crate::store) struct ReadyEvent {
    sealed: SealedEvent,
    columns: Values,
}

// === impl ReadyEvent ===

impl ReadyEvent {
    /// Seals `event` and writes its columns.
    pub fn new(event: AuditEvent) -> Self {
        let sealed = SealedEvent::new(event);
        let e = sealed.event();
        let columns = JsonRows::values(|r| {
            r.text(&enum_text(&e.event))
                .text(&enum_text(&e.outcome))
                .opt_text(e.actor.as_ref().map(Oin::as_str))
                .opt_text(e.actor_person.as_deref())
                .opt_text(e.counterparty.as_ref().map(Oin::as_str))
                .opt_text(e.purpose.as_deref())
                .opt_text(e.legal_basis.as_deref())
                .opt_text(e.signal_id.as_deref())
                .opt_text(e.signal_type.as_deref())
                .opt_text(e.delivery_id.as_deref())
                .opt_text(e.subject.case_ref_hash.as_deref())
                .opt_text(e.subject.subject_type.as_deref())
                .opt_text(e.subject.subject_hash.as_deref())
                .opt_text(e.subject.subject_key_id.as_deref())
                .opt_text(e.trace.trace_id.as_deref())
                .opt_text(e.trace.span_id.as_deref())
                .text(sealed.detail_json());
        });
        Self { sealed, columns }
    }
}

impl From<AuditEvent> for ReadyEvent {
    fn from(event: AuditEvent) -> Self {
        Self::new(event)
    }
}

// === impl Writer ===

impl Writer {
    /// Appends one record to the chain and to the batch's rows; returns its sequence number.
    pub(super) fn append_audit(
        &mut self,
        event: impl Into<ReadyEvent>,
        at: i64,
        rows: &mut Rows,
    ) -> i64 {
        let ReadyEvent { sealed, columns } = event.into();
        let (record, hash) = self.head.append(sealed, at);
        let seq = record.seq;
        rows.audit.push(AuditRow {
            seq,
            id: record.id,
            at,
            columns,
            prev_hash: record.prev_hash,
            hash,
        });
        seq
    }
}
