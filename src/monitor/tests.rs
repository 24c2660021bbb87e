//! The monitor's plan as the policy check sees it, and the counter keys of a signal.

use std::path::Path;

use prost_reflect::DynamicMessage;

use super::*;
use crate::{
    catalogue::Catalogue,
    policy::{Policy, tests::load_rules},
};

fn refusal(monitor: &str) -> String {
    match load_rules(monitor) {
        Ok(_) => panic!("accepted:\n{monitor}"),
        Err(e) => e.to_string(),
    }
}

fn message(signal: &str, json: &str) -> DynamicMessage {
    let catalogue = Catalogue::load().unwrap();
    let descriptor = catalogue.signal(signal).unwrap().clone();
    let mut de = serde_json::Deserializer::from_str(json);
    DynamicMessage::deserialize(descriptor, &mut de).unwrap()
}

#[test]
fn the_default_policy_counts_the_programme_figures_in_all_lvv_regions() {
    let policy =
        Policy::load(Path::new("config/policy.toml"), &Catalogue::load().unwrap()).unwrap();
    let plan = policy.monitor();
    assert_eq!(plan.threshold(), DEFAULT_THRESHOLD);
    let regions: Vec<&str> = plan.regions().collect();
    for city in [
        "Amsterdam",
        "Utrecht",
        "Groningen",
        "Eindhoven",
        "Rotterdam",
        "Nijmegen/Arnhem",
        "Enschede/Hengelo/Deventer",
        "Den Haag",
        UNASSIGNED,
    ] {
        assert!(regions.contains(&city), "{city} missing");
    }
    let review = plan
        .signals()
        .iter()
        .find(|s| s.signal == "QuarterlyReviewOutcome")
        .unwrap();
    let fields: Vec<&str> = review.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        fields,
        ["review_held", "stuck", "stuck_cause", "escalation_level"]
    );
    assert_eq!(review.fields[1].values, ["false", "true"]);
    assert_eq!(review.fields[3].values[0], "ESCALATION_LEVEL_UNSPECIFIED");
}

#[test]
fn a_field_that_is_not_ordinary_coded_and_single_is_refused() {
    for (field, why) in [
        ("CareSignal\"\nfields = [\"urgency\"]", "classed [Health]"),
        (
            "QuarterlyReviewOutcome\"\nfields = [\"stuck_reason\"]",
            "classed [Ordinary, Health]",
        ),
        (
            "IdentityDoubt\"\nfields = [\"requested_action\"]",
            "free text",
        ),
        (
            "QuarterlyReviewOutcome\"\nfields = [\"next_review_date\"]",
            "free text",
        ),
        (
            "IdentityDoubt\"\nfields = [\"stated_identity\"]",
            "classed []",
        ),
        (
            "DepartureProcedureStatus\"\nfields = [\"travel_document_available\"]",
            "classed [Identifying]",
        ),
        ("Intake\"\nfields = [\"person.v_nummer\"]", "does not exist"),
        ("Nothing\"\nfields = []", "unknown signal type Nothing"),
    ] {
        let message = refusal(&format!("[[monitor.signal]]\nsignal = \"{field}\n"));
        assert!(message.contains(why), "{why:?} not in {message}");
        assert!(message.contains("monitor:"), "{message}");
    }
}

#[test]
fn a_partner_in_two_regions_and_a_low_threshold_are_refused() {
    let message = refusal(
        "[monitor]\nthreshold = 1\n[[monitor.region]]\nname = \"A\"\npartners = [\"x\"]\n[[monitor.region]]\nname = \"B\"\npartners = [\"x\"]\n",
    );
    assert!(
        message.contains("threshold must be at least 2"),
        "{message}"
    );
    assert!(
        message.contains("partner x is in regions A and B"),
        "{message}"
    );
}

