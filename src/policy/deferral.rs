//! Deferred disclosure, as the policy marks it: signal types or purposes whose items a report
//! to the data subject leaves out for a while, as the Wpg allows for police and public order
//! data (`[[deferral]]` in `policy.toml`). Each mark names one signal type or one purpose, how
//! long (days after the exchange, or until a date) and the legal ground the officer is shown.
//! Which items were released early is not policy: the exchange layer knows that.

use serde::Deserialize;

use crate::catalogue::Catalogue;

/// One day in milliseconds.
const DAY_MS: i64 = 86_400_000;

/// One `[[deferral]]` of `policy.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DeferralDef {
    #[serde(default)]
    signal: Option<String>,
    #[serde(default)]
    purpose: Option<String>,
    #[serde(default)]
    days: Option<u32>,
    #[serde(default)]
    until: Option<String>,
    basis: String,
}

/// What a deferral marks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marked {
    /// Every item of this signal type.
    Signal(String),
    /// Every item exchanged for this purpose (one of an item's purposes is enough).
    Purpose(String),
}

/// How long a marked item is held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// For this long after the item (ms).
    For(i64),
    /// Until this moment (Unix ms), whenever the item happened.
    Until(i64),
}

/// One mark of the policy.
#[derive(Debug, Clone)]
pub struct Deferral {
    /// What it marks.
    pub marked: Marked,
    /// For how long.
    pub hold: Hold,
    /// The legal ground, shown to the officer (e.g. "Wpg art. 27").
    pub basis: String,
}

/// Why and until when an item is held back from the data subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldBack {
    /// Until when (Unix ms).
    pub until: i64,
    /// Why, in words for the officer.
    pub reason: String,
}

/// Every deferral of the policy.
#[derive(Debug, Clone, Default)]
pub struct Deferrals(Vec<Deferral>);

// === impl Deferrals ===

impl Deferrals {
    /// Checks the `[[deferral]]` entries against the catalogue and the policy's purposes,
    /// adding one line per problem.
    pub(super) fn check(
        defs: Vec<DeferralDef>,
        is_purpose: impl Fn(&str) -> bool,
        catalogue: &Catalogue,
        problems: &mut Vec<String>,
    ) -> Self {
        let mut marks = Vec::new();
        for (i, def) in defs.into_iter().enumerate() {
            let at = format!("deferral {}", i + 1);
            let before = problems.len();
            let marked = match (def.signal, def.purpose) {
                (Some(signal), None) => {
                    if catalogue.signal(&signal).is_none() {
                        problems.push(format!("{at}: signal {signal} is not in the catalogue"));
                    }
                    Marked::Signal(signal)
                }
                (None, Some(purpose)) => {
                    if !is_purpose(&purpose) {
                        problems.push(format!("{at}: purpose {purpose} is not defined"));
                    }
                    Marked::Purpose(purpose)
                }
                _ => {
                    problems.push(format!("{at}: name exactly one of signal or purpose"));
                    continue;
                }
            };
            let hold = match (def.days, def.until.as_deref()) {
                (Some(days), None) if days > 0 => Hold::For(i64::from(days) * DAY_MS),
                (None, Some(date)) => match start_of(date) {
                    Some(ms) => Hold::Until(ms),
                    None => {
                        problems.push(format!("{at}: until must be a date, YYYY-MM-DD"));
                        continue;
                    }
                },
                _ => {
                    problems.push(format!(
                        "{at}: give exactly one of days (at least 1) or until (YYYY-MM-DD)"
                    ));
                    continue;
                }
            };
            if def.basis.trim().is_empty() {
                problems.push(format!("{at}: basis is empty: name the legal ground"));
            }
            if problems.len() == before {
                marks.push(Deferral {
                    marked,
                    hold,
                    basis: def.basis,
                });
            }
        }
        Deferrals(marks)
    }

