//! Deferred disclosure: the one place that decides which items a report to the data subject
//! leaves out for now. The policy marks signal types and purposes to hold back, as the Wpg
//! allows for police and public order data ([`crate::policy::Deferrals`]); an officer may
//! release an item before its date, and that release is an audit record. Every report to a
//! data subject asks here: `AuditService.SubjectReport`, the CLI, the console and the Logboek
//! read API by data subject.

use std::collections::HashSet;

use serde_json::json;

pub use crate::policy::HeldBack;

use super::{Exchange, ExchangeError, audit_reading::Officer};
use crate::{audit::StoredRecord, store::AuditFilter};

/// The `method` of the audit record that releases a held-back item.
const RELEASE: &str = "ReleaseHeldBack";

// === impl Exchange ===

impl Exchange {
    /// Releases the record `seq` to the data subject before its date: an audit record by the
    /// officer, about the same subject as the released record (so that the release is found
    /// by the subject's hashes, through their index), and itself accountable. Refused when
    /// the record is not in the officer's scope.
    pub async fn release_held_back(
        &self,
        officer: &Officer,
        seq: i64,
    ) -> Result<(), ExchangeError> {
        let filter = AuditFilter {
            after_seq: seq - 1,
            limit: 1,
            scope: officer.scope.clone(),
            ..AuditFilter::default()
        };
        let found = self.store.audit_records(&filter).await?;
        let Some(released) = found.into_iter().next().filter(|r| r.record.seq == seq) else {
            return Err(ExchangeError::NotFound(format!(
                "record {seq} is not in your organisation's scope"
            )));
        };
        let subject = released.record.event.subject;
        self.audit_read(
            &officer.actor,
            RELEASE,
            subject,
            json!({ "released_seq": seq }),
        )
        .await
    }

    /// For each of `records` (found by the subject hashes `about`), whether it is held back
    /// from the data subject now, and why: marked by the policy, its date not passed, and not
    /// released by an officer.
    pub(super) async fn held_back(
        &self,
        records: &[StoredRecord],
        about: &[String],
    ) -> Result<Vec<Option<HeldBack>>, ExchangeError> {
        let now = self.clock.now_ms();
        let policy = self.policy.load();
        let mut held: Vec<Option<HeldBack>> = records
            .iter()
            .map(|r| {
                let e = &r.record.event;
                let signal_type = e.signal_type.as_deref().unwrap_or_default();
                let purposes = e.purpose.as_deref().unwrap_or_default();
                policy
                    .deferrals()
                    .held_back(signal_type, purposes, r.record.at, now)
            })
            .collect();
        if held.iter().any(Option::is_some) {
            let released = self.released(about).await?;
            for (record, held) in records.iter().zip(held.iter_mut()) {
                if released.contains(&record.record.seq) {
                    *held = None;
                }
            }
        }
        Ok(held)
    }

    /// Leaves out of `records` (found by the subject hashes `about`) what is held back from
    /// the data subject; returns how many were left out.
    pub(super) async fn leave_out_held_back(
        &self,
        records: &mut Vec<StoredRecord>,
        about: &[String],
    ) -> Result<usize, ExchangeError> {
        let held = self.held_back(records, about).await?;
        let before = records.len();
        let mut held = held.into_iter();
        records.retain(|_| held.next().flatten().is_none());
        Ok(before - records.len())
    }

    /// The records about the subject `about` that an officer released before their date.
    async fn released(&self, about: &[String]) -> Result<HashSet<i64>, ExchangeError> {
        let filter = AuditFilter {
            event: Some("audit_read".into()),
            about: Some(about.to_vec()),
            ..AuditFilter::default()
        };
        Ok(self
            .walk(filter)
            .await?
            .iter()
            .map(|r| &r.record.event.detail)
            .filter(|detail| detail["method"] == RELEASE)
            .filter_map(|detail| detail["result"]["released_seq"].as_i64())
            .collect())
    }
}
