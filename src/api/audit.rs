//! `AuditService`: privacy officers query the audit log, report on one case or person, verify
//! the chain and export it. Every call needs the officer's certificate *and* a JWT naming the
//! officer; every read and every refusal is itself an audit record.

use std::sync::Arc;

use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::{
    ApiError, Context, RequestMeta,
    proto::{
        self, ExportFormat, ExportRequest, ExportResponse, QueryRequest, QueryResponse,
        SubjectReportRequest, SubjectReportResponse, TimelineEntry, VerifyRequest, VerifyResponse,
        audit_service_server::AuditService,
    },
    timestamp, unix_ms,
};
use crate::{
    audit::{
        AuditEvent, EventKind, Outcome, StoredRecord, Subject,
        export::{self, ExportHeader},
        verify::Verifier,
    },
    ids::Oin,
    registry::{AuditScope, Partner, Role},
    store::AuditFilter,
};

/// Default and largest page of `Query`.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;
/// Records read per round trip when walking the whole log.
const WALK_PAGE: i64 = 5000;

/// The `AuditService` implementation.
#[derive(Clone)]
pub struct AuditApi {
    cx: Arc<Context>,
}

/// An authenticated privacy officer.
struct Officer {
    partner: Arc<Partner>,
    meta: RequestMeta,
    scope: Option<Vec<Oin>>,
}

impl AuditApi {
    /// A service over the gateway's context.
    pub fn new(cx: Arc<Context>) -> Self {
        Self { cx }
    }

    /// The officer behind a request: certificate, then token, then role. Refusals are audited.
    async fn officer<T>(&self, request: &Request<T>, method: &str) -> Result<Officer, Status> {
        let (partner, meta) = self
            .cx
            .person_in_role(
                request,
                Role::PrivacyOfficer,
                EventKind::AuditRefused,
                method,
            )
            .await?;
        let scope = match &partner.audit_scope {
            AuditScope::All => None,
            AuditScope::Partners(oins) => Some(oins.clone()),
            AuditScope::None => Some(Vec::new()),
        };
        Ok(Officer {
            partner,
            meta,
            scope,
        })
    }

    /// Records that `officer` read the log.
    async fn audit_read(
        &self,
        officer: &Officer,
        method: &str,
        subject: Subject,
        detail: serde_json::Value,
    ) -> Result<(), Status> {
        let mut event = AuditEvent::new(EventKind::AuditRead, Outcome::Ok);
        event.actor = Some(officer.partner.oin.clone());
        event.actor_person = officer.meta.person.clone();
        event.trace = officer.meta.trace.clone();
        event.subject = subject;
        event.detail = json!({ "method": method, "result": detail });
        self.cx
            .store
            .audit(vec![event])
            .await
            .map_err(ApiError::from)?;
        Ok(())
    }

