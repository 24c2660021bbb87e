//! The exchange list: the audit records in the officer's scope, filtered by time range,
//! partner, signal type, purpose and outcome, a page at a time, with organisation names beside
//! their OINs, and the export of every record the same filters select. The filters are codes
//! and dates, never personal data, so they may be in the URL; a case is looked up on the
//! timeline page instead.

use axum::extract::{Query as Filters, State};
use maud::{Markup, html};
use serde::Deserialize;

use super::{Console, ConsoleError, layout, timeline::fields};
use crate::{
    audit::StoredRecord,
    clock::rfc3339,
    console::session::AsOfficer,
    exchange::{ExchangeError, audit_reading::Query},
};

/// Records per page.
const PAGE: u32 = 50;
const DAY_MS: i64 = 86_400_000;

/// The filters of the list, as the form sends them.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListFilters {
    from: String,
    to: String,
    partner: String,
    signal_type: String,
    purpose: String,
    outcome: String,
    page: String,
}

/// `GET /exchanges`.
pub async fn list(
    State(console): State<Console>,
    AsOfficer(session, officer): AsOfficer,
    Filters(filters): Filters<ListFilters>,
) -> Result<Markup, ConsoleError> {
    let query = Query {
        page_size: PAGE,
        page_token: filters.page.clone(),
        ..filters.query()?
    };
    let officer = officer.in_new_request();
    let page = console.exchange.query_audit(&officer, query).await?;
    let body = html! {
        (form(&console, &filters))
        p #count { (page.records.len()) " record(s) on this page." }
        @if !page.records.is_empty() {
            (export_form(&filters))
            (table(&console, &page.records))
        }
        @if !page.next_page_token.is_empty() {
            form.pager method="get" action="/exchanges" {
                @for (name, value) in hidden(&filters) {
                    input type="hidden" name=(name) value=(value);
                }
                input type="hidden" name="page" value=(page.next_page_token);
                button.primary #next type="submit" { "Next page" }
            }
        }
    };
    Ok(layout::page("Exchanges", &session, body))
}

// === impl ListFilters ===

impl ListFilters {
    /// The query these filters ask (without its page): the list's, and its export's.
    pub fn query(&self) -> Result<Query, ExchangeError> {
        Ok(Query {
            from: day(&self.from, "from")?,
            to: day(&self.to, "to")?.map(|start| start + DAY_MS),
            partner_oin: self.partner.clone(),
            signal_type: self.signal_type.clone(),
            purpose: self.purpose.clone(),
            outcome: self.outcome.clone(),
            ..Query::default()
        })
    }
}

/// Downloads every record the filters select (all pages), as the export page does.
fn export_form(filters: &ListFilters) -> Markup {
    html! {
        form.query #export-filtered method="get" action="/export/download" {
            @for (name, value) in hidden(filters) {
                input type="hidden" name=(name) value=(value);
            }
            label { "Export these records as"
                select name="format" {
                    option value="json_lines" { "JSON Lines, verifiable offline" }
                    option value="ldv" { "Logboek Dataverwerkingen" }
                }
            }
            button #export-these type="submit" { "Download" }
        }
    }
}

/// The start of a `YYYY-MM-DD` day (UTC) in Unix ms; empty is no bound.
pub fn day(text: &str, key: &str) -> Result<Option<i64>, ExchangeError> {
    if text.is_empty() {
        return Ok(None);
    }
    let start = humantime::parse_rfc3339(&format!("{text}T00:00:00Z"))
        .map_err(|_| ExchangeError::Invalid(format!("{key}: give a date as YYYY-MM-DD")))?;
    Ok(Some(crate::clock::unix_ms(start)))
}

fn hidden(filters: &ListFilters) -> [(&'static str, &str); 6] {
    [
        ("from", &filters.from),
        ("to", &filters.to),
        ("partner", &filters.partner),
        ("signal_type", &filters.signal_type),
        ("purpose", &filters.purpose),
        ("outcome", &filters.outcome),
    ]
}

fn form(console: &Console, filters: &ListFilters) -> Markup {
    let registry = console.exchange.registry();
    let policy = console.exchange.policy();
    let mut signals: Vec<&str> = policy.rules().iter().map(|r| r.signal.as_str()).collect();
    signals.sort_unstable();
    signals.dedup();
    let choice = |current: &str, value: &str| current == value;
    html! {
        form.query method="get" action="/exchanges" {
            label { "From" input type="date" name="from" value=(filters.from); }
            label { "To (inclusive)" input type="date" name="to" value=(filters.to); }
            label { "Partner"
                select name="partner" {
                    option value="" { "any" }
                    @for p in registry.partners() {
                        option value=(p.oin) selected[choice(&filters.partner, &p.oin.to_string())] {
                            (p.name) " (" (p.oin) ")"
                        }
                    }
                }
            }
            label { "Signal type"
                select name="signal_type" {
                    option value="" { "any" }
                    @for s in &signals {
                        option value=(s) selected[choice(&filters.signal_type, s)] { (s) }
                    }
                }
            }
            label { "Purpose"
                select name="purpose" {
                    option value="" { "any" }
                    @for p in policy.purposes() {
                        option value=(p.code) selected[choice(&filters.purpose, &p.code)] {
                            (p.code) " – " (p.name)
                        }
                    }
                }
            }
            label { "Outcome"
                select name="outcome" {
                    option value="" { "any" }
                    @for o in ["ok", "refused"] {
                        option value=(o) selected[choice(&filters.outcome, o)] { (o) }
                    }
                }
            }
            button.primary #filter type="submit" { "Show" }
        }
    }
}

fn table(console: &Console, records: &[StoredRecord]) -> Markup {
    html! {
        table #exchanges {
            thead { tr {
                th { "#" } th { "When" } th { "Event" } th { "Outcome" } th { "Organisation" }
                th { "Other party" } th { "Signal" } th { "Purpose" } th { "Fields" }
            } }
            tbody {
                @for stored in records {
                    @let e = console.exchange.timeline_entry(stored);
                    tr.record data-seq=(e.seq) {
                        td { (e.seq) }
                        td { (rfc3339(e.at)) }
                        td { (e.event) }
                        td { (outcome(stored)) }
                        td { (layout::organisation(&e.actor_name, &e.actor_oin)) }
                        td { (layout::organisation(&e.counterparty_name, &e.counterparty_oin)) }
                        td { (e.signal_type) }
                        td { (e.purpose) }
                        td { (fields(&e.fields_received, &e.fields_withheld)) }
                    }
                }
            }
        }
    }
}

fn outcome(stored: &StoredRecord) -> &'static str {
    match stored.record.event.outcome {
        crate::audit::Outcome::Ok => "ok",
        crate::audit::Outcome::Refused => "refused",
    }
}
