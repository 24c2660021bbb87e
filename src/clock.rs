//! Time as the gateway stores and shows it: Unix milliseconds (UTC) in the database and on
//! the wire, RFC 3339 for people, and a [`Clock`] handle that tests can set instead of
//! sleeping.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// The current time as Unix milliseconds.
pub fn now_ms() -> i64 {
    unix_ms(SystemTime::now())
}

/// A point in time as Unix milliseconds (0 for times before 1970).
pub fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Unix milliseconds as an RFC 3339 date-time with seconds, e.g. `2026-11-24T08:00:00Z`.
pub fn rfc3339(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Where the use cases read the time: the system clock, or one a test moves instead of
/// sleeping. Cheap to clone; clones share their time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    kind: Kind,
}

#[derive(Debug, Clone, Default)]
enum Kind {
    /// The system clock.
    #[default]
    System,
    /// The system clock plus an offset (ms) that only grows.
    Shifted(Arc<AtomicI64>),
}

// === impl Clock ===

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that runs with the system clock and jumps ahead when [`Clock::advance`] is
    /// called: for end-to-end tests, where everything else keeps real time.
    pub fn shifted() -> Self {
        Self {
            kind: Kind::Shifted(Arc::new(AtomicI64::new(0))),
        }
    }

    /// The time now, as Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        match &self.kind {
            Kind::System => now_ms(),
            Kind::Shifted(offset) => now_ms().saturating_add(offset.load(Ordering::Relaxed)),
        }
    }

    /// Moves a shifted clock forward by `by`; the system clock cannot be moved, and is left
    /// as it is.
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        match &self.kind {
            Kind::System => {}
            Kind::Shifted(offset) => {
                offset.fetch_add(by, Ordering::Relaxed);
            }
        }
    }

    /// The time `age` before now, as Unix milliseconds: the cut-off of an expiry or retention.
    pub fn before(&self, age: Duration) -> i64 {
        self.now_ms()
            .saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_round_trip_through_system_time() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_500_000_123);
        assert_eq!(unix_ms(t), 1_795_500_000_123);
        assert_eq!(rfc3339(1_795_500_000_123), "2026-11-24T06:00:00Z");
        assert_eq!(unix_ms(UNIX_EPOCH - Duration::from_secs(1)), 0);
    }

    #[test]
    fn a_shifted_clock_moves_only_when_told_and_its_clones_follow() {
        let clock = Clock::shifted();
        let shared = clock.clone();
        clock.advance(Duration::from_secs(3600));
        assert!((shared.now_ms() - now_ms() - 3_600_000).abs() < 1_000);
        let cut = shared.before(Duration::from_secs(3600));
        assert!((cut - now_ms()).abs() < 1_000);
        let system = Clock::system();
        system.advance(Duration::from_secs(3600));
        assert!((system.now_ms() - now_ms()).abs() < 1_000);
    }
}
