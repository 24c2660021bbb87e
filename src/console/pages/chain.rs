//! The chain's state: the last signed checkpoint, and for the officer who reads the whole log
//! (the programme's), a verification of every hash, link and checkpoint signature, done when
//! the page is opened. An officer with a narrower scope verifies an export of that scope
//! offline, as the page says.

use axum::extract::State;
use maud::{Markup, html};

use super::{Console, ConsoleError, layout};
use crate::{clock::rfc3339, console::session::AsOfficer, exchange::ExchangeError};

/// `GET /chain`.
pub async fn status(
    State(console): State<Console>,
    AsOfficer(session, officer): AsOfficer,
) -> Result<Markup, ConsoleError> {
    let officer = officer.in_new_request();
    let verification = if officer.reads_everything() {
        Some(console.exchange.verify_audit(&officer).await?)
    } else {
        None
    };
    let checkpoints = console
        .exchange
        .store()
        .checkpoints()
        .await
        .map_err(ExchangeError::from)?;
    let body = html! {
        h2 { "Last signed checkpoint" }
        @match checkpoints.last() {
            Some(c) => dl #checkpoint {
                dt { "Covers records up to" } dd { (c.seq) }
                dt { "Signed at" } dd { (rfc3339(c.at)) }
                dt { "Head hash" } dd { code { (c.head_hash) } }
                dt { "Signing key" } dd { code { (c.key_id) } }
            },
            None => p { "No checkpoint has been signed yet." },
        }
        h2 { "Verification" }
        @match verification {
            Some(v) => {
                @match &v.first_problem {
                    None => p.intact #verdict {
                        "Intact: " (v.records) " record(s) and " (v.checkpoints)
                        " checkpoint signature(s) verified."
                    },
                    Some((seq, problem)) => p.broken #verdict {
                        "Broken at record " (seq) ": " (problem)
                    },
                }
            }
            None => p.notice #verdict {
                "Verifying walks the whole audit log, which only the programme's privacy \
                 officer reads. Verify an export of your scope offline instead: "
                code { "ketenpoort audit export" } " then " code { "ketenpoort audit verify --file" } "."
            },
        }
    };
    Ok(layout::page("Chain", &session, body))
}
