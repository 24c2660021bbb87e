//! The catalogue signal mix the benchmark sends: real LVV signals that a municipality may send
//! under the default `config/policy.toml`, each kind with its sending purpose, its recipients
//! and a weight. Each kind has a pool of payload variants (dates that exist, ISO 3166 alpha-3
//! countries, 10-digit V-nummers, BSNs that pass the eleven-test) encoded once at start, so
//! that building a request costs a fresh idempotency key and a case reference, not a JSON
//! parse: the load generator shares the cores with the gateway it measures.

use std::collections::BTreeSet;

use anyhow::Context as _;
use ketenpoort::{
    api::{client::payload_from_json, proto::SendRequest},
    catalogue::Catalogue,
};
use prost_types::Any;

/// Payload variants per signal kind.
const VARIANTS: usize = 32;
/// Case references per sender: signals about one case follow each other, as in the chain.
const CASES: u64 = 10_000;

/// One kind of signal in the mix.
struct Kind {
    signal: &'static str,
    purpose: &'static str,
    /// Partner ids of the recipients; each receives under a purpose the rule names.
    recipients: &'static [&'static str],
    /// Signals of this kind in every [`Mix::cycle`] of requests.
    weight: usize,
    /// The payload of variant `i`, as proto3 JSON.
    json: fn(usize) -> String,
}

/// The mix: an intake to DT&V and the guiding NGO is the most common signal, then status
/// changes and guidance scenarios, then care, review and closure signals.
const KINDS: [Kind; 6] = [
    Kind {
        signal: "Intake",
        purpose: "INTAKE",
        recipients: &["dtv", "ngo-begeleiding"],
        weight: 3,
        json: intake,
    },
    Kind {
        signal: "StatusChange",
        purpose: "CASE_DIRECTION",
        recipients: &["dtv", "ind"],
        weight: 2,
        json: status_change,
    },
    Kind {
        signal: "GuidanceScenario",
        purpose: "CASE_DIRECTION",
        recipients: &["dtv", "ngo-begeleiding"],
        weight: 2,
        json: guidance_scenario,
    },
    Kind {
        signal: "CareSignal",
        purpose: "CARE",
        recipients: &["dtv", "ind"],
        weight: 1,
        json: care_signal,
    },
    Kind {
        signal: "QuarterlyReviewOutcome",
        purpose: "CASE_DIRECTION",
        recipients: &["dtv", "politie-avim"],
        weight: 1,
        json: review_outcome,
    },
    Kind {
        signal: "CaseClosure",
        purpose: "CASE_DIRECTION",
        recipients: &["dtv", "ind", "ngo-begeleiding"],
        weight: 1,
        json: case_closure,
    },
];

/// One kind, ready to send: recipient OINs and encoded payload variants.
struct Prepared {
    purpose: &'static str,
    recipients: Vec<String>,
    payloads: Vec<Any>,
}

/// The mix, ready to send.
pub struct Mix {
    kinds: Vec<Prepared>,
    /// Index into `kinds` for each request of one cycle, each kind as often as its weight.
    cycle: Vec<usize>,
}

/// The partner ids the mix sends to: the receivers the benchmark subscribes for.
pub fn receivers() -> BTreeSet<&'static str> {
    KINDS
        .iter()
        .flat_map(|k| k.recipients.iter().copied())
        .collect()
}

// === impl Mix ===

impl Mix {
    /// Encodes every kind's payload variants; `oin_of` gives a recipient id's OIN.
    pub fn new(
        catalogue: &Catalogue,
        oin_of: impl Fn(&str) -> anyhow::Result<String>,
    ) -> anyhow::Result<Self> {
        let mut kinds = Vec::with_capacity(KINDS.len());
        let mut cycle = Vec::new();
        for (index, kind) in KINDS.iter().enumerate() {
            let payloads = (0..VARIANTS)
                .map(|i| payload_from_json(catalogue, kind.signal, &(kind.json)(i)))
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("the mix's {} payload", kind.signal))?;
            let recipients = kind
                .recipients
                .iter()
                .map(|id| oin_of(id))
                .collect::<anyhow::Result<Vec<_>>>()?;
            kinds.push(Prepared {
                purpose: kind.purpose,
                recipients,
                payloads,
            });
            cycle.extend(std::iter::repeat_n(index, kind.weight));
        }
        Ok(Self { kinds, cycle })
    }

    /// Request `seq` of sender `sender`: the kind and variant follow from `seq`; the
    /// idempotency key is new, the case reference one of the sender's [`CASES`].
    pub fn request(&self, sender: usize, seq: u64) -> SendRequest {
        let len = self.cycle.len() as u64;
        let kind = &self.kinds[self.cycle[(seq % len) as usize]];
        let variant = ((seq / len) % VARIANTS as u64) as usize;
        SendRequest {
            idempotency_key: uuid::Uuid::now_v7().to_string(),
            case_ref: format!("LVV-BENCH-{sender:02}-{:05}", seq % CASES),
            purpose: kind.purpose.to_string(),
            recipients: kind.recipients.clone(),
            payload: Some(kind.payloads[variant].clone()),
        }
    }

    /// The mix's first signal (an `Intake`) to `recipients`, with `key` as its idempotency
    /// key: a request for `compare.sh`, which replaces the key in each copy it sends.
    pub fn request_with_key(&self, recipients: Vec<String>, key: &str) -> SendRequest {
        SendRequest {
            idempotency_key: key.to_string(),
            recipients,
            ..self.request(0, 0)
        }
    }
}

