//! The policy in force as a matrix: for each rule (sender role, signal type, sending purpose),
//! every field of the signal with its sensitivity classes against every receiving purpose,
//! saying whether it passes or is withheld (and why). Read from the same explanation the CLI's
//! `policy explain` prints. It shows no records, so it is not an audit read.

use axum::extract::State;
use maud::{Markup, html};

use super::{Console, layout};
use crate::{
    console::session::AsOfficer,
    policy::{Explanation, PurposeView, Withheld},
};

/// `GET /policy`.
pub async fn matrix(State(console): State<Console>, AsOfficer(session, _): AsOfficer) -> Markup {
    let policy = console.exchange.policy();
    let catalogue = console.exchange.catalogue();
    let body = html! {
        p { "Policy version " code #version { (policy.version()) } }
        @for rule in policy.rules() {
            @if let Ok(explanation) = policy.explain(catalogue, rule.sender_role, &rule.signal, &rule.purpose) {
                section.rule {
                    h2 { (rule.signal) " from a " (rule.sender_role) " for " (rule.purpose) }
                    p { small { "Rule " (rule.name) " · " (rule.legal_instrument) } }
                    table.matrix data-signal=(rule.signal) {
                        thead { tr {
                            th { "Field" } th { "Sensitivity" }
                            @for view in &explanation.purposes {
                                th title=(view.purpose.legal_basis) { (view.purpose.code) }
                            }
                        } }
                        tbody {
                            @for (path, classes) in fields(&explanation) {
                                tr {
                                    td { code { (path) } }
                                    td { (classes) }
                                    @for view in &explanation.purposes {
                                        td { (cell(view, &path)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout::page("Policy", &session, body)
}

/// Every field of the signal once, with its sensitivity classes.
fn fields(explanation: &Explanation) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = Vec::new();
    for view in &explanation.purposes {
        for (path, classes) in &view.passes {
            if !all.iter().any(|(p, _)| p == path) {
                let names: Vec<String> = classes.iter().map(ToString::to_string).collect();
                all.push((path.clone(), names.join(", ")));
            }
        }
        for (path, why) in &view.withheld {
            if !all.iter().any(|(p, _)| p == path) {
                let class = if *why == Withheld::Biometric {
                    "biometric"
                } else {
                    ""
                };
                all.push((path.clone(), class.to_string()));
            }
        }
    }
    all.sort();
    all
}

fn cell(view: &PurposeView, path: &str) -> Markup {
    let withheld = view.withheld.iter().find(|(p, _)| p == path);
    html! {
        @match withheld {
            None => span.received { "passes" },
            Some((_, Withheld::Biometric)) => span.withheld { "withheld (biometric)" },
            Some(_) => span.withheld { "withheld" },
        }
    }
}
