//! Signed-in sessions, held in memory only: a random id in a `Secure; HttpOnly;
//! SameSite=Strict` cookie names the verified person (an officer with its organisation and
//! scope, or a person of the programme monitor) and the session's CSRF token. The token the
//! person signed in with is never kept. A session ends at sign-out or when its lifetime, read
//! on the gateway's clock, has passed. An officer's pages answer a monitor's session, and the
//! monitor's pages an officer's, as if they did not exist.

use std::{collections::HashMap, sync::Arc, time::Duration};

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, header, request::Parts},
    response::{IntoResponse, Redirect, Response},
};
use parking_lot::Mutex;

use super::{Console, ConsoleError, csrf, layout};
use crate::{
    clock::Clock,
    exchange::{audit_reading::Officer, monitoring::Monitor, sign_in::SignedInPerson},
    registry::Partner,
};

/// The session cookie; `__Host-` makes browsers refuse it unless `Secure`, host-only, path `/`.
pub const SESSION_COOKIE: &str = "__Host-ketenpoort-session";

/// One signed-in person.
#[derive(Debug, Clone)]
pub struct Session {
    /// The person, verified at sign-in.
    pub visitor: Visitor,
    /// The token every form of this session must carry back.
    pub csrf: String,
    /// When the session ends (Unix ms, gateway clock).
    pub expires_at: i64,
}

/// The sessions of one console.
pub struct Sessions {
    clock: Clock,
    lifetime: Duration,
    max: usize,
    open: Mutex<HashMap<String, Session>>,
}

/// What a page learns about its request's session.
pub enum Lookup {
    /// A live session.
    Live(Session),
    /// A session cookie whose session has ended (expired or unknown).
    Ended,
    /// No session cookie.
    None,
}

/// Who a session belongs to.
#[derive(Debug, Clone)]
pub enum Visitor {
    /// A privacy officer: the audit pages.
    Officer(Arc<Officer>),
    /// A person of the programme monitor: the monitor's page.
    Monitor(Arc<Monitor>),
}

/// An officer's page's session and officer; a request without a live session is sent to the
/// sign-in page, a monitor's session is told there is no such page.
pub struct AsOfficer(pub Session, pub Arc<Officer>);

/// The monitor's page's session and person; refused as [`AsOfficer`] refuses, the other way
/// round.
pub struct AsMonitor(pub Session, pub Arc<Monitor>);

// === impl Visitor ===

impl Visitor {
    /// The person the token named.
    pub fn person(&self) -> &str {
        match self {
            Visitor::Officer(officer) => officer.person(),
            Visitor::Monitor(monitor) => monitor.person(),
        }
    }

    /// The organisation the person acts for.
    pub fn partner(&self) -> &Partner {
        match self {
            Visitor::Officer(officer) => officer.partner(),
            Visitor::Monitor(monitor) => monitor.partner(),
        }
    }

    /// The page a person lands on after signing in.
    pub fn home(&self) -> &'static str {
        match self {
            Visitor::Officer(_) => "/timeline",
            Visitor::Monitor(_) => "/monitor",
        }
    }
}

impl From<SignedInPerson> for Visitor {
    fn from(person: SignedInPerson) -> Self {
        match person {
            SignedInPerson::Officer(officer) => Visitor::Officer(Arc::new(officer)),
            SignedInPerson::Monitor(monitor) => Visitor::Monitor(Arc::new(monitor)),
        }
    }
}

// === impl Sessions ===

impl Sessions {
    /// An empty store whose sessions last `lifetime` on `clock`, at most `max` at once.
    pub fn new(clock: Clock, lifetime: Duration, max: usize) -> Self {
        Self {
            clock,
            lifetime,
            max,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Opens a session for `visitor`; returns its id.
    pub fn open(&self, visitor: Visitor) -> Result<String, ConsoleError> {
        let now = self.clock.now_ms();
        let mut open = self.open.lock();
        open.retain(|_, s| s.expires_at > now);
        if open.len() >= self.max {
            return Err(ConsoleError::Full);
        }
        let id = csrf::fresh_secret()?;
        let session = Session {
            visitor,
            csrf: csrf::fresh_secret()?,
            expires_at: now
                .saturating_add(i64::try_from(self.lifetime.as_millis()).unwrap_or(i64::MAX)),
        };
        open.insert(id.clone(), session);
        Ok(id)
    }

    /// The session a request's cookies name.
    pub fn lookup(&self, headers: &HeaderMap) -> Lookup {
        let Some(id) = cookie(headers, SESSION_COOKIE) else {
            return Lookup::None;
        };
        let now = self.clock.now_ms();
        let mut open = self.open.lock();
        match open.get(&id) {
            Some(session) if session.expires_at > now => Lookup::Live(session.clone()),
            Some(_) => {
                open.remove(&id);
                Lookup::Ended
            }
            None => Lookup::Ended,
        }
    }

    /// Ends the session a request's cookies name, if any.
    pub fn close(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers, SESSION_COOKIE) {
            self.open.lock().remove(&id);
        }
    }

    /// The `Set-Cookie` value of a new session.
    pub fn cookie_for(&self, id: &str) -> String {
        format!(
            "{SESSION_COOKIE}={id}; Path=/; Max-Age={}; Secure; HttpOnly; SameSite=Strict",
            self.lifetime.as_secs()
        )
    }
}

/// The `Set-Cookie` value that removes cookie `name`.
pub fn removal(name: &str) -> String {
    format!("{name}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict")
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
        .filter(|value| !value.is_empty())
}

/// The live session of a request, or where to send it instead (boxed: a response is large).
fn live(parts: &Parts, console: &Console) -> Result<Session, Box<Response>> {
    match console.sessions.lookup(&parts.headers) {
        Lookup::Live(session) => Ok(session),
        Lookup::Ended => Err(Box::new(
            (
                [(header::SET_COOKIE, removal(SESSION_COOKIE))],
                Redirect::to("/sign-in?ended=1"),
            )
                .into_response(),
        )),
        Lookup::None => Err(Box::new(Redirect::to("/sign-in").into_response())),
    }
}

impl FromRequestParts<Console> for AsOfficer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Response> {
        let session = live(parts, console).map_err(|r| *r)?;
        match session.visitor.clone() {
            Visitor::Officer(officer) => Ok(AsOfficer(session, officer)),
            Visitor::Monitor(_) => Err(layout::no_such_page()),
        }
    }
}

impl FromRequestParts<Console> for AsMonitor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Response> {
        let session = live(parts, console).map_err(|r| *r)?;
        match session.visitor.clone() {
            Visitor::Monitor(monitor) => Ok(AsMonitor(session, monitor)),
            Visitor::Officer(_) => Err(layout::no_such_page()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; __Host-ketenpoort-session=abc; b=".parse().unwrap(),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "b"), None);
        assert_eq!(cookie(&headers, "session"), None);
    }
}
