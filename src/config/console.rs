//! `[console]`: the privacy officers' web console, off by default.

use std::net::SocketAddr;

use serde::Deserialize;

/// How long a console session lasts by default: 30 minutes.
pub const DEFAULT_SESSION_LIFETIME_SECS: u64 = 30 * 60;
/// Signed-in sessions held at once by default.
pub const DEFAULT_MAX_SESSIONS: usize = 1000;
/// How long police and public order items are held back from a data subject by default.
pub const DEFAULT_DEFERRAL_DAYS: u64 = 365;

/// `[console]`: the web console for privacy officers, served over TLS with the gateway's own
/// certificate on a listener of its own. Browsers present no client certificate, so this
/// listener does not ask for one: an officer signs in with a JWT from the organisation's
/// identity provider, verified with the keys registered for that organisation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Where to listen, such as `"127.0.0.1:8444"`. By default unset: the console is off.
    /// Keep it on a network the officers reach; every page is behind the sign-in.
    pub listen: Option<SocketAddr>,
    /// Seconds a session lasts after sign-in, at most; the officer signs in again after. By
    /// default 1800 (30 minutes).
    pub session_lifetime_secs: u64,
    /// Signed-in sessions held at once; a sign-in beyond that is refused until one expires
    /// or signs out, so that sign-ins cannot exhaust memory. By default 1000.
    pub max_sessions: usize,
    /// Signal types left out of a report to the data subject for `deferral_days` after they
    /// were exchanged, as the Wpg allows for police data. By default `["SafetySignal",
    /// "DetentionRelease"]`.
    pub deferred_signal_types: Vec<String>,
    /// Purposes whose items are left out of a report to the data subject likewise. By default
    /// `["PUBLIC_ORDER"]`.
    pub deferred_purposes: Vec<String>,
    /// Days such an item is held back from the data subject. By default 365.
    pub deferral_days: u64,
    /// Per purpose code, the URI of that processing activity in the organisation's processing
    /// register, such as `{ RETURN = "https://register.example.nl/activities/return" }`. The
    /// Logboek read API answers it as `dpl.core.processing_activity_id` (and accepts it as a
    /// query); a purpose without one is answered by its code. Every key must be a purpose of
    /// the policy and every value an `https://` URI, checked at start-up. By default empty.
    pub processing_activities: std::collections::BTreeMap<String, String>,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            listen: None,
            session_lifetime_secs: DEFAULT_SESSION_LIFETIME_SECS,
            max_sessions: DEFAULT_MAX_SESSIONS,
            deferred_signal_types: vec!["SafetySignal".into(), "DetentionRelease".into()],
            deferred_purposes: vec!["PUBLIC_ORDER".into()],
            deferral_days: DEFAULT_DEFERRAL_DAYS,
            processing_activities: std::collections::BTreeMap::new(),
        }
    }
}

// === impl ConsoleConfig ===

impl ConsoleConfig {
    /// The problems of these settings, one line each, naming the key.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.session_lifetime_secs == 0 {
            problems.push("console.session_lifetime_secs must be at least 1".to_string());
        }
        if self.max_sessions == 0 {
            problems.push("console.max_sessions must be at least 1".to_string());
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_checked() {
        let config: ConsoleConfig = toml::from_str("").unwrap();
        assert!(config.listen.is_none());
        assert_eq!(config.session_lifetime_secs, 1800);
        assert!(config.problems().is_empty());
        let config: ConsoleConfig =
            toml::from_str("listen = \"127.0.0.1:8444\"\nsession_lifetime_secs = 0").unwrap();
        assert_eq!(
            config.listen,
            Some(SocketAddr::from(([127, 0, 0, 1], 8444)))
        );
        assert_eq!(config.problems().len(), 1);
    }
}
