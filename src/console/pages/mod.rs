//! The console's pages, one file each, and the routes that reach them. Every page that shows
//! audit records gets them from an audit use case, which scopes them to the signed-in
//! officer's organisation and records the read itself in the audit log; the monitor's page
//! gets its figures from the monitor's use case, which records each report alike.

mod activity;
mod chain;
mod exchanges;
mod export;
mod monitor;
mod policy;
mod release;
mod sign_in;
mod timeline;

use axum::{
    Router,
    extract::State,
    http::HeaderMap,
    response::{Redirect, Response},
    routing::{get, post},
};

use super::{
    Console, ConsoleError, csrf, layout,
    session::{self, Session},
};

/// Every route of the console, with the security headers on every response.
pub fn router(console: Console) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/console.css", get(layout::style))
        .route("/sign-in", get(sign_in::form).post(sign_in::submit))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/timeline", get(timeline::form).post(timeline::report))
        .route("/timeline/release", post(release::release))
        .route("/exchanges", get(exchanges::list))
        .route("/chain", get(chain::status))
        .route("/activity", get(activity::chart))
        .route("/export", get(export::form))
        .route("/export/download", get(export::download))
        .route("/policy", get(policy::matrix))
        .route("/monitor", get(monitor::figures))
        .route("/monitor/download", get(monitor::download))
        .merge(super::logboek::routes())
        .fallback(not_found)
        .layer(axum::middleware::map_response(layout::secure))
        .with_state(console)
}

/// `GET /`: the signed-in person's first page; the officers' pages send others to sign in.
async fn home(State(console): State<Console>, headers: HeaderMap) -> Redirect {
    match console.sessions.lookup(&headers) {
        session::Lookup::Live(session) => Redirect::to(session.visitor.home()),
        _ => Redirect::to("/timeline"),
    }
}

async fn not_found() -> Response {
    layout::no_such_page()
}

/// Refuses a form of `session` that does not carry its CSRF token.
fn check_form(session: &Session, token: &str) -> Result<(), ConsoleError> {
    if csrf::matches(&session.csrf, token) {
        Ok(())
    } else {
        Err(ConsoleError::Forged)
    }
}
