//! The programme monitor's page: the report of a quarter that has ended, chosen in a form (a
//! quarter is not personal data, so it travels as a query parameter), with the tables of
//! `ketenpoort monitor report` and a chart per figure, then the quarters before it as a
//! trend; and the same report as a file in the CLI's CSV and JSON. Every view and download is
//! the monitor's report use case, and so an audit record; an officer's session is told there
//! is no such page, as MonitorService refuses every role but the monitor's.

use axum::{
    extract::{Query as Params, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use maud::{Markup, html};
use serde::Deserialize;

use super::{Console, ConsoleError, layout};
use crate::{
    console::{
        chart::{Bar, Chart, Group},
        session::{AsMonitor, Session},
    },
    exchange::ExchangeError,
    monitor::{Cell, Figure, Quarter, Report, Table, Trend},
};

/// The audit record's method of a view and of a download.
const VIEW: &str = "ConsoleReport";
const DOWNLOAD: &str = "ConsoleDownload";

/// Which quarter, and for a download which format (`csv` or `json`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReportParams {
    quarter: String,
    format: String,
}

/// `GET /monitor`: the report of the quarter asked, by default the last that has ended.
pub async fn figures(
    State(console): State<Console>,
    AsMonitor(session, monitor): AsMonitor,
    Params(params): Params<ReportParams>,
) -> Result<Response, ConsoleError> {
    let quarter = asked(&console, &params);
    let monitor = monitor.in_new_request();
    match console
        .exchange
        .quarter_report(&monitor, &quarter, VIEW)
        .await
    {
        Ok(report) => Ok(page(
            &session,
            &report.quarter.to_string(),
            Some(&report),
            None,
        )),
        Err(ExchangeError::Invalid(message)) => {
            let latest = last_ended(&console).to_string();
            let body = page(&session, &latest, None, Some(&message));
            Ok((StatusCode::BAD_REQUEST, body).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /monitor/download`: the report as a file, in `monitor report --csv` or `--json` form.
pub async fn download(
    State(console): State<Console>,
    AsMonitor(_, monitor): AsMonitor,
    Params(params): Params<ReportParams>,
) -> Result<Response, ConsoleError> {
    let quarter = asked(&console, &params);
    let monitor = monitor.in_new_request();
    let report = console
        .exchange
        .quarter_report(&monitor, &quarter, DOWNLOAD)
        .await?;
    let (kind, extension, text) = match params.format.as_str() {
        "json" => (
            "application/json",
            "json",
            format!("{:#}\n", report.to_json()),
        ),
        _ => ("text/csv; charset=utf-8", "csv", report.to_csv()),
    };
    let name = format!("monitor-{}.{extension}", report.quarter);
    Ok((
        [
            (header::CONTENT_TYPE, kind.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        text,
    )
        .into_response())
}

/// The quarter asked, or the last that has ended.
fn asked(console: &Console, params: &ReportParams) -> String {
    match params.quarter.trim() {
        "" => last_ended(console).to_string(),
        asked => asked.to_string(),
    }
}

fn last_ended(console: &Console) -> Quarter {
    Quarter::of_unix_ms(console.exchange.clock().now_ms()).previous()
}

fn page(
    session: &Session,
    quarter: &str,
    report: Option<&Report>,
    message: Option<&str>,
) -> Response {
    let body = html! {
        p {
            "The programme's figures per LVV region, counted as the gateway accepted signals, "
            "without any case or person. Cells counting more than zero and fewer than the "
            "threshold are shown as " code { "< 5" } "; " code { "x" } " is hidden to protect such a cell."
        }
        form.query method="get" action="/monitor" {
            label { "Quarter (ended)" input #quarter type="text" name="quarter" value=(quarter)
                pattern="[0-9]{4}Q[1-4]" required; }
            button.primary #show type="submit" { "Show" }
        }
        @if let Some(message) = message {
            p.notice #message { (message) }
        }
        @if let Some(report) = report {
            (figures_of(report))
        }
    };
    layout::page("Programme monitor", session, body).into_response()
}

fn figures_of(report: &Report) -> Markup {
    let q = report.quarter;
    let t = report.threshold;
    let current = report
        .quarters
        .last()
        .map(|f| f.tables.as_slice())
        .unwrap_or_default();
    let first = report.quarters.first().map_or(q, |f| f.quarter);
    html! {
        p #downloads {
            "Download this report: "
            a #csv href=(format!("/monitor/download?quarter={q}&format=csv")) { "CSV" } " · "
            a #json href=(format!("/monitor/download?quarter={q}&format=json")) { "JSON" }
        }
        h2 #figures { "Figures of " (q) }
        @for (i, table) in current.iter().enumerate() {
            section.figure {
                h3 { (table.title()) }
                div.pair {
                    (figure_chart(&format!("chart-{i}"), table, t))
                    (figure_table(table, t))
                }
            }
        }
        h2 #trend { "Trend, " (first) " to " (q) }
        @for (i, trend) in report.trends().iter().enumerate() {
            section.figure {
                h3 { "Trend: " (trend.title) @if trend.percent { ", % true" } }
                div.pair {
                    (trend_chart(&format!("trend-{i}"), trend, report, t))
                    (trend_table(trend, report, t))
                }
            }
        }
    }
}

/// A cell as a bar: its count, or no bar and its mark.
fn bar(cell: &Cell, threshold: u64) -> Bar {
    Bar {
        value: match cell {
            Cell::Count(n) => Some(*n as f64),
            Cell::Hidden(_) => None,
        },
        mark: Some(cell.text(threshold)),
    }
}

fn figure_chart(id: &str, table: &Table, threshold: u64) -> Markup {
    let counts = table.field.is_empty();
    Chart {
        id: id.into(),
        title: format!("{} per region", table.title()),
        series: if counts {
            vec!["signals".into()]
        } else {
            table.labels()
        },
        groups: table
            .rows
            .iter()
            .map(|r| Group {
                name: r.region.clone(),
                bars: if counts {
                    vec![bar(&r.total, threshold)]
                } else {
                    r.cells.iter().map(|c| bar(c, threshold)).collect()
                },
            })
            .collect(),
    }
    .draw()
}

fn figure_table(table: &Table, threshold: u64) -> Markup {
    html! {
        table.figure data-title=(table.title()) {
            thead { tr {
                th { "Region" }
                @for label in table.labels() { th.count { (label) } }
                th.count { "total" }
                @if table.is_bool() { th.count { "% true" } }
            } }
            tbody {
                @for row in table.rows.iter().chain(std::iter::once(&table.national)) {
                    tr data-region=(row.region) {
                        td { (row.region) }
                        @for cell in &row.cells { td.count { (cell.text(threshold)) } }
                        td.count.total { (row.total.text(threshold)) }
                        @if table.is_bool() {
                            td.count.share { (Figure::Percent(row.percent_true).text(threshold)) }
                        }
                    }
                }
            }
        }
    }
}

fn trend_chart(id: &str, trend: &Trend, report: &Report, threshold: u64) -> Markup {
    let regions = trend.rows.len().saturating_sub(1);
    Chart {
        id: id.into(),
        title: format!("Trend of {} per region", trend.title),
        series: report
            .quarters
            .iter()
            .map(|q| q.quarter.to_string())
            .collect(),
        groups: trend.rows[..regions]
            .iter()
            .map(|row| Group {
                name: row.region.clone(),
                bars: row
                    .figures
                    .iter()
                    .map(|f| match f {
                        Figure::Count(cell) => bar(cell, threshold),
                        Figure::Percent(p) => Bar {
                            value: *p,
                            mark: Some(f.text(threshold)),
                        },
                    })
                    .collect(),
            })
            .collect(),
    }
    .draw()
}

fn trend_table(trend: &Trend, report: &Report, threshold: u64) -> Markup {
    html! {
        table.trend data-title=(trend.title) {
            thead { tr {
                th { "Region" }
                @for q in &report.quarters { th.count { (q.quarter) } }
            } }
            tbody {
                @for row in &trend.rows {
                    tr data-region=(row.region) {
                        td { (row.region) }
                        @for figure in &row.figures { td.count { (figure.text(threshold)) } }
                    }
                }
            }
        }
    }
}
