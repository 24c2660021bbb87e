//! Signing in and out. The officer (or the programme monitor's analyst) chooses the
//! organisation and pastes the JWT its identity provider issued (in development:
//! `ketenpoort dev-token`); the gateway verifies it with the keys registered for that
//! organisation, exactly as on the gRPC path, and opens a session on the pages of the
//! organisation's role. The form is protected by a token in a cookie of its own that the form
//! must repeat.

use axum::{
    Form,
    extract::{ConnectInfo, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{AppendHeaders, IntoResponse, Redirect, Response},
};
use maud::{Markup, html};
use serde::Deserialize;

use super::{Console, ConsoleError, csrf, layout};
use crate::{
    console::{
        session::{self, SESSION_COOKIE, Visitor},
        throttle::PeerAddr,
    },
    registry::Role,
};

/// The cookie holding the sign-in form's CSRF token.
const SIGN_IN_COOKIE: &str = "__Host-ketenpoort-sign-in";

/// What the sign-in page is asked.
#[derive(Deserialize)]
pub struct Notice {
    /// Set when the officer was sent here because the session ended.
    ended: Option<String>,
}

/// The sign-in form. No `Debug`: it holds a credential.
#[derive(Deserialize)]
pub struct SignInForm {
    organisation: String,
    token: String,
    csrf: String,
}

/// The sign-out form.
#[derive(Deserialize)]
pub struct SignOutForm {
    csrf: String,
}

/// `GET /sign-in`.
pub async fn form(
    State(console): State<Console>,
    Query(notice): Query<Notice>,
) -> Result<Response, ConsoleError> {
    let token = csrf::fresh_secret()?;
    let message = notice
        .ended
        .map(|_| "Your session has ended. Sign in again to go on.");
    Ok(page(&console, &token, message, StatusCode::OK))
}

/// `POST /sign-in`. Counted against the client's address first: beyond the limit, `429`
/// with `Retry-After`, audited, and the token not even looked at.
pub async fn submit(
    State(console): State<Console>,
    ConnectInfo(PeerAddr(peer)): ConnectInfo<PeerAddr>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, ConsoleError> {
    let expected = session::cookie(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    if let Err(wait) = console.sign_ins.admit(peer.ip()) {
        console
            .exchange
            .sign_in_throttled(&form.organisation, "ConsoleSignIn")
            .await?;
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let message =
            format!("Too many sign-ins from your address: wait {secs} second(s) and try again.");
        let mut response = page(
            &console,
            &csrf::fresh_secret()?,
            Some(&message),
            StatusCode::TOO_MANY_REQUESTS,
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(secs.max(1)));
        return Ok(response);
    }
    if !csrf::matches(&expected, &form.csrf) {
        return Err(ConsoleError::Forged);
    }
    let person = match console
        .exchange
        .sign_in(&form.organisation, &form.token, "ConsoleSignIn")
        .await
    {
        Ok(person) => Visitor::from(person),
        Err(e) => {
            let message = format!("Not signed in: {e}");
            return Ok(page(
                &console,
                &expected,
                Some(&message),
                StatusCode::UNAUTHORIZED,
            ));
        }
    };
    tracing::info!(partner = %person.partner().id, "signed in to the console");
    let home = person.home();
    let id = console.sessions.open(person)?;
    Ok((
        AppendHeaders([
            (header::SET_COOKIE, console.sessions.cookie_for(&id)),
            (header::SET_COOKIE, session::removal(SIGN_IN_COOKIE)),
        ]),
        Redirect::to(home),
    )
        .into_response())
}

/// `POST /sign-out`.
pub async fn sign_out(
    State(console): State<Console>,
    headers: HeaderMap,
    Form(form): Form<SignOutForm>,
) -> Result<Response, ConsoleError> {
    if let session::Lookup::Live(session) = console.sessions.lookup(&headers) {
        super::check_form(&session, &form.csrf)?;
        console.sessions.close(&headers);
    }
    Ok((
        [(header::SET_COOKIE, session::removal(SESSION_COOKIE))],
        Redirect::to("/sign-in"),
    )
        .into_response())
}

fn page(console: &Console, token: &str, message: Option<&str>, status: StatusCode) -> Response {
    let registry = console.exchange.registry();
    let officers: Vec<(&str, &str)> = registry
        .partners()
        .iter()
        .filter(|p| matches!(p.role, Role::PrivacyOfficer | Role::Monitor) && p.is_active())
        .map(|p| (p.id.as_str(), p.name.as_str()))
        .collect();
    let body: Markup = html! {
        @if let Some(message) = message {
            p.notice #message { (message) }
        }
        form.sign-in method="post" action="/sign-in" {
            input type="hidden" name="csrf" value=(token);
            label for="organisation" { "Organisation" }
            select #organisation name="organisation" {
                @for (id, name) in &officers {
                    option value=(id) { (name) " (" (id) ")" }
                }
            }
            label for="token" { "Token from your organisation's identity provider" }
            textarea #token name="token" autocomplete="off" spellcheck="false" required {}
            p { button.primary #sign-in type="submit" { "Sign in" } }
        }
        p {
            "In development, " code { "ketenpoort dev-token --as gemeente-utrecht-fg --sub you@example.org" }
            " prints a token (" code { "--as programma-monitor" } " for the programme monitor)."
        }
    };
    let cookie = format!(
        "{SIGN_IN_COOKIE}={token}; Path=/; Max-Age=3600; Secure; HttpOnly; SameSite=Strict"
    );
    (
        status,
        [(header::SET_COOKIE, cookie)],
        layout::public("Sign in", body),
    )
        .into_response()
}