#[test]
fn a_signal_counts_once_per_field_in_the_region_of_its_sender_or_first_recipient() {
    let policy =
        Policy::load(Path::new("config/policy.toml"), &Catalogue::load().unwrap()).unwrap();
    let plan = policy.monitor();
    let review = message(
        "QuarterlyReviewOutcome",
        r#"{"stuck": true, "stuckReason": "STUCK_REASON_MEDICAL", "stuckCause": "STUCK_CAUSE_OTHER",
            "escalationLevel": "ESCALATION_LEVEL_STEERING_GROUP", "nextReviewDate": "2026-12-01",
            "reviewHeld": true}"#,
    );
    // 2026-08-01T00:00:00Z.
    let keys = plan.counter_keys(1_785_542_400_000, "gemeente-rotterdam", &["dtv"], &review);
    let cells: Vec<String> = keys
        .iter()
        .map(|k| {
            format!(
                "{} {} {} {}={}",
                k.quarter, k.region, k.signal_type, k.field, k.value
            )
        })
        .collect();
    assert_eq!(
        cells,
        [
            "2026Q3 Rotterdam QuarterlyReviewOutcome =",
            "2026Q3 Rotterdam QuarterlyReviewOutcome review_held=true",
            "2026Q3 Rotterdam QuarterlyReviewOutcome stuck=true",
            "2026Q3 Rotterdam QuarterlyReviewOutcome stuck_cause=STUCK_CAUSE_OTHER",
            "2026Q3 Rotterdam QuarterlyReviewOutcome escalation_level=ESCALATION_LEVEL_STEERING_GROUP",
        ]
    );
    let doubt = message(
        "IdentityDoubt",
        r#"{"doubt": false, "requestedAction": "bel familie"}"#,
    );
    let keys = plan.counter_keys(
        0,
        "dtv",
        &["ind", "gemeente-enschede", "gemeente-utrecht"],
        &doubt,
    );
    assert!(keys.iter().all(|k| k.region == "Enschede/Hengelo/Deventer"));
    assert_eq!(keys[1].value, "false");
    let keys = plan.counter_keys(0, "dtv", &["ind"], &doubt);
    assert!(keys.iter().all(|k| k.region == UNASSIGNED));
    let intake = message("Intake", r#"{"intakeDate": "2026-08-01"}"#);
    assert!(
        plan.counter_keys(0, "gemeente-utrecht", &["dtv"], &intake)
            .is_empty()
    );
}

#[test]
fn a_report_has_a_count_table_and_a_table_per_field_for_the_trend_of_four_quarters() {
    let policy =
        Policy::load(Path::new("config/policy.toml"), &Catalogue::load().unwrap()).unwrap();
    let plan = policy.monitor();
    let quarter: Quarter = "2026Q3".parse().unwrap();
    let key = |region: &str, field: &str, value: &str| CounterKey {
        quarter,
        region: region.into(),
        signal_type: "IdentityDoubt".into(),
        field: field.into(),
        value: value.into(),
    };
    let counts = vec![
        (key("Utrecht", SIGNALS, ""), 9),
        (key("Utrecht", "doubt", "true"), 6),
        (key("Utrecht", "doubt", "false"), 3),
        (key("Rotterdam", SIGNALS, ""), 20),
        (key("Rotterdam", "doubt", "true"), 10),
        (key("Rotterdam", "doubt", "false"), 10),
    ];
    let report = Report::build(plan, quarter, &counts);
    let quarters: Vec<String> = report
        .quarters
        .iter()
        .map(|q| q.quarter.to_string())
        .collect();
    assert_eq!(quarters, ["2025Q4", "2026Q1", "2026Q2", "2026Q3"]);
    let tables = &report.quarters[3].tables;
    let doubt: Vec<&Table> = tables
        .iter()
        .filter(|t| t.signal_type == "IdentityDoubt")
        .collect();
    assert_eq!(doubt.len(), 2, "the count table and the table of `doubt`");
    assert_eq!(doubt[1].values, ["false", "true"]);
    let row = |region: &str| doubt[1].rows.iter().find(|r| r.region == region).unwrap();
    // Utrecht's 3 is primary; the other cells of its row and column are hidden with it, and
    // so is the fourth corner of that block, or it would give the column away.
    assert_eq!(row("Utrecht").cells[0], Cell::Hidden(Suppression::Primary));
    let secondary = Cell::Hidden(Suppression::Secondary);
    assert_eq!(row("Utrecht").cells[1], secondary);
    assert_eq!(row("Rotterdam").cells, [secondary, secondary]);
    assert_eq!(row("Utrecht").percent_true, None);
    assert_eq!(row("Utrecht").total, Cell::Count(9));
    assert_eq!(doubt[1].national.cells, [Cell::Count(13), Cell::Count(16)]);
    assert_eq!(doubt[1].national.percent_true, Some(55.2));
    assert_eq!(report.suppressed(), 4);
    assert!(
        report.quarters[0]
            .tables
            .iter()
            .all(|t| t.national.total == Cell::Count(0))
    );
}
