//! Releasing a held-back item to the data subject before its date: a form of the officer's
//! timeline (CSRF-protected), recorded in the audit log by the release use case.

use axum::{Form, extract::State};
use maud::{Markup, html};
use serde::Deserialize;

use super::{Console, ConsoleError, check_form, layout};
use crate::console::session::AsOfficer;

/// The release form.
#[derive(Debug, Deserialize)]
pub struct ReleaseForm {
    seq: i64,
    csrf: String,
}

/// `POST /timeline/release`.
pub async fn release(
    State(console): State<Console>,
    AsOfficer(session, officer): AsOfficer,
    Form(form): Form<ReleaseForm>,
) -> Result<Markup, ConsoleError> {
    check_form(&session, &form.csrf)?;
    let officer = officer.in_new_request();
    console
        .exchange
        .release_held_back(&officer, form.seq)
        .await?;
    let body = html! {
        p.notice #released {
            "Record " (form.seq) " is released: reports for the data subject include it from now on. "
            "The release is in the audit log under your name."
        }
        p { a href="/timeline" { "Back to the case timeline" } }
    };
    Ok(layout::page("Released", &session, body))
}
