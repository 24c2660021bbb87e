//! The form of each text field's value, as the schema gives it (`ketenpoort.v1.format` and
//! `ketenpoort.v1.max_length`): dates that exist, country codes, V-nummers, BSNs that pass
//! the eleven-test, free text of bounded length; and enum fields holding a value their enum
//! names. A payload that breaks one is refused before it is filtered, stored or logged, by
//! the path of the field and the rule — never the value — so that a payload sent under the
//! wrong type cannot land, say, a health free-text field in a released date field.

use std::collections::HashMap;

use prost_reflect::{
    DescriptorPool, DynamicMessage, ExtensionDescriptor, FieldDescriptor, Kind, Value,
};

use super::{Catalogue, countries::is_country_code};

/// The longest free text when the schema names no `max_length`, in characters.
const DEFAULT_MAX_LENGTH: usize = 2000;
/// How deep messages nest at most in a payload that is checked.
const MAX_DEPTH: usize = 16;

/// A field whose value breaks its form: the field's path and the rule, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("payload field {path} {rule}")]
pub struct FormatError {
    /// Dotted path of the field, e.g. `person.birth_date`.
    pub path: String,
    /// What the value must be.
    pub rule: String,
}

/// The form a text field's value must have (mirror of `ketenpoort.v1.TextFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TextFormat {
    Free,
    Date,
    PartialDate,
    Country,
    VNummer,
    Bsn,
}

/// A text field's form and longest value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TextForm {
    format: TextFormat,
    max: usize,
}

/// Free text of the default length: the form of every field that names none.
const FREE_TEXT: TextForm = TextForm {
    format: TextFormat::Free,
    max: DEFAULT_MAX_LENGTH,
};

/// The form of every text field of `pool` that names a format or a maximum length, by the
/// field's full name; read once, when the catalogue loads.
pub(super) fn text_forms(
    pool: &DescriptorPool,
    format: &ExtensionDescriptor,
    max_length: &ExtensionDescriptor,
) -> HashMap<String, TextForm> {
    pool.all_messages()
        .flat_map(|m| m.fields().collect::<Vec<_>>())
        .filter(|field| field.kind() == Kind::String)
        .filter_map(|field| {
            let options = field.options();
            let format = match options.get_extension(format).as_enum_number() {
                Some(1) => TextFormat::Date,
                Some(2) => TextFormat::PartialDate,
                Some(3) => TextFormat::Country,
                Some(4) => TextFormat::VNummer,
                Some(5) => TextFormat::Bsn,
                _ => TextFormat::Free,
            };
            let max = match options.get_extension(max_length).as_u32() {
                Some(0) | None => DEFAULT_MAX_LENGTH,
                Some(n) => n as usize,
            };
            let form = TextForm { format, max };
            (form != FREE_TEXT).then(|| (field.full_name().to_string(), form))
        })
        .collect()
}

// === impl Catalogue ===

impl Catalogue {
    /// Checks every field set in `payload` against its form; the first one that breaks it is
    /// named.
    pub fn check_formats(&self, payload: &DynamicMessage) -> Result<(), FormatError> {
        self.check_message(payload, "", 0)
    }

    fn check_message(
        &self,
        message: &DynamicMessage,
        prefix: &str,
        depth: usize,
    ) -> Result<(), FormatError> {
        for (field, value) in message.fields() {
            let path = if prefix.is_empty() {
                field.name().to_string()
            } else {
                format!("{prefix}.{}", field.name())
            };
            let values = match value {
                Value::List(items) => items.iter().collect(),
                single => vec![single],
            };
            for value in values {
                self.check_value(&field, value, &path, depth)?;
            }
        }
        Ok(())
    }

    fn check_value(
        &self,
        field: &FieldDescriptor,
        value: &Value,
        path: &str,
        depth: usize,
    ) -> Result<(), FormatError> {
        let broken = |rule: String| FormatError {
            path: path.to_string(),
            rule,
        };
        match (value, field.kind()) {
            (Value::String(text), _) if !text.is_empty() => {
                let form = self.text_form(field);
                check_text(text, form.format, form.max).map_err(broken)
            }
            (Value::EnumNumber(n), Kind::Enum(e)) if e.get_value(*n).is_none() => Err(broken(
                format!("holds no value of {}: use one the schema names", e.name()),
            )),
            (Value::Message(_), _) if depth >= MAX_DEPTH => {
                Err(broken(format!("nests deeper than {MAX_DEPTH} messages")))
            }
            (Value::Message(m), _) => self.check_message(m, path, depth + 1),
            _ => Ok(()),
        }
    }

    /// A text field's form and longest value.
    fn text_form(&self, field: &FieldDescriptor) -> TextForm {
        self.text_forms
            .get(field.full_name())
            .copied()
            .unwrap_or(FREE_TEXT)
    }
}

