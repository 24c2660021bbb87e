//! Deferred disclosure: items of a subject report that are held back from the data subject for
//! a while, as the Wpg allows for police and public order data. A report to the data subject
//! leaves them out until their date; the officer's own report shows them, marked, with why.

use std::{collections::HashSet, time::Duration};

use serde_json::json;

use super::{Exchange, ExchangeError, audit_reading::Officer, timeline::TimelineEntry};
use crate::{audit::Subject, store::AuditFilter};

/// The `method` of the audit record that releases a held-back item.
const RELEASE: &str = "ReleaseHeldBack";

/// Which items are held back, and for how long after they happened.
#[derive(Debug, Clone, Default)]
pub struct Deferral {
    /// Signal types held back.
    pub signal_types: Vec<String>,
    /// Purposes held back (an item with any of them is).
    pub purposes: Vec<String>,
    /// How long after the item it is held back.
    pub hold_for: Duration,
}

/// Why and until when an item is held back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldBack {
    /// Until when (Unix ms).
    pub until: i64,
    /// Why, in words for the officer.
    pub reason: String,
}

// === impl Deferral ===

impl Deferral {
    /// Whether `entry` is held back from the data subject at `now` (Unix ms), and why.
    pub fn held_back(&self, entry: &TimelineEntry, now: i64) -> Option<HeldBack> {
        let hold = i64::try_from(self.hold_for.as_millis()).unwrap_or(i64::MAX);
        let until = entry.at.saturating_add(hold);
        if now >= until {
            return None;
        }
        let reason = if self.signal_types.contains(&entry.signal_type) {
            format!("{} signals are held back (Wpg)", entry.signal_type)
        } else {
            let purpose = entry
                .purpose
                .split(',')
                .map(str::trim)
                .find(|p| self.purposes.iter().any(|held| held == p))?;
            format!("data for purpose {purpose} is held back (Wpg)")
        };
        Some(HeldBack { until, reason })
    }
}

// === impl Exchange ===

impl Exchange {
    /// Releases the record `seq` to the data subject before its date: an audit record by the
    /// officer, so the release is itself accountable. Refused when the record is not in the
    /// officer's scope.
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
        if found.first().map(|r| r.record.seq) != Some(seq) {
            return Err(ExchangeError::NotFound(format!(
                "record {seq} is not in your organisation's scope"
            )));
        }
        self.audit_read(
            &officer.actor,
            RELEASE,
            Subject::default(),
            json!({ "released_seq": seq }),
        )
        .await
    }

    /// The records released to the data subject before their date.
    pub async fn released_records(&self) -> Result<HashSet<i64>, ExchangeError> {
        let filter = AuditFilter {
            event: Some("audit_read".into()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(signal_type: &str, purpose: &str, at: i64) -> TimelineEntry {
        TimelineEntry {
            seq: 1,
            at,
            event: "delivery_created".into(),
            actor_oin: String::new(),
            actor_name: String::new(),
            counterparty_oin: String::new(),
            counterparty_name: String::new(),
            signal_type: signal_type.into(),
            purpose: purpose.into(),
            legal_basis: String::new(),
            fields_received: Vec::new(),
            fields_withheld: Vec::new(),
            summary: String::new(),
        }
    }

    #[test]
    fn marked_types_and_purposes_are_held_back_until_their_date() {
        let deferral = Deferral {
            signal_types: vec!["SafetySignal".into()],
            purposes: vec!["PUBLIC_ORDER".into()],
            hold_for: Duration::from_secs(10),
        };
        let held = deferral
            .held_back(&entry("SafetySignal", "RETURN", 0), 5_000)
            .unwrap();
        assert_eq!(held.until, 10_000);
        assert!(held.reason.contains("SafetySignal"));
        assert!(
            deferral
                .held_back(&entry("SafetySignal", "RETURN", 0), 10_000)
                .is_none()
        );
        let held = deferral.held_back(&entry("DetentionRelease", "RETURN, PUBLIC_ORDER", 0), 1);
        assert!(held.unwrap().reason.contains("PUBLIC_ORDER"));
        assert!(
            deferral
                .held_back(&entry("Intake", "INTAKE", 0), 1)
                .is_none()
        );
    }
}
