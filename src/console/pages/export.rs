//! Export of the records in the officer's scope between two days, or of those the exchange
//! list's filters select (partner, signal type, purpose, outcome too), in the CLI's formats:
//! the native JSON Lines (verifiable offline with `ketenpoort audit verify --file`) or one
//! Logboek Dataverwerkingen line per record, as a file download. Audited as an export.

use axum::{
    extract::{Query as Params, State},
    http::header,
    response::{IntoResponse, Response},
};
use maud::{Markup, html};
use serde::Deserialize;

use super::{Console, ConsoleError, exchanges::ListFilters, layout};
use crate::{console::session::AsOfficer, exchange::audit_reading::ExportFormat};

/// What to export: the exchange list's filters, and the format.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ExportParams {
    #[serde(flatten)]
    filters: ListFilters,
    format: String,
}

/// `GET /export`: the form.
pub async fn form(AsOfficer(session, _): AsOfficer) -> Markup {
    let body = html! {
        p { "The records in your organisation's scope between two days (both included; leave empty for all)." }
        form.query method="get" action="/export/download" {
            label { "From" input type="date" name="from"; }
            label { "To (inclusive)" input type="date" name="to"; }
            label { "Format"
                select name="format" {
                    option value="json_lines" { "JSON Lines, verifiable offline" }
                    option value="ldv" { "Logboek Dataverwerkingen" }
                }
            }
            button.primary #export type="submit" { "Download" }
        }
    };
    layout::page("Export", &session, body)
}

/// `GET /export/download`: the file.
pub async fn download(
    State(console): State<Console>,
    AsOfficer(_, officer): AsOfficer,
    Params(params): Params<ExportParams>,
) -> Result<Response, ConsoleError> {
    let query = params.filters.query()?;
    let (format, name) = match params.format.as_str() {
        "ldv" => (ExportFormat::Ldv, "audit-ldv.jsonl"),
        _ => (ExportFormat::JsonLines, "audit.jsonl"),
    };
    let officer = officer.in_new_request();
    let lines = console
        .exchange
        .export_audit(&officer, &query, format)
        .await?;
    let mut text = lines.join("\n");
    text.push('\n');
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        text,
    )
        .into_response())
}
