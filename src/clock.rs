//! Time as the gateway stores and shows it: Unix milliseconds (UTC) in the database and on
//! the wire, RFC 3339 for people.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
}
