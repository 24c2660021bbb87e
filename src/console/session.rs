//! Signed-in sessions, held in memory only: a random id in a `Secure; HttpOnly;
//! SameSite=Strict` cookie names the verified officer (organisation, person, scope) and the
//! session's CSRF token. The token the officer signed in with is never kept. A session ends at
//! sign-out or when its lifetime, read on the gateway's clock, has passed.

use std::{collections::HashMap, sync::Arc, time::Duration};

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, header, request::Parts},
    response::{IntoResponse, Redirect, Response},
};
use parking_lot::Mutex;

use super::{Console, ConsoleError, csrf};
use crate::{clock::Clock, exchange::audit_reading::Officer};

/// The session cookie; `__Host-` makes browsers refuse it unless `Secure`, host-only, path `/`.
pub const SESSION_COOKIE: &str = "__Host-ketenpoort-session";

/// One signed-in officer.
#[derive(Debug, Clone)]
pub struct Session {
    /// The officer, verified at sign-in.
    pub officer: Arc<Officer>,
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

/// A page's signed-in officer; a request without a live session is sent to the sign-in page.
pub struct SignedIn(pub Session);

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

    /// Opens a session for `officer`; returns its id.
    pub fn open(&self, officer: Officer) -> Result<String, ConsoleError> {
        let now = self.clock.now_ms();
        let mut open = self.open.lock();
        open.retain(|_, s| s.expires_at > now);
        if open.len() >= self.max {
            return Err(ConsoleError::Full);
        }
        let id = csrf::fresh_secret()?;
        let session = Session {
            officer: Arc::new(officer),
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

impl FromRequestParts<Console> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Response> {
        match console.sessions.lookup(&parts.headers) {
            Lookup::Live(session) => Ok(SignedIn(session)),
            Lookup::Ended => Err((
                [(header::SET_COOKIE, removal(SESSION_COOKIE))],
                Redirect::to("/sign-in?ended=1"),
            )
                .into_response()),
            Lookup::None => Err(Redirect::to("/sign-in").into_response()),
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