    /// Whether an item of `signal_type` exchanged for `purposes` (comma separated) at `at` is
    /// held back from the data subject at `now` (Unix ms), and why. Of several marks, the one
    /// holding it longest answers (of equally long ones, the first in the file).
    pub fn held_back(
        &self,
        signal_type: &str,
        purposes: &str,
        at: i64,
        now: i64,
    ) -> Option<HeldBack> {
        self.0
            .iter()
            .filter_map(|mark| {
                let reason = match &mark.marked {
                    Marked::Signal(s) if s == signal_type => {
                        format!("{s} signals are held back ({})", mark.basis)
                    }
                    Marked::Purpose(p) if purposes.split(',').any(|q| q.trim() == p) => {
                        format!("data for purpose {p} is held back ({})", mark.basis)
                    }
                    _ => return None,
                };
                let until = match mark.hold {
                    Hold::For(ms) => at.saturating_add(ms),
                    Hold::Until(ms) => ms,
                };
                (now < until).then_some(HeldBack { until, reason })
            })
            // The longest hold; of equal ones, the mark written first.
            .fold(None, |best: Option<HeldBack>, held| match best {
                Some(best) if best.until >= held.until => Some(best),
                _ => Some(held),
            })
    }
}

/// Midnight UTC at the start of `date` (YYYY-MM-DD), Unix ms.
fn start_of(date: &str) -> Option<i64> {
    if date.len() != 10 {
        return None;
    }
    let time = humantime::parse_rfc3339(&format!("{date}T00:00:00Z")).ok()?;
    Some(crate::clock::unix_ms(time))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deferrals(toml: &str) -> (Deferrals, Vec<String>) {
        #[derive(Deserialize)]
        struct File {
            deferral: Vec<DeferralDef>,
        }
        let file: File = toml::from_str(toml).unwrap();
        let catalogue = Catalogue::load().unwrap();
        let mut problems = Vec::new();
        let d = Deferrals::check(
            file.deferral,
            |p| p == "PUBLIC_ORDER",
            &catalogue,
            &mut problems,
        );
        (d, problems)
    }

    #[test]
    fn marked_types_and_purposes_are_held_back_until_their_date() {
        let (d, problems) = deferrals(
            r#"
            [[deferral]]
            signal = "SafetySignal"
            days = 1
            basis = "Wpg art. 27"
            [[deferral]]
            purpose = "PUBLIC_ORDER"
            until = "1970-01-03"
            basis = "Wpg art. 27"
            "#,
        );
        assert!(problems.is_empty(), "{problems:?}");
        let held = d.held_back("SafetySignal", "RETURN", 0, 5_000).unwrap();
        assert_eq!(held.until, DAY_MS);
        assert_eq!(
            held.reason,
            "SafetySignal signals are held back (Wpg art. 27)"
        );
        assert!(d.held_back("SafetySignal", "RETURN", 0, DAY_MS).is_none());
        let held = d
            .held_back("DetentionRelease", "RETURN, PUBLIC_ORDER", 0, 1)
            .unwrap();
        assert_eq!(held.until, 2 * DAY_MS);
        assert!(held.reason.contains("PUBLIC_ORDER"));
        // Both marks: the longer hold answers.
        let held = d.held_back("SafetySignal", "PUBLIC_ORDER", 0, 1).unwrap();
        assert_eq!(held.until, 2 * DAY_MS);
        assert!(d.held_back("Intake", "INTAKE", 0, 1).is_none());
    }

    #[test]
    fn bad_marks_are_named() {
        let (d, problems) = deferrals(
            r#"
            [[deferral]]
            signal = "NoSuchSignal"
            days = 1
            basis = "x"
            [[deferral]]
            purpose = "NOPE"
            days = 1
            basis = "x"
            [[deferral]]
            signal = "SafetySignal"
            purpose = "PUBLIC_ORDER"
            days = 1
            basis = "x"
            [[deferral]]
            signal = "SafetySignal"
            until = "next year"
            basis = "x"
            [[deferral]]
            signal = "SafetySignal"
            days = 0
            basis = ""
            "#,
        );
        assert!(d.0.is_empty());
        assert_eq!(problems.len(), 5, "{problems:#?}");
        assert!(problems[0].contains("deferral 1: signal NoSuchSignal"));
        assert!(problems[1].contains("deferral 2: purpose NOPE"));
        assert!(problems[2].contains("exactly one of signal or purpose"));
        assert!(problems[3].contains("YYYY-MM-DD"));
        assert!(problems[4].contains("days (at least 1)"));
    }
}