    /// Every record matching `filter`, walking page by page.
    async fn walk(&self, mut filter: AuditFilter) -> Result<Vec<StoredRecord>, ApiError> {
        filter.limit = WALK_PAGE;
        let mut all = Vec::new();
        loop {
            let page = self.cx.store.audit_records(&filter).await?;
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

    fn name_of(&self, oin: Option<&Oin>) -> String {
        let registry = self.cx.registry.load();
        oin.and_then(|oin| registry.by_oin(oin))
            .map_or_else(String::new, |p| p.name.clone())
    }

    fn entry(&self, stored: &StoredRecord) -> TimelineEntry {
        let e = &stored.record.event;
        let actor = self.name_of(e.actor.as_ref());
        let counterparty = self.name_of(e.counterparty.as_ref());
        let list = |key: &str| -> Vec<String> {
            e.detail
                .get(key)
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default()
        };
        let (received, withheld) = (list("delivered"), list("withheld"));
        let signal = e.signal_type.clone().unwrap_or_default();
        let purpose = e.purpose.clone().unwrap_or_default();
        let basis = e.legal_basis.clone().unwrap_or_default();
        let summary = match e.event {
            EventKind::SignalAccepted => format!("{actor} sent {signal} for {purpose} ({basis})"),
            EventKind::SignalRefused => format!(
                "{actor} tried to send {signal}; refused: {}",
                e.detail
                    .get("reason")
                    .and_then(|r| r.as_str())
                    .unwrap_or("")
            ),
            EventKind::SignalResent => {
                format!("{actor} resent {signal}; answered with the original receipt")
            }
            EventKind::DeliveryCreated => format!(
                "{counterparty} was given {signal} for {purpose} on {basis}: {} field(s) ({}); withheld: {}",
                received.len(),
                received.join(", "),
                if withheld.is_empty() {
                    "none".to_string()
                } else {
                    withheld.join(", ")
                }
            ),
            EventKind::DeliveryStreamed => format!("{actor} fetched {signal} from {counterparty}"),
            EventKind::DeliveryAcknowledged => format!("{actor} confirmed receipt of {signal}"),
            EventKind::DeliveryExpired => format!(
                "{counterparty} did not confirm receipt of {signal} in time; its copy was erased"
            ),
            EventKind::AuditRead => format!(
                "{} of {actor} looked this up in the audit log",
                e.actor_person.as_deref().unwrap_or("someone")
            ),
            EventKind::AuditRefused => format!("{actor} was refused access to the audit log"),
            EventKind::RegistryChanged => format!(
                "{} of {actor} changed the registry: {} {counterparty}",
                e.actor_person.as_deref().unwrap_or("an operator"),
                e.detail
                    .get("action")
                    .and_then(|a| a.as_str())
                    .unwrap_or("")
            ),
            EventKind::AdminRefused => format!("{actor} was refused a registry change"),
            EventKind::AuditPruned => "records past their retention were removed".to_string(),
        };
        TimelineEntry {
            at: Some(timestamp(stored.record.at)),
            event: export::event_name(e.event),
            actor_oin: e.actor.as_ref().map(Oin::to_string).unwrap_or_default(),
            actor_name: actor,
            counterparty_oin: e
                .counterparty
                .as_ref()
                .map(Oin::to_string)
                .unwrap_or_default(),
            counterparty_name: counterparty,
            signal_type: signal,
            purpose,
            legal_basis: basis,
            fields_received: received,
            fields_withheld: withheld,
            summary,
            seq: u64::try_from(stored.record.seq).unwrap_or_default(),
        }
    }
}

#[tonic::async_trait]
impl AuditService for AuditApi {
    async fn query(
        &self,
        request: Request<QueryRequest>,
    ) -> Result<Response<QueryResponse>, Status> {
        let officer = self.officer(&request, "Query").await?;
        let span = tracing::info_span!("audit.query", partner = %officer.partner.id);
        async move {
            let q = request.into_inner();
            let page_size = match q.page_size {
                0 => DEFAULT_PAGE,
                n if n <= MAX_PAGE => n,
                n => {
                    return Err(ApiError::Invalid(format!(
                        "page_size {n} is larger than {MAX_PAGE}"
                    ))
                    .into());
                }
            };
            let after_seq = match q.page_token.as_str() {
                "" => 0,
                token => token.parse::<i64>().map_err(|_| {
                    ApiError::Invalid(
                        "page_token is not one this service gave: pass next_page_token unchanged"
                            .into(),
                    )
                })?,
            };
            let partner = match q.partner_oin.as_str() {
                "" => None,
                oin => Some(
                    oin.parse::<Oin>()
                        .map_err(|e| ApiError::Invalid(format!("partner_oin: {e}")))?,
                ),
            };
            let optional = |s: String| (!s.is_empty()).then_some(s);
            let mut subject = Subject::default();
            let about = optional(q.case_ref).map(|case_ref| {
                subject = self.cx.case_subject(&case_ref);
                self.cx.subject_keys.all_hashes(&case_ref)
            });
            let filter = AuditFilter {
                from: q.from.as_ref().map(unix_ms),
                to: q.to.as_ref().map(unix_ms),
                partner,
                signal_type: optional(q.signal_type),
                purpose: optional(q.purpose),
                outcome: optional(q.outcome),
                event: optional(q.event),
                about,
                scope: officer.scope.clone(),
                after_seq,
                limit: i64::from(page_size),
            };
            let records = self
                .cx
                .store
                .audit_records(&filter)
                .await
                .map_err(ApiError::from)?;
            let next_page_token = match records.last() {
                Some(last) if records.len() == page_size as usize => last.record.seq.to_string(),
                _ => String::new(),
            };
            self.audit_read(
                &officer,
                "Query",
                subject,
                json!({ "records": records.len() }),
            )
            .await?;
            tracing::info!(records = records.len(), "audit queried");
            Ok(Response::new(QueryResponse {
                records: records.into_iter().map(to_proto).collect(),
                next_page_token,
            }))
        }
        .instrument(span)
        .await
    }

    async fn subject_report(
        &self,
        request: Request<SubjectReportRequest>,
    ) -> Result<Response<SubjectReportResponse>, Status> {
        let officer = self.officer(&request, "SubjectReport").await?;
        let q = request.into_inner();
        let given: Vec<(&str, &str)> = [
            ("case_ref", q.case_ref.as_str()),
            ("v_nummer", q.v_nummer.as_str()),
            ("bsn", q.bsn.as_str()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
        let [(kind, value)] = given.as_slice() else {
            return Err(
                ApiError::Invalid("give exactly one of case_ref, v_nummer or bsn".into()).into(),
            );
        };
        let mut subject = self.cx.case_subject(value);
        if *kind != "case_ref" {
            subject = Subject {
                subject_type: Some(kind.to_string()),
                subject_hash: subject.case_ref_hash.take(),
                ..subject
            };
        }
        let filter = AuditFilter {
            about: Some(self.cx.subject_keys.all_hashes(value)),
            scope: officer.scope.clone(),
            ..AuditFilter::default()
        };
        let records = self.walk(filter).await?;
        let entries: Vec<TimelineEntry> = records.iter().map(|r| self.entry(r)).collect();
        self.audit_read(
            &officer,
            "SubjectReport",
            subject,
            json!({ "by": kind, "entries": entries.len() }),
        )
        .await?;
        Ok(Response::new(SubjectReportResponse { entries }))
    }

    async fn verify(
        &self,
        request: Request<VerifyRequest>,
    ) -> Result<Response<VerifyResponse>, Status> {
        let officer = self.officer(&request, "Verify").await?;
        let key = self.cx.store.signature_key();
        let checkpoints = self.cx.store.checkpoints().await.map_err(ApiError::from)?;
        let mut verifier = Verifier::new(&key, checkpoints, false);
        let mut filter = AuditFilter {
            limit: WALK_PAGE,
            ..AuditFilter::default()
        };
        loop {
            let page = self
                .cx
                .store
                .audit_records(&filter)
                .await
                .map_err(ApiError::from)?;
            for record in &page {
                verifier.push(record);
            }
            match page.last() {
                Some(last) if page.len() as i64 == WALK_PAGE && !verifier.failed() => {
                    filter.after_seq = last.record.seq;
                }
                _ => break,
            }
        }
        let result = verifier.finish();
        let (problem_seq, problem) = result.first_problem.clone().unwrap_or_default();
        self.audit_read(
            &officer,
            "Verify",
            Subject::default(),
            json!({ "records": result.records, "intact": result.first_problem.is_none() }),
        )
        .await?;
        let (head_seq, head_hash) = result.head.unwrap_or_default();
        Ok(Response::new(VerifyResponse {
            intact: problem.is_empty(),
            records_checked: result.records,
            checkpoints_checked: result.checkpoints,
            first_problem: problem,
            first_problem_seq: u64::try_from(problem_seq).unwrap_or_default(),
            head_seq: u64::try_from(head_seq).unwrap_or_default(),
            head_hash,
        }))
    }

    type ExportStream = ReceiverStream<Result<ExportResponse, Status>>;

    async fn export(
        &self,
        request: Request<ExportRequest>,
    ) -> Result<Response<Self::ExportStream>, Status> {
        let officer = self.officer(&request, "Export").await?;
        let q = request.into_inner();
        let format = ExportFormat::try_from(q.format).unwrap_or(ExportFormat::Unspecified);
        let filter = AuditFilter {
            from: q.from.as_ref().map(unix_ms),
            to: q.to.as_ref().map(unix_ms),
            scope: officer.scope.clone(),
            ..AuditFilter::default()
        };
        let complete = filter.from.is_none() && filter.to.is_none() && filter.scope.is_none();
        let records = self.walk(filter).await?;
        let checkpoints = self.cx.store.checkpoints().await.map_err(ApiError::from)?;
        self.audit_read(
            &officer,
            "Export",
            Subject::default(),
            json!({ "records": records.len(), "format": format.as_str_name() }),
        )
        .await?;
        let key = self.cx.store.signature_key();
        let lines: Vec<String> = if format == ExportFormat::Ldv {
            records.iter().map(export::ldv_line).collect()
        } else {
            let header = ExportHeader::new(&key, complete);
            std::iter::once(export::header_line(&header))
                .chain(records.iter().map(export::record_line))
                .chain(checkpoints.iter().map(export::checkpoint_line))
                .collect()
        };
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            for line in lines {
                if tx.send(Ok(ExportResponse { line })).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// A stored record in the wire form.
fn to_proto(stored: StoredRecord) -> proto::AuditRecord {
    let r = stored.record;
    let e = r.event;
    proto::AuditRecord {
        seq: u64::try_from(r.seq).unwrap_or_default(),
        id: r.id,
        at: Some(timestamp(r.at)),
        event: export::event_name(e.event),
        outcome: if e.outcome == Outcome::Ok {
            "ok"
        } else {
            "refused"
        }
        .to_string(),
        actor_oin: e.actor.map(|o| o.to_string()).unwrap_or_default(),
        actor_person: e.actor_person.unwrap_or_default(),
        counterparty_oin: e.counterparty.map(|o| o.to_string()).unwrap_or_default(),
        purpose: e.purpose.unwrap_or_default(),
        legal_basis: e.legal_basis.unwrap_or_default(),
        signal_id: e.signal_id.unwrap_or_default(),
        signal_type: e.signal_type.unwrap_or_default(),
        delivery_id: e.delivery_id.unwrap_or_default(),
        case_ref_hash: e.subject.case_ref_hash.unwrap_or_default(),
        subject_type: e.subject.subject_type.unwrap_or_default(),
        subject_hash: e.subject.subject_hash.unwrap_or_default(),
        subject_key_id: e.subject.subject_key_id.unwrap_or_default(),
        trace_id: e.trace.trace_id.unwrap_or_default(),
        span_id: e.trace.span_id.unwrap_or_default(),
        detail_json: e.detail.to_string(),
        prev_hash: r.prev_hash,
        hash: stored.hash,
    }
}
