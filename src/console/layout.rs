//! The page shell every console page is drawn in, the style sheet compiled into the binary,
//! and the headers every response carries: a Content-Security-Policy that allows nothing but
//! this console's own style sheet and forms, no framing, no caching, no referrer.

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use maud::{DOCTYPE, Markup, html};

use super::session::{Session, Visitor};

/// The console's only asset, served at `/console.css`.
const STYLE: &str = include_str!("console.css");

/// Scripts, frames, plugins, fonts, images and foreign forms are all refused.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The officers' pages in the navigation bar: path and title.
const OFFICER_PAGES: &[(&str, &str)] = &[
    ("/timeline", "Case timeline"),
    ("/exchanges", "Exchanges"),
    ("/activity", "Activity"),
    ("/chain", "Chain"),
    ("/policy", "Policy"),
    ("/export", "Export"),
];

/// The monitor's pages in the navigation bar.
const MONITOR_PAGES: &[(&str, &str)] = &[("/monitor", "Programme monitor")];

/// A page for a signed-in person, with the navigation of its pages.
pub fn page(title: &str, session: &Session, body: Markup) -> Markup {
    let visitor = &session.visitor;
    let navigation = match visitor {
        Visitor::Officer(_) => OFFICER_PAGES,
        Visitor::Monitor(_) => MONITOR_PAGES,
    };
    shell(
        title,
        html! {
            nav {
                span.brand { "Ketenpoort" }
                @for (path, name) in navigation {
                    a href=(path) { (name) }
                }
                span.who {
                    (visitor.person()) " · " (visitor.partner().name)
                }
                form method="post" action="/sign-out" {
                    input type="hidden" name="csrf" value=(session.csrf);
                    button type="submit" { "Sign out" }
                }
            }
            main {
                h1 { (title) }
                (body)
            }
        },
    )
}

/// A page for someone not signed in (the sign-in page, refusals).
pub fn public(title: &str, body: Markup) -> Markup {
    shell(
        title,
        html! {
            nav { span.brand { "Ketenpoort" } }
            main { h1 { (title) } (body) }
        },
    )
}

/// The page that says why a request was refused.
pub fn refusal(message: &str) -> Markup {
    public(
        "Not possible",
        html! {
            p.refusal { (message) }
            p { a href="/" { "Back to the console" } }
        },
    )
}

/// The answer to a page that does not exist, or not for the person asking: the same, so
/// that nobody learns from it which pages others have.
pub fn no_such_page() -> Response {
    (
        axum::http::StatusCode::NOT_FOUND,
        refusal("There is no such page in the console."),
    )
        .into_response()
}

/// An organisation as its name with its OIN beside it.
pub fn organisation(name: &str, oin: &str) -> Markup {
    html! {
        @if !oin.is_empty() {
            span.org { (if name.is_empty() { "unknown organisation" } else { name }) }
            " " small.oin { (oin) }
        }
    }
}

/// The style sheet.
pub async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

/// Adds the security headers to every response.
pub async fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn shell(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Ketenpoort" }
                link rel="stylesheet" href="/console.css";
            }
            body { (content) }
        }
    }
}
