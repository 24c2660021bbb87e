//! The Logboek Dataverwerkingen read API: the gateway's audit log queried by trace id,
//! processing activity or data subject, answered in the LDV shape the export already uses
//! ([`crate::audit::export::ldv_value`]), a capped page at a time, with each purpose as the
//! URI of its processing activity in the organisation's register where `[console]
//! processing_activities` names one, and each delivery's record linked to the receiving
//! organisation's own read API where the registry knows it (`ketenpoort.receiver_logboek_url`:
//! LDV's `foreign_operation` names the party that *called* a processing, so the standard has
//! no field for the party a copy went to).
//!
//! - `GET /logboek/v1/records?trace_id=…&processing_activity_id=…&page_size=…&page_token=…`
//! - `POST /logboek/v1/records/by-data-subject` with a JSON body
//!   `{"data_subject_id": "…", "data_subject_id_type": "bsn" | "v_nummer" | "case_ref"}`: the
//!   identifier travels in the body, never in a URL, and is hashed by the use case; records
//!   the policy holds back from the data subject are left out, as in every subject report.
//!
//! Every request carries `Authorization: Bearer <jwt>` of a privacy officer and
//! `Ketenpoort-Organisation: <partner id or OIN>`, verified as at the console's sign-in; the
//! answer is scoped like `AuditService` and each read is an audit record.

use std::collections::BTreeMap;

