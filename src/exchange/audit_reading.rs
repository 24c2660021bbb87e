//! Audit reading for privacy officers: queries, verification of the chain, and exports
//! (subject reports are in [`super::subject_report`]). Every call needs the officer's certificate and a JWT naming the officer; the
//! officer sees only the records of the partners in its scope; every read and every refusal
//! is itself an audit record.

use std::fmt;

use serde_json::json;

pub use super::officers::Officer;
use super::{Exchange, ExchangeError, callers::Credentials};
use crate::{
    audit::{
        Actor, EventKind, Outcome, StoredRecord, Subject,
        export::{self, ExportHeader},
        verify::{Verification, Verifier},
    },
    ids::Oin,
    registry::Role,
    store::AuditFilter,
};

/// Default and largest page of a query.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;
/// Records read per round trip when walking the whole log.
const WALK_PAGE: i64 = 5000;

/// A query of the audit log; empty fields do not filter.
#[derive(Clone, Default)]
pub struct Query {
    /// At or after (Unix ms).
    pub from: Option<i64>,
    /// Before (Unix ms).
    pub to: Option<i64>,
    /// OIN of the actor or counterparty.
    pub partner_oin: String,
    /// Signal type.
    pub signal_type: String,
    /// Purpose code.
    pub purpose: String,
    /// `ok` or `refused`.
    pub outcome: String,
    /// Event name.
    pub event: String,
    /// W3C trace id (32 hex characters).
    pub trace_id: String,
    /// A case reference; hashed here, never stored or logged in clear.
    pub case_ref: String,
    /// Records per page; 0 for the default.
    pub page_size: u32,
    /// The `next_page_token` of the page before, or empty.
    pub page_token: String,
    /// Answering the data subject (with `case_ref` given): leave out what the policy holds
    /// back from the data subject and no officer released.
    pub for_data_subject: bool,
}

/// A page of records and the token of the next page (empty on the last).
#[derive(Debug)]
pub struct Page {
    /// The records, in chain order.
    pub records: Vec<StoredRecord>,
    /// Token of the next page, empty when this is the last.
    pub next_page_token: String,
}

impl fmt::Debug for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The case reference is personal data: only whether one was given.
        f.debug_struct("Query")
            .field("partner_oin", &self.partner_oin)
            .field("signal_type", &self.signal_type)
            .field("event", &self.event)
            .field("by_case", &!self.case_ref.is_empty())
            .finish_non_exhaustive()
    }
}

/// The formats an export can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// JSON Lines with header, hashes and checkpoints: verifiable offline.
    JsonLines,
    /// One Logboek Dataverwerkingen-shaped line per record.
    Ldv,
}

// === impl Exchange ===

impl Exchange {
    /// The officer behind a request: certificate, token, privacy-officer role. Refusals are
    /// audited.
    pub async fn officer(
        &self,
        credentials: &Credentials<'_>,
        method: &str,
    ) -> Result<Officer, ExchangeError> {
        let (partner, actor) = self
            .person_in_role(
                credentials,
                Role::PrivacyOfficer,
                EventKind::AuditRefused,
                method,
            )
            .await?;
        Ok(Officer::new(partner, actor))
    }

    /// One page of the records matching `query` within the officer's scope.
    pub async fn query_audit(&self, officer: &Officer, q: Query) -> Result<Page, ExchangeError> {
        let page_size = match q.page_size {
            0 => DEFAULT_PAGE,
            n if n <= MAX_PAGE => n,
            n => {
                return Err(ExchangeError::Invalid(format!(
                    "page_size {n} is larger than {MAX_PAGE}"
                )));
            }
        };
        let after_seq = match q.page_token.as_str() {
            "" => 0,
            token => token.parse::<i64>().map_err(|_| {
                ExchangeError::Invalid(
                    "page_token is not one this service gave: pass next_page_token unchanged"
                        .into(),
                )
            })?,
        };
        let (mut filter, subject) = self.audit_filter(officer, &q)?;
        filter.after_seq = after_seq;
        filter.limit = i64::from(page_size);
        let mut records = self.store.audit_records(&filter).await?;
        let next_page_token = match records.last() {
            Some(last) if records.len() == page_size as usize => last.record.seq.to_string(),
            _ => String::new(),
        };
        let left_out = match (&filter.about, q.for_data_subject) {
            (Some(about), true) => self.leave_out_held_back(&mut records, about).await?,
            _ => 0,
        };
        let detail = json!({ "records": records.len(), "left_out": left_out });
        self.audit_read(&officer.actor, "Query", subject, detail)
            .await?;
        tracing::info!(partner = %officer.partner.id, records = records.len(), "audit queried");
        Ok(Page {
            records,
            next_page_token,
        })
    }

