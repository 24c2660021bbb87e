//! The case timeline: the officer enters a case reference, V-nummer or BSN in a form (a POST
//! body, never a URL); the subject report use case hashes it and answers every record about
//! that case or person in the officer's scope: who sent or received which fields, for which
//! purpose and on which legal basis, and which fields were withheld.

use axum::{Form, extract::State};
use maud::{Markup, html};
use serde::Deserialize;

use super::{Console, ConsoleError, check_form, layout};
use crate::{
    clock::rfc3339,
    console::session::{AsOfficer, Session},
    exchange::{
        subject_report::{Audience, ReportEntry, SubjectQuery},
        timeline::TimelineEntry,
    },
};

/// The timeline form. No `Debug`: it holds personal data.
#[derive(Deserialize)]
pub struct TimelineForm {
    kind: String,
    value: String,
    csrf: String,
    /// `subject` for the report to the data subject, which leaves held-back items out.
    #[serde(default)]
    audience: String,
}

/// `GET /timeline`: the form.
pub async fn form(AsOfficer(session, _): AsOfficer) -> Markup {
    layout::page("Case timeline", &session, ask(&session, "case_ref"))
}

/// `POST /timeline`: the timeline of one case or person.
pub async fn report(
    State(console): State<Console>,
    AsOfficer(session, officer): AsOfficer,
    Form(form): Form<TimelineForm>,
) -> Result<Markup, ConsoleError> {
    check_form(&session, &form.csrf)?;
    let value = form.value.trim();
    let query = match form.kind.as_str() {
        "v_nummer" => SubjectQuery {
            case_ref: "",
            v_nummer: value,
            bsn: "",
        },
        "bsn" => SubjectQuery {
            case_ref: "",
            v_nummer: "",
            bsn: value,
        },
        _ => SubjectQuery {
            case_ref: value,
            v_nummer: "",
            bsn: "",
        },
    };
    let officer = officer.in_new_request();
    let for_subject = form.audience == "subject";
    let audience = Audience::showing_held_back(!for_subject);
    let report = console
        .exchange
        .subject_report(&officer, query, audience)
        .await?;
    let shown = &report.entries;
    let held = if for_subject {
        report.left_out
    } else {
        shown.iter().filter(|e| e.held_back.is_some()).count()
    };
    let body = html! {
        (ask(&session, &form.kind))
        @if for_subject {
            p.notice #audience {
                "Report for the data subject: " (held) " item(s) held back are left out."
            }
        } @else if held > 0 {
            p.notice #audience {
                (held) " item(s) are held back from the data subject; they are marked below."
            }
        }
        p #count { (shown.len()) " record(s) in your organisation's scope." }
        @if !shown.is_empty() { (table(&session, shown)) }
    };
    Ok(layout::page("Case timeline", &session, body))
}

fn ask(session: &Session, kind: &str) -> Markup {
    let kinds = [
        ("case_ref", "Case reference"),
        ("v_nummer", "V-nummer"),
        ("bsn", "BSN"),
    ];
    html! {
        form.query method="post" action="/timeline" {
            input type="hidden" name="csrf" value=(session.csrf);
            label { "Look up by"
                select name="kind" {
                    @for (value, name) in kinds {
                        option value=(value) selected[value == kind] { (name) }
                    }
                }
            }
            label { "Value (hashed by the gateway, never stored in clear)"
                input #value type="text" name="value" autocomplete="off" required;
            }
            button.primary #show type="submit" name="audience" value="officer" { "Show timeline" }
            button.primary #for-subject type="submit" name="audience" value="subject" {
                "Report for the data subject"
            }
        }
    }
}

fn table(session: &Session, entries: &[ReportEntry]) -> Markup {
    html! {
        table #timeline {
            thead { tr {
                th { "When" } th { "What happened" } th { "Organisation" } th { "Other party" }
                th { "Signal" } th { "Purpose" } th { "Legal basis" } th { "Fields" }
            } }
            tbody {
                @for (e, held) in entries.iter().map(|row| (&row.entry, &row.held_back)) {
                    tr.entry.held-back[held.is_some()] data-event=(e.event) {
                        td { (rfc3339(e.at)) }
                        td { (what_happened(e)) }
                        td { (layout::organisation(&e.actor_name, &e.actor_oin)) }
                        td { (layout::organisation(&e.counterparty_name, &e.counterparty_oin)) }
                        td { (e.signal_type) }
                        td { (e.purpose) }
                        td.basis { (e.legal_basis) }
                        td {
                            (fields(&e.fields_received, &e.fields_withheld))
                            @if let Some(held) = held {
                                p.held { "Held back from the data subject until "
                                    (&rfc3339(held.until)[..10]) ": " (held.reason) }
                                form.release method="post" action="/timeline/release" {
                                    input type="hidden" name="csrf" value=(session.csrf);
                                    input type="hidden" name="seq" value=(e.seq);
                                    button type="submit" { "Release to the data subject" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The entry's sentence; for a delivery without the field lists, which have their column.
fn what_happened(e: &TimelineEntry) -> String {
    if e.event == "delivery_created" {
        format!(
            "{} was given {} for {}",
            e.counterparty_name, e.signal_type, e.purpose
        )
    } else {
        e.summary.clone()
    }
}

/// Fields received and withheld, each withheld one marked as such.
pub fn fields(received: &[String], withheld: &[String]) -> Markup {
    html! {
        ul.fields {
            @for f in received { li.received { code { (f) } } }
            @for f in withheld { li.withheld { "withheld: " code { (f) } } }
        }
    }
}
