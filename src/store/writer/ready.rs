//! Audit events made ready for the writer in the caller's task: sealed for the chain
//! ([`SealedEvent`]) and their fields moved into their columns of `audit_log`
//! ([`JsonRows::values`]; the writer keeps only the sealed members to hash), so that
//! the one writer, which every record passes through in turn, only places each after the head
//! and adds its place and hashes to the row. A `Send`'s records and those of `Store::audit`
//! come ready; the writer readies the records it makes itself.

use super::{
    Writer,
    rows::{AuditRow, Rows},
};
use crate::{
    audit::{AuditEvent, Members, SealedEvent, Subject, Trace},
    store::{
        columns::enum_text,
        json_rows::{JsonRows, Values},
    },
};

/// An audit event, sealed, with its columns of `audit_log` from `event` to `detail`.
#[derive(Debug, Clone)]
pub(in crate::store) struct ReadyEvent {
    members: Members,
    columns: Values,
}

// === impl ReadyEvent ===

impl ReadyEvent {
    /// Seals `event` and moves its fields into its columns.
    pub fn new(event: AuditEvent) -> Self {
        let (event, members) = SealedEvent::new(event).into_parts();
        // Every field by name, so that a field added to the event is not left out unseen.
        let AuditEvent {
            event,
            outcome,
            actor,
            actor_person,
            counterparty,
            purpose,
            legal_basis,
            signal_id,
            signal_type,
            delivery_id,
            subject:
                Subject {
                    case_ref_hash,
                    subject_type,
                    subject_hash,
                    subject_key_id,
                },
            trace: Trace { trace_id, span_id },
            detail: _,
        } = event;
        let columns = JsonRows::values(|r| {
            r.text(&enum_text(&event))
                .text(&enum_text(&outcome))
                .owned(actor.map(String::from))
                .owned(actor_person)
                .owned(counterparty.map(String::from))
                .owned(purpose)
                .owned(legal_basis)
                .owned(signal_id)
                .owned(signal_type)
                .owned(delivery_id)
                .owned(case_ref_hash)
                .owned(subject_type)
                .owned(subject_hash)
                .owned(subject_key_id)
                .owned(trace_id)
                .owned(span_id)
                .text(members.detail_json());
        });
        Self { members, columns }
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
        let ReadyEvent { members, columns } = event.into();
        let placed = self.head.place(&members, at);
        rows.audit.push(AuditRow {
            seq: placed.seq,
            id: placed.id,
            at,
            columns,
            prev_hash: placed.prev_hash,
            hash: placed.hash,
        });
        placed.seq
    }
}