    /// The store's filter for `q` within the officer's scope (no page), and the subject the
    /// read is about (a case reference, hashed here).
    fn audit_filter(
        &self,
        officer: &Officer,
        q: &Query,
    ) -> Result<(AuditFilter, Subject), ExchangeError> {
        let partner = match q.partner_oin.as_str() {
            "" => None,
            oin => Some(
                oin.parse::<Oin>()
                    .map_err(|e| ExchangeError::Invalid(format!("partner_oin: {e}")))?,
            ),
        };
        let optional = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let mut subject = Subject::default();
        let about = optional(&q.case_ref).map(|case_ref| {
            subject = self.case_subject(&case_ref);
            self.subject_keys.all_hashes(&case_ref)
        });
        let filter = AuditFilter {
            from: q.from,
            to: q.to,
            partner,
            signal_type: optional(&q.signal_type),
            purpose: optional(&q.purpose),
            outcome: optional(&q.outcome),
            event: optional(&q.event),
            trace_id: optional(&q.trace_id.to_ascii_lowercase()),
            about,
            scope: officer.scope.clone(),
            ..AuditFilter::default()
        };
        Ok((filter, subject))
    }

    /// Walks the whole chain: every hash, link and checkpoint signature; stops at the first
    /// problem, also at a record that no longer decodes. Reserved to an officer who may read
    /// the whole log (the programme's): the walk covers every record; an officer with a
    /// narrower scope verifies an export of that scope offline.
    pub async fn verify_audit(&self, officer: &Officer) -> Result<Verification, ExchangeError> {
        if officer.scope.is_some() {
            let refusal = ExchangeError::WrongRole(
                "Verify walks the whole audit log, which only a privacy officer with audit_scope \
                 [\"*\"] (the programme's) reads; verify an export of your scope offline instead \
                 (ketenpoort audit verify --file)"
                    .into(),
            );
            let mut event = officer
                .actor
                .event(EventKind::AuditRefused, Outcome::Refused);
            event.detail = json!({ "method": "Verify", "reason": refusal.to_string() });
            self.store.audit(vec![event]).await?;
            return Err(refusal);
        }
        let key = self.store.signature_key();
        let checkpoints = self.store.checkpoints().await?;
        let mut verifier = Verifier::new(&key, checkpoints, false);
        let mut after_seq = 0;
        loop {
            let page = self
                .store
                .audit_records_to_verify(after_seq, WALK_PAGE)
                .await?;
            for record in &page {
                match record {
                    Ok(stored) => verifier.push(stored),
                    Err(broken) => verifier.undecodable(broken.seq, &broken.reason),
                }
            }
            let last = page.last().map(|r| match r {
                Ok(stored) => stored.record.seq,
                Err(broken) => broken.seq,
            });
            match last {
                Some(seq) if page.len() as i64 == WALK_PAGE && !verifier.failed() => {
                    after_seq = seq;
                }
                _ => break,
            }
        }
        let result = verifier.finish();
        let detail = json!({ "records": result.records, "intact": result.first_problem.is_none() });
        self.audit_read(&officer.actor, "Verify", Subject::default(), detail)
            .await?;
        Ok(result)
    }

    /// The lines of an export of every record matching `q` (the filters of a query; its page
    /// is ignored) within the officer's scope. A native export says it is complete only when
    /// nothing filtered it.
    pub async fn export_audit(
        &self,
        officer: &Officer,
        q: &Query,
        format: ExportFormat,
    ) -> Result<Vec<String>, ExchangeError> {
        let (filter, _) = self.audit_filter(officer, q)?;
        let complete = filter == AuditFilter::default();
        let records = self.walk(filter).await?;
        let checkpoints = self.store.checkpoints().await?;
        let format_name = match format {
            ExportFormat::JsonLines => "json_lines",
            ExportFormat::Ldv => "ldv",
        };
        let detail = json!({ "records": records.len(), "format": format_name });
        self.audit_read(&officer.actor, "Export", Subject::default(), detail)
            .await?;
        let key = self.store.signature_key();
        Ok(match format {
            ExportFormat::Ldv => records.iter().map(export::ldv_line).collect(),
            ExportFormat::JsonLines => {
                let header = ExportHeader::new(&key, complete);
                std::iter::once(export::header_line(&header))
                    .chain(records.iter().map(export::record_line))
                    .chain(checkpoints.iter().map(export::checkpoint_line))
                    .collect()
            }
        })
    }

    /// Records that `actor` read the log.
    pub(super) async fn audit_read(
        &self,
        actor: &Actor,
        method: &str,
        subject: Subject,
        detail: serde_json::Value,
    ) -> Result<(), ExchangeError> {
        let mut event = actor.event(EventKind::AuditRead, Outcome::Ok);
        event.subject = subject;
        event.detail = json!({ "method": method, "result": detail });
        self.store.audit(vec![event]).await?;
        Ok(())
    }

    /// Every record matching `filter`, walking page by page.
    pub(super) async fn walk(
        &self,
        mut filter: AuditFilter,
    ) -> Result<Vec<StoredRecord>, ExchangeError> {
        filter.limit = WALK_PAGE;
        let mut all = Vec::new();
        loop {
            let page = self.store.audit_records(&filter).await?;
            let done = (page.len() as i64) < WALK_PAGE;
            if let Some(last) = page.last() {
                filter.after_seq = last.record.seq;
            }
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }
}