// === payloads ===

const GIVEN: [&str; 4] = ["Amina", "Yonas", "Farah", "Dawit"];
const SURNAMES: [&str; 4] = ["Voorbeeld", "Testpersoon", "Proefmans", "Steekproef"];
const COUNTRIES: [&str; 8] = ["SOM", "ERI", "SYR", "AFG", "IRQ", "MAR", "NGA", "XXA"];

/// A date that exists, in 2026, varying with `i`.
fn date(i: usize) -> String {
    format!("2026-{:02}-{:02}", 1 + i % 12, 1 + i % 28)
}

/// A 10-digit V-nummer.
fn v_nummer(i: usize) -> String {
    format!("{}", 1_000_000_000 + i * 7_919)
}

/// A BSN that passes the eleven-test: eight digits and the check digit that makes
/// 9·d1 + … + 2·d8 − d9 a multiple of 11 other than 0 (bases whose check digit would be 10,
/// or whose sum would be 0, are skipped).
fn bsn(i: usize) -> String {
    let mut base = 10_000_000 + i * 104_729;
    loop {
        let digits = format!("{base:08}");
        let sum: u32 = digits
            .bytes()
            .zip((2..=9).rev())
            .map(|(b, weight)| u32::from(b - b'0') * weight)
            .sum();
        if sum % 11 < 10 && sum >= 11 {
            return format!("{digits}{}", sum % 11);
        }
        base += 1;
    }
}

fn intake(i: usize) -> String {
    format!(
        r#"{{"person": {{"vNummer": "{}", "bsn": "{}",
            "names": [{{"givenNames": "{}", "surname": "{}"}}],
            "birthDate": "{}-{:02}-00", "nationalities": ["{}"]}},
          "intakeDate": "{}", "intakeLocation": "GM0344 LVV Utrecht",
          "participationAgreed": true}}"#,
        v_nummer(i),
        bsn(i),
        GIVEN[i % GIVEN.len()],
        SURNAMES[i % SURNAMES.len()],
        1970 + i % 30,
        1 + i % 12,
        COUNTRIES[i % COUNTRIES.len()],
        date(i),
    )
}

fn status_change(i: usize) -> String {
    format!(
        r#"{{"statusCode": "STATUS_CHANGE_CODE_PROCEDURE_PENDING", "ngoStatus": "NGO_STATUS_ACTIVE",
          "effectiveDate": "{}"}}"#,
        date(i)
    )
}

fn guidance_scenario(i: usize) -> String {
    format!(
        r#"{{"scenario": "GUIDANCE_SCENARIO_KIND_RETURN",
          "agreements": [{{"partyRole": "PARTY_ROLE_DTV", "agreement": "vertrekgesprek plannen",
                           "dueDate": "{}"}}],
          "nextReviewDate": "{}"}}"#,
        date(i),
        date(i + 5)
    )
}

fn care_signal(i: usize) -> String {
    // DT&V receives only the two flags and IND only the second: both are set, so that
    // neither copy is empty.
    let access = ["ARRANGED", "WAITING", "NOT_FOUND"][i % 3];
    format!(
        r#"{{"careCategory": "CARE_CATEGORY_MENTAL", "urgency": "CARE_URGENCY_SOON",
          "fitToTravelConcern": true, "medicalObstacleRequested": true,
          "careAccess": "CARE_ACCESS_{access}"}}"#
    )
}

fn review_outcome(i: usize) -> String {
    format!(
        r#"{{"progress": "REVIEW_PROGRESS_DELAYED", "stuck": {}, "stuckCause": "STUCK_CAUSE_COUNTRY_REFUSES",
          "escalationLevel": "ESCALATION_LEVEL_LSO", "nextReviewDate": "{}", "reviewHeld": true}}"#,
        i % 2 == 0,
        date(i)
    )
}

fn case_closure(i: usize) -> String {
    format!(
        r#"{{"outflowCategory": "OUTFLOW_CATEGORY_RETURN", "closureDate": "{}"}}"#,
        date(i)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_is_a_catalogue_signal_with_valid_formats() {
        let catalogue = Catalogue::load().unwrap();
        let mix = Mix::new(&catalogue, |id| Ok(format!("oin-of-{id}"))).unwrap();
        for kind in &mix.kinds {
            for payload in &kind.payloads {
                let descriptor = catalogue.signal_for_type_url(&payload.type_url).unwrap();
                let message =
                    prost_reflect::DynamicMessage::decode(descriptor.clone(), &*payload.value)
                        .unwrap();
                catalogue.check_formats(&message).unwrap();
            }
        }
        assert_eq!(mix.cycle.len(), 10);
    }

    #[test]
    fn bsns_pass_the_eleven_test() {
        for i in 0..100 {
            let b = bsn(i);
            let sum: i64 = b
                .bytes()
                .zip([9, 8, 7, 6, 5, 4, 3, 2, -1])
                .map(|(d, w)| i64::from(d - b'0') * w)
                .sum();
            assert_eq!((b.len(), sum % 11, sum == 0), (9, 0, false), "{b}");
        }
    }
}
