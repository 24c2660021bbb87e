//! `[console]`: the privacy officers' web console, off by default.

use std::net::SocketAddr;

use serde::Deserialize;

/// How long a console session lasts by default: 30 minutes.
pub const DEFAULT_SESSION_LIFETIME_SECS: u64 = 30 * 60;
/// Signed-in sessions held at once by default.
pub const DEFAULT_MAX_SESSIONS: usize = 1000;
/// Sign-in attempts per minute from one address by default.
pub const DEFAULT_SIGN_INS_PER_MINUTE: u32 = 10;
/// Keys of earlier versions that moved to `[[deferral]]` in the policy file.
const MOVED_TO_POLICY: [&str; 3] = [
    "deferred_signal_types",
    "deferred_purposes",
    "deferral_days",
];

/// `[console]`: the web console for privacy officers, served over TLS with the gateway's own
/// certificate on a listener of its own. Browsers present no client certificate, so this
/// listener does not ask for one: an officer signs in with a JWT from the organisation's
/// identity provider, verified with the keys registered for that organisation.
///
/// Unknown keys are refused like everywhere in the settings, through [`ConsoleConfig::other_keys`]
/// (serde cannot deny unknown fields beside a flattened map).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
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
    /// Sign-in attempts (successful or not) per minute from one client address, at most
    /// that many at once; one more is answered `429 Too Many Requests` with `Retry-After`,
    /// and audited (without the token). By default 10. Raise it when many officers sign in
    /// through one proxy or NAT address.
    pub sign_ins_per_minute_per_address: u32,
    /// Any other key, refused at start-up. Keys of earlier versions that now live elsewhere
    /// (the deferral of items from the data subject moved to `[[deferral]]` in the policy
    /// file, so that every report applies it) are refused with where to put them instead.
    #[serde(flatten)]
    pub other_keys: std::collections::BTreeMap<String, toml::Value>,
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
            sign_ins_per_minute_per_address: DEFAULT_SIGN_INS_PER_MINUTE,
            other_keys: std::collections::BTreeMap::new(),
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
        if self.sign_ins_per_minute_per_address == 0 {
            problems.push("console.sign_ins_per_minute_per_address must be at least 1".to_string());
        }
        for key in self.other_keys.keys() {
            problems.push(if MOVED_TO_POLICY.contains(&key.as_str()) {
                format!(
                    "console.{key} has moved to the policy file: mark the signal types or \
                     purposes to hold back from the data subject with [[deferral]] there \
                     (see config/policy.toml), and remove it here"
                )
            } else {
                format!("console.{key} is not a setting of [console]")
            });
        }
        for (code, uri) in &self.processing_activities {
            let parsed = uri.parse::<http::Uri>();
            if !matches!(&parsed, Ok(u) if u.scheme_str() == Some("https") && u.host().is_some()) {
                problems.push(format!(
                    "console.processing_activities.{code} must be an https:// URI of the \
                     processing activity in your processing register"
                ));
            }
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

    #[test]
    fn moved_and_bad_keys_say_what_to_fix() {
        let config: ConsoleConfig = toml::from_str(
            "deferral_days = 30\nno_such_key = 1\n\
             processing_activities = { RETURN = \"http://register.example.nl/return\" }",
        )
        .unwrap();
        let problems = config.problems();
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(problems[0].contains("console.deferral_days has moved to the policy file"));
        assert!(problems[1].contains("console.no_such_key is not a setting"));
        assert!(problems[2].contains("console.processing_activities.RETURN must be an https://"));
        assert!(!problems[2].contains("register.example.nl"));
    }
}