use axum::{
    Json, Router,
    extract::{Query as Params, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Console;
use crate::{
    audit::{StoredRecord, export::ldv_value},
    exchange::{
        ExchangeError,
        audit_reading::{Officer, Query},
    },
    registry::Registry,
};

/// Records per page when none is asked.
const DEFAULT_PAGE: u32 = 100;
/// The most records one answer holds; a larger `page_size` is lowered to this.
pub const MAX_PAGE: u32 = 200;
/// The header naming the officer's organisation.
const ORGANISATION: &str = "ketenpoort-organisation";

/// Query by trace id or processing activity.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RecordParams {
    trace_id: String,
    processing_activity_id: String,
    page_size: u32,
    page_token: String,
}

/// Query by data subject. No `Debug`: it holds personal data.
#[derive(Deserialize)]
pub struct SubjectBody {
    data_subject_id: String,
    #[serde(default)]
    data_subject_id_type: String,
    #[serde(default)]
    page_size: u32,
    #[serde(default)]
    page_token: String,
}

/// The API's routes.
pub fn routes() -> Router<Console> {
    Router::new()
        .route("/logboek/v1/records", get(by_trace))
        .route("/logboek/v1/records/by-data-subject", post(by_subject))
}

async fn by_trace(
    State(console): State<Console>,
    headers: HeaderMap,
    Params(params): Params<RecordParams>,
) -> Response {
    let trace_id = params.trace_id.to_ascii_lowercase();
    if !trace_id.is_empty()
        && (trace_id.len() != 32 || !trace_id.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return problem(
            StatusCode::BAD_REQUEST,
            "trace_id must be 32 hexadecimal characters",
        );
    }
    if trace_id.is_empty() && params.processing_activity_id.is_empty() {
        return problem(
            StatusCode::BAD_REQUEST,
            "give trace_id or processing_activity_id (or POST a data subject to /logboek/v1/records/by-data-subject)",
        );
    }
    // A processing activity is asked by its register URI or by its purpose code.
    let purpose = console
        .register
        .iter()
        .find(|(_, uri)| **uri == params.processing_activity_id)
        .map_or(params.processing_activity_id, |(code, _)| code.clone());
    let query = Query {
        trace_id,
        purpose,
        ..Query::default()
    };
    answer(
        &console,
        &headers,
        query,
        params.page_size,
        params.page_token,
    )
    .await
}

async fn by_subject(
    State(console): State<Console>,
    headers: HeaderMap,
    Json(body): Json<SubjectBody>,
) -> Response {
    if body.data_subject_id.trim().is_empty()
        || !["", "bsn", "v_nummer", "case_ref"].contains(&body.data_subject_id_type.as_str())
    {
        return problem(
            StatusCode::BAD_REQUEST,
            "give data_subject_id, and data_subject_id_type bsn, v_nummer or case_ref",
        );
    }
    let query = Query {
        // Hashed by the use case with every subject key; matches case and subject hashes.
        case_ref: body.data_subject_id.trim().to_string(),
        // An answer about a data subject leaves out what the policy holds back from them.
        for_data_subject: true,
        ..Query::default()
    };
    answer(&console, &headers, query, body.page_size, body.page_token).await
}

async fn answer(
    console: &Console,
    headers: &HeaderMap,
    mut query: Query,
    page_size: u32,
    page_token: String,
) -> Response {
    let officer = match officer(console, headers).await {
        Ok(officer) => officer,
        Err(e) => return refusal(e),
    };
    let page_size = match page_size {
        0 => DEFAULT_PAGE,
        n => n.min(MAX_PAGE),
    };
    query.page_size = page_size;
    query.page_token = page_token;
    let registry = console.exchange.registry();
    match console.exchange.query_audit(&officer, query).await {
        Ok(page) => Json(json!({
            "records": page
                .records
                .iter()
                .map(|r| {
                    let record = with_register(ldv_value(r), &console.register);
                    with_receiver_link(record, r, &registry)
                })
                .collect::<Vec<_>>(),
            "page_size": page_size,
            "next_page_token": page.next_page_token,
        }))
        .into_response(),
        Err(e) => refusal(e),
    }
}

async fn officer(console: &Console, headers: &HeaderMap) -> Result<Officer, ExchangeError> {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let token = crate::identity::person::bearer(text(header::AUTHORIZATION.as_str()))?;
    let organisation = text(ORGANISATION).ok_or_else(|| {
        ExchangeError::Unauthenticated(format!(
            "name your organisation (partner id or OIN) in the {ORGANISATION} header"
        ))
    })?;
    console
        .exchange
        .sign_in_officer(organisation, token, "LogboekRead")
        .await
}

/// The record with its purpose codes replaced by their processing register URIs, where the
/// register has one.
fn with_register(mut record: Value, register: &BTreeMap<String, String>) -> Value {
    let key = "dpl.core.processing_activity_id";
    if let Some(codes) = record["attributes"][key].as_str() {
        let ids: Vec<&str> = codes
            .split(',')
            .map(str::trim)
            .map(|code| register.get(code).map_or(code, String::as_str))
            .collect();
        record["attributes"][key] = Value::from(ids.join(","));
    }
    record
}

/// A delivery's record with the URL of the receiving organisation's own Logboek read API,
/// where the registry knows one; every other record as it is.
fn with_receiver_link(mut record: Value, stored: &StoredRecord, registry: &Registry) -> Value {
    let url = stored
        .record
        .event
        .delivery_receiver()
        .and_then(|oin| registry.by_oin(oin))
        .and_then(|partner| partner.record.logboek_url.clone());
    if let Some(url) = url {
        record["attributes"]["ketenpoort.receiver_logboek_url"] = Value::from(url);
    }
    record
}

fn refusal(e: ExchangeError) -> Response {
    let status = match e.reason_code() {
        "invalid_argument" => StatusCode::BAD_REQUEST,
        "unauthenticated" => StatusCode::UNAUTHORIZED,
        "wrong_role" => StatusCode::FORBIDDEN,
        _ => {
            tracing::warn!(error = %e, "Logboek read failed");
            return problem(StatusCode::INTERNAL_SERVER_ERROR, "something went wrong");
        }
    };
    problem(status, &e.to_string())
}

fn problem(status: StatusCode, detail: &str) -> Response {
    (
        status,
        Json(json!({ "status": status.as_u16(), "detail": detail })),
    )
        .into_response()
}
