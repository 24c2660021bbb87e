//! Subject reports: every record about one case or person in the officer's scope, as a
//! readable timeline, either for the officer (items held back from the data subject marked,
//! with their date and why) or as it may be handed to the data subject (those items left out
//! and counted). What is held back is decided in [`super::disclosure`].

use std::fmt;

use serde_json::json;

use super::{
    Exchange, ExchangeError, audit_reading::Officer, disclosure::HeldBack, timeline::TimelineEntry,
};
use crate::{audit::Subject, store::AuditFilter};

/// Whom a subject report is about: exactly one of these is given.
#[derive(Clone, Copy)]
pub struct SubjectQuery<'q> {
    /// The case reference.
    pub case_ref: &'q str,
    /// A V-nummer.
    pub v_nummer: &'q str,
    /// A BSN.
    pub bsn: &'q str,
}

/// Who a report is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The data subject: items held back are left out.
    DataSubject,
    /// The officer: every item, those held back marked.
    Officer,
}

// === impl Audience ===

impl Audience {
    /// The officer's view when items held back are to be shown, else the data subject's.
    pub fn showing_held_back(shown: bool) -> Self {
        if shown {
            Audience::Officer
        } else {
            Audience::DataSubject
        }
    }
}

/// One entry of a report, and whether it is held back from the data subject.
#[derive(Debug, Clone)]
pub struct ReportEntry {
    /// The entry.
    pub entry: TimelineEntry,
    /// Until when and why it is held back; `None` when the data subject may see it.
    pub held_back: Option<HeldBack>,
}

/// A subject report.
#[derive(Debug, Clone)]
pub struct SubjectReport {
    /// The entries, oldest first.
    pub entries: Vec<ReportEntry>,
    /// For the data subject: how many held-back items were left out (0 for the officer).
    pub left_out: usize,
}

impl fmt::Debug for SubjectQuery<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubjectQuery").finish_non_exhaustive()
    }
}

// === impl Exchange ===

impl Exchange {
    /// Every record about one case or person within the officer's scope, as a timeline for
    /// `audience`. The read is an audit record about the subject.
    pub async fn subject_report(
        &self,
        officer: &Officer,
        q: SubjectQuery<'_>,
        audience: Audience,
    ) -> Result<SubjectReport, ExchangeError> {
        let given: Vec<(&str, &str)> = [
            ("case_ref", q.case_ref),
            ("v_nummer", q.v_nummer),
            ("bsn", q.bsn),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
        let [(kind, value)] = given.as_slice() else {
            return Err(ExchangeError::Invalid(
                "give exactly one of case_ref, v_nummer or bsn".into(),
            ));
        };
        let mut subject = self.case_subject(value);
        if *kind != "case_ref" {
            subject = Subject {
                subject_type: Some(kind.to_string()),
                subject_hash: subject.case_ref_hash.take(),
                ..subject
            };
        }
        let about = self.subject_keys.all_hashes(value);
        let filter = AuditFilter {
            about: Some(about.clone()),
            scope: officer.scope.clone(),
            ..AuditFilter::default()
        };
        let records = self.walk(filter).await?;
        let held = self.held_back(&records, &about).await?;
        let all = records.iter().zip(held).map(|(r, held_back)| ReportEntry {
            entry: self.timeline_entry(r),
            held_back,
        });
        let entries: Vec<ReportEntry> = match audience {
            Audience::Officer => all.collect(),
            Audience::DataSubject => all.filter(|e| e.held_back.is_none()).collect(),
        };
        let left_out = records.len() - entries.len();
        let detail = json!({
            "by": kind,
            "entries": entries.len(),
            "for": if audience == Audience::DataSubject { "data_subject" } else { "officer" },
            "left_out": left_out,
        });
        self.audit_read(&officer.actor, "SubjectReport", subject, detail)
            .await?;
        Ok(SubjectReport { entries, left_out })
    }
}