/// Checks one non-empty text value; the error says what it must be.
fn check_text(text: &str, format: TextFormat, max: usize) -> Result<(), String> {
    match format {
        TextFormat::Free => {
            if text.chars().count() > max {
                return Err(format!("is longer than {max} characters"));
            }
            if text
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t')
            {
                return Err("holds control characters".into());
            }
            Ok(())
        }
        TextFormat::Date => date(text, false).ok_or_else(|| {
            "must be a date that exists, as YYYY-MM-DD (empty when not known)".into()
        }),
        TextFormat::PartialDate => date(text, true).ok_or_else(|| {
            "must be a date as YYYY-MM-DD, with month and day 00 when not known".into()
        }),
        TextFormat::Country => is_country_code(text).then_some(()).ok_or_else(|| {
            "must be an ISO 3166-1 alpha-3 country code in capitals (XXA stateless, XXX unknown)"
                .into()
        }),
        TextFormat::VNummer => digits(text, 10)
            .then_some(())
            .ok_or_else(|| "must be a V-nummer: exactly 10 digits".into()),
        TextFormat::Bsn => (digits(text, 9) && eleven_test(text))
            .then_some(())
            .ok_or_else(|| "must be a BSN: 9 digits that pass the eleven-test".into()),
    }
}

fn digits(text: &str, count: usize) -> bool {
    text.len() == count && text.bytes().all(|b| b.is_ascii_digit())
}

/// The BSN eleven-test: 9·d1 + 8·d2 + … + 2·d8 − 1·d9 is a multiple of 11, and not 0.
fn eleven_test(bsn: &str) -> bool {
    let sum: i64 = bsn
        .bytes()
        .zip([9, 8, 7, 6, 5, 4, 3, 2, -1])
        .map(|(b, weight)| i64::from(b - b'0') * weight)
        .sum();
    sum != 0 && sum % 11 == 0
}

/// `Some(())` when `text` is `YYYY-MM-DD` and that day exists; when `partial`, the day may be
/// `00` (unknown), and the month too when the day is.
fn date(text: &str, partial: bool) -> Option<()> {
    let b = text.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && [0, 1, 2, 3, 5, 6, 8, 9]
            .iter()
            .all(|&i| b[i].is_ascii_digit());
    if !shape {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<u32>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    if year == 0 {
        return None;
    }
    if partial && month == 0 {
        return (day == 0).then_some(());
    }
    if partial && day == 0 {
        return (1..=12).contains(&month).then_some(());
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (1..=days).contains(&day).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_exist_or_are_refused() {
        for ok in ["2026-11-30", "2024-02-29", "2000-02-29", "1990-01-31"] {
            assert_eq!(date(ok, false), Some(()), "{ok}");
        }
        for bad in [
            "2026-02-29",
            "1900-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-04-31",
            "26-11-30",
            "2026/11/30",
            "0000-01-01",
            "2026-1-01",
        ] {
            assert_eq!(date(bad, false), None, "{bad}");
        }
        for ok in ["1990-00-00", "1990-05-00", "1990-05-17"] {
            assert_eq!(date(ok, true), Some(()), "{ok}");
        }
        for bad in ["1990-00-05", "1990-13-00"] {
            assert_eq!(date(bad, true), None, "{bad}");
        }
    }

    #[test]
    fn a_bsn_must_pass_the_eleven_test() {
        assert!(eleven_test("123456782") && eleven_test("111222333"));
        assert!(!eleven_test("123456789") && !eleven_test("000000000"));
        assert!(check_text("12345678", TextFormat::Bsn, 0).is_err());
        assert!(check_text("1234567890", TextFormat::VNummer, 0).is_ok());
        assert!(check_text("123456789O", TextFormat::VNummer, 0).is_err());
        assert!(check_text("SYR", TextFormat::Country, 0).is_ok());
        assert!(check_text("syr", TextFormat::Country, 0).is_err());
        assert!(check_text("ABC", TextFormat::Country, 0).is_err());
        assert!(check_text(&"x".repeat(11), TextFormat::Free, 10).is_err());
        assert!(check_text("line\nnext", TextFormat::Free, 10).is_ok());
        assert!(check_text("nul\0", TextFormat::Free, 10).is_err());
    }

    #[test]
    fn every_date_and_country_field_of_the_catalogue_names_its_form() {
        let catalogue = Catalogue::load().unwrap();
        for signal in catalogue.signals.values() {
            let mut fields: Vec<FieldDescriptor> = signal.fields().collect();
            let mut seen = std::collections::HashSet::new();
            while let Some(field) = fields.pop() {
                if let Kind::Message(m) = field.kind() {
                    if seen.insert(m.full_name().to_string()) {
                        fields.extend(m.fields());
                    }
                    continue;
                }
                if field.kind() != Kind::String {
                    continue;
                }
                let format = catalogue.text_form(&field).format;
                let name = field.name();
                if name.ends_with("_date")
                    || name.ends_with("_deadline")
                    || name.ends_with("_start")
                {
                    assert!(
                        matches!(format, TextFormat::Date | TextFormat::PartialDate),
                        "{}",
                        field.full_name()
                    );
                }
                if name.contains("country") || name.contains("nationalit") {
                    assert_eq!(format, TextFormat::Country, "{}", field.full_name());
                }
            }
        }
    }
}
