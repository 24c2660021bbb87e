//! Export of the records in the officer's scope between two days, in the CLI's formats: the
//! native JSON Lines (verifiable offline with `ketenpoort audit verify --file`) or one
//! Logboek Dataverwerkingen line per record, as a file download. Audited as an export.

use axum::{
    extract::{Query as Params, State},
    http::header,
    response::{IntoResponse, Response},
};
use maud::{Markup, html};
use serde::Deserialize;

use super::{Console, ConsoleError, exchanges::day, layout};
use crate::{console::session::AsOfficer, exchange::audit_reading::ExportFormat};

const DAY_MS: i64 = 86_400_000;

/// What to export.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ExportParams {
    from: String,
    to: String,
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
    let from = day(&params.from, "from")?;
    let to = day(&params.to, "to")?.map(|start| start + DAY_MS);
    let (format, name) = match params.format.as_str() {
        "ldv" => (ExportFormat::Ldv, "audit-ldv.jsonl"),
        _ => (ExportFormat::JsonLines, "audit.jsonl"),
    };
    let officer = officer.in_new_request();
    let lines = console
        .exchange
        .export_audit(&officer, from, to, format)
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
