//! A calendar quarter (`2026Q3`): the finest time the monitor's counters know. A signal is
//! counted in the quarter of its acceptance by the gateway, in UTC.

use std::{fmt, str::FromStr};

use time::{Date, Month, OffsetDateTime, Time};

/// A calendar quarter of a year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Quarter {
    year: i32,
    /// 1 to 4.
    number: u8,
}

/// Why a text is not a quarter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a quarter is written as the year, Q and the quarter number, e.g. 2026Q3")]
pub struct InvalidQuarter;

// === impl Quarter ===

impl Quarter {
    /// The quarter of a moment given as Unix milliseconds (UTC).
    pub fn of_unix_ms(ms: i64) -> Self {
        let at = OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Self {
            year: at.year(),
            number: (u8::from(at.month()) - 1) / 3 + 1,
        }
    }

    /// The quarter before this one.
    pub fn previous(self) -> Self {
        match self.number {
            1 => Self {
                year: self.year - 1,
                number: 4,
            },
            n => Self {
                year: self.year,
                number: n - 1,
            },
        }
    }

    /// This quarter and the `n - 1` before it, oldest first.
    pub fn trend(self, n: usize) -> Vec<Self> {
        let mut quarters: Vec<Self> = std::iter::successors(Some(self), |q| Some(q.previous()))
            .take(n)
            .collect();
        quarters.reverse();
        quarters
    }

    /// The first moment after the quarter, as Unix milliseconds (UTC).
    pub fn end_unix_ms(self) -> i64 {
        let (year, month) = match self.number {
            4 => (self.year + 1, Month::January),
            n => (
                self.year,
                Month::try_from(n * 3 + 1).unwrap_or(Month::January),
            ),
        };
        Date::from_calendar_date(year, month, 1)
            .map(|d| d.with_time(Time::MIDNIGHT).assume_utc())
            .map_or(i64::MAX, |t| {
                i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
            })
    }
}

impl fmt::Display for Quarter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}Q{}", self.year, self.number)
    }
}

impl FromStr for Quarter {
    type Err = InvalidQuarter;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (year, number) = s.split_once(['Q', 'q']).ok_or(InvalidQuarter)?;
        let valid_year = year.len() == 4 && year.bytes().all(|b| b.is_ascii_digit());
        let year: i32 = year.parse().map_err(|_| InvalidQuarter)?;
        let number: u8 = number.parse().map_err(|_| InvalidQuarter)?;
        if !valid_year || !(1..=4).contains(&number) || year < 2000 {
            return Err(InvalidQuarter);
        }
        Ok(Self { year, number })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moment_falls_in_its_calendar_quarter() {
        // 2026-09-30T23:59:59Z and 2026-10-01T00:00:00Z.
        assert_eq!(Quarter::of_unix_ms(1_790_812_799_000).to_string(), "2026Q3");
        assert_eq!(Quarter::of_unix_ms(1_790_812_800_000).to_string(), "2026Q4");
        assert_eq!(
            "2026Q3".parse::<Quarter>().unwrap().end_unix_ms(),
            1_790_812_800_000
        );
        assert_eq!(
            "2026Q4".parse::<Quarter>().unwrap().end_unix_ms(),
            Quarter::of_unix_ms(1_798_761_600_000)
                .previous()
                .end_unix_ms()
        );
    }

    #[test]
    fn the_trend_is_the_last_quarters_oldest_first() {
        let trend: Vec<String> = "2026Q2"
            .parse::<Quarter>()
            .unwrap()
            .trend(4)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(trend, ["2025Q3", "2025Q4", "2026Q1", "2026Q2"]);
    }

    #[test]
    fn only_a_year_and_a_quarter_number_parse() {
        for bad in [
            "", "2026", "2026Q5", "2026Q0", "26Q1", "2026-Q1", "Q1", "+026Q1", "2026Q1x",
        ] {
            assert_eq!(bad.parse::<Quarter>(), Err(InvalidQuarter), "{bad}");
        }
        assert_eq!("2026q1".parse::<Quarter>().unwrap().to_string(), "2026Q1");
    }
}
