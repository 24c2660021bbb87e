//! `AuditService`: privacy officers query the audit log, report on one case or person, verify
//! the chain and export it. Proto ⇄ domain only; the use cases, the officer's scope and the
//! auditing of every read are in [`crate::exchange::audit_reading`] and
//! [`crate::exchange::subject_report`].

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::{
    credentials,
    proto::{
        self, ExportRequest, ExportResponse, QueryRequest, QueryResponse, SubjectReportRequest,
        SubjectReportResponse, TimelineEntry, VerifyRequest, VerifyResponse,
        audit_service_server::AuditService,
    },
    timestamp, unix_ms,
};
use crate::{
    audit::{Outcome, StoredRecord, export},
    exchange::{
        Exchange,
        audit_reading::{ExportFormat, Query},
        subject_report::{Audience, ReportEntry, SubjectQuery},
    },
};

/// Lines an export holds for a slow client before it waits.
const EXPORT_BUFFER: usize = 64;

/// The `AuditService` implementation.
#[derive(Clone)]
pub struct AuditApi {
    exchange: Arc<Exchange>,
}

impl AuditApi {
    /// The service over the gateway's use cases.
    pub fn new(exchange: Arc<Exchange>) -> Self {
        Self { exchange }
    }
}

#[tonic::async_trait]
impl AuditService for AuditApi {
    async fn query(
        &self,
        request: Request<QueryRequest>,
    ) -> Result<Response<QueryResponse>, Status> {
        let officer = self
            .exchange
            .officer(&credentials(&request), "Query")
            .await?;
        let q = request.into_inner();
        let query = Query {
            from: q.from.as_ref().map(unix_ms),
            to: q.to.as_ref().map(unix_ms),
            partner_oin: q.partner_oin,
            signal_type: q.signal_type,
            purpose: q.purpose,
            outcome: q.outcome,
            event: q.event,
            case_ref: q.case_ref,
            page_size: q.page_size,
            page_token: q.page_token,
            ..Query::default()
        };
        let page = self.exchange.query_audit(&officer, query).await?;
        Ok(Response::new(QueryResponse {
            records: page.records.into_iter().map(to_proto).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn subject_report(
        &self,
        request: Request<SubjectReportRequest>,
    ) -> Result<Response<SubjectReportResponse>, Status> {
        let officer = self
            .exchange
            .officer(&credentials(&request), "SubjectReport")
            .await?;
        let q = request.get_ref();
        let about = SubjectQuery {
            case_ref: &q.case_ref,
            v_nummer: &q.v_nummer,
            bsn: &q.bsn,
        };
        let audience = Audience::showing_held_back(q.include_held_back);
        let report = self
            .exchange
            .subject_report(&officer, about, audience)
            .await?;
        Ok(Response::new(SubjectReportResponse {
            entries: report.entries.into_iter().map(to_entry).collect(),
            held_back_count: u32::try_from(report.left_out).unwrap_or(u32::MAX),
        }))
    }

    async fn verify(
        &self,
        request: Request<VerifyRequest>,
    ) -> Result<Response<VerifyResponse>, Status> {
        let officer = self
            .exchange
            .officer(&credentials(&request), "Verify")
            .await?;
        let result = self.exchange.verify_audit(&officer).await?;
        let (problem_seq, problem) = result.first_problem.unwrap_or_default();
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
        let officer = self
            .exchange
            .officer(&credentials(&request), "Export")
            .await?;
        let q = request.into_inner();
        let format = match proto::ExportFormat::try_from(q.format) {
            Ok(proto::ExportFormat::Ldv) => ExportFormat::Ldv,
            _ => ExportFormat::JsonLines,
        };
        let query = Query {
            from: q.from.as_ref().map(unix_ms),
            to: q.to.as_ref().map(unix_ms),
            ..Query::default()
        };
        let lines = self.exchange.export_audit(&officer, &query, format).await?;
        let (tx, rx) = mpsc::channel(EXPORT_BUFFER);
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

fn to_entry(
    ReportEntry {
        entry: e,
        held_back,
    }: ReportEntry,
) -> TimelineEntry {
    let (until, reason) = held_back.map_or((None, String::new()), |h| {
        (Some(timestamp(h.until)), h.reason)
    });
    TimelineEntry {
        at: Some(timestamp(e.at)),
        event: e.event,
        actor_oin: e.actor_oin,
        actor_name: e.actor_name,
        counterparty_oin: e.counterparty_oin,
        counterparty_name: e.counterparty_name,
        signal_type: e.signal_type,
        purpose: e.purpose,
        legal_basis: e.legal_basis,
        fields_received: e.fields_received,
        fields_withheld: e.fields_withheld,
        summary: e.summary,
        seq: u64::try_from(e.seq).unwrap_or_default(),
        held_back_until: until,
        held_back_reason: reason,
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
