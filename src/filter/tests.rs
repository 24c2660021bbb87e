//! The filter without a network: permits come from [`Policy::authorize`] over a small registry
//! with one endpoint per receiving purpose, payloads from proto3 JSON.

use std::{path::Path, sync::OnceLock};

use prost::encoding;
use prost_reflect::Value;

use super::*;
use crate::{
    catalogue::Catalogue,
    ids::Oin,
    policy::{Policy, tests::load_rules},
    registry::{PartnerDef, PartnerStatus, Registry, Role},
};

/// A fully populated intake of a person with a BSN and an alias.
const INTAKE: &str = r#"{
  "person": {
    "vNummer": "1234567890",
    "bsn": "123456782",
    "names": [
      {"givenNames": "Testa", "surname": "Persoon"},
      {"givenNames": "T.", "surname": "Alias", "isAlias": true}
    ],
    "birthDate": "1990-01-01",
    "nationalities": ["SOM", "ETH"]
  },
  "intakeDate": "2026-11-20",
  "intakeLocation": "GM0344 LVV Utrecht",
  "participationAgreed": true
}"#;

/// Senders first (a permit's sender is the first partner with the rule's role), then one
/// receiving endpoint per purpose, named after it, and one registered for two purposes.
pub(super) fn registry() -> Registry {
    let endpoints: &[(&str, Role, &[&str])] = &[
        ("municipality", Role::Municipality, &[]),
        ("dtv", Role::Dtv, &[]),
        ("case-direction", Role::Municipality, &["CASE_DIRECTION"]),
        (
            "care-coordination",
            Role::Municipality,
            &["CARE_COORDINATION"],
        ),
        ("return", Role::Dtv, &["RETURN"]),
        ("residence", Role::Ind, &["RESIDENCE"]),
        ("supervision", Role::Police, &["SUPERVISION"]),
        ("guidance", Role::Ngo, &["GUIDANCE"]),
        ("monitoring", Role::Monitor, &["MONITORING"]),
        (
            "guidance-and-monitoring",
            Role::Ngo,
            &["GUIDANCE", "MONITORING"],
        ),
    ];
    let defs = endpoints
        .iter()
        .enumerate()
        .map(|(i, (id, role, purposes))| PartnerDef {
            id: id.to_string(),
            oin: format!("00000099{:012}", i + 1).parse().unwrap(),
            name: id.to_string(),
            role: *role,
            purposes: purposes.iter().map(|p| p.to_string()).collect(),
            status: PartnerStatus::Active,
            certificates: vec![],
            fingerprints: vec![],
            jwt_keys: vec![],
            audit_scope: vec![],
            logboek_url: None,
        })
        .collect();
    Registry::build(Path::new("partners.toml"), defs).unwrap()
}

/// One catalogue for all tests, so that descriptors (and so messages) compare equal.
pub(super) fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(|| Catalogue::load().unwrap())
}

pub(super) fn default_policy() -> Policy {
    Policy::load(Path::new("config/policy.toml"), catalogue()).unwrap()
}

/// The permit for `rule` of `policy`, sent to the endpoints `recipients`.
pub(super) fn permit(policy: &Policy, rule: &str, recipients: &[&str]) -> Permit {
    let registry = registry();
    let rule = policy
        .rules()
        .iter()
        .find(|r| r.name == rule)
        .unwrap_or_else(|| panic!("no rule {rule}"));
    let sender = registry
        .partners()
        .iter()
        .find(|p| p.role == rule.sender_role)
        .unwrap();
    let oins: Vec<Oin> = recipients
        .iter()
        .map(|id| registry.by_id(id).unwrap().oin.clone())
        .collect();
    policy
        .authorize(&registry, sender, &rule.signal, &rule.purpose, &oins)
        .unwrap()
}

/// A catalogue signal from its proto3 JSON form.
fn signal(name: &str, json: &str) -> DynamicMessage {
    let descriptor = catalogue().signal(name).unwrap().clone();
    let mut deserializer = serde_json::Deserializer::from_str(json);
    DynamicMessage::deserialize(descriptor, &mut deserializer).unwrap()
}

/// Each recipient's copy, decoded, with its paths.
fn filter(permit: &Permit, payload: &DynamicMessage) -> Vec<(DynamicMessage, FilteredCopy)> {
    filter_sent(permit, payload, &payload.encode_to_vec())
}

/// Each recipient's copy of `payload` as sent in `encoded`, decoded, with its paths.
fn filter_sent(
    permit: &Permit,
    payload: &DynamicMessage,
    encoded: &[u8],
) -> Vec<(DynamicMessage, FilteredCopy)> {
    apply(permit, payload, encoded)
        .unwrap()
        .into_iter()
        .map(|copy| {
            let decoded =
                DynamicMessage::decode(payload.descriptor(), copy.payload.as_slice()).unwrap();
            (decoded, copy)
        })
        .collect()
}

/// The proto3 JSON form of a message, for comparisons that print readably.
fn json(message: &DynamicMessage) -> serde_json::Value {
    serde_json::to_value(message).unwrap()
}

/// True when `message` or any message inside it holds unknown fields.
fn holds_unknown_fields(message: &DynamicMessage) -> bool {
    message.unknown_fields().next().is_some()
        || message.fields().any(|(_, value)| match value {
            Value::Message(m) => holds_unknown_fields(m),
            Value::List(items) => items
                .iter()
                .filter_map(Value::as_message)
                .any(holds_unknown_fields),
            _ => false,
        })
}

#[test]
fn unknown_fields_set_by_a_newer_client_never_pass() {
    let known = signal("Intake", INTAKE);
    let name_type = catalogue()
        .pool()
        .get_message_by_name("ketenpoort.v1.PersonName");
    let mut third = DynamicMessage::new(name_type.unwrap());
    third.set_field_by_name("surname", Value::String("Derde".into()));
    let mut name = third.encode_to_vec();
    encoding::string::encode(43, &"newer-client:name".to_string(), &mut name);
    // A second occurrence of `person` merges into the first: an unknown field inside the
    // person and a third name holding an unknown field of its own.
    let mut person = Vec::new();
    encoding::string::encode(42, &"newer-client:person".to_string(), &mut person);
    encoding::bytes::encode(3, &name, &mut person);
    let mut bytes = known.encode_to_vec();
    encoding::bytes::encode(1, &person, &mut bytes);
    encoding::string::encode(99, &"newer-client:intake".to_string(), &mut bytes);
    encoding::uint64::encode(100, &7, &mut bytes);
    let sent = DynamicMessage::decode(known.descriptor(), bytes.as_slice()).unwrap();
    assert_eq!(
        sent.unknown_fields().count(),
        2,
        "the test sends no unknown fields"
    );
    assert!(holds_unknown_fields(&sent));

    let mut expected = known;
    expected
        .get_field_by_name_mut("person")
        .and_then(Value::as_message_mut)
        .and_then(|person| person.get_field_by_name_mut("names"))
        .and_then(Value::as_list_mut)
        .unwrap()
        .push(Value::Message(third));

    let policy = default_policy();
    let permit = permit(
        &policy,
        "intake-by-municipality",
        &["case-direction", "guidance"],
    );
    for (copy, filtered) in filter_sent(&permit, &sent, &bytes) {
        assert!(!holds_unknown_fields(&copy), "{filtered:?}");
        assert!(
            !filtered
                .payload
                .windows(b"newer-client".len())
                .any(|w| w == b"newer-client"),
            "unknown field value in {filtered:?}"
        );
    }
    let (everything, _) = &filter_sent(&permit, &sent, &bytes)[0];
    assert_eq!(
        json(everything),
        json(&expected),
        "known fields must pass unchanged"
    );
}

#[test]
fn repeated_messages_are_filtered_per_element() {
    let policy = load_rules(
        r#"
[[rule]]
name = "scenario"
sender_role = "municipality"
signal = "GuidanceScenario"
purpose = "CASE_DIRECTION"
legal_instrument = "test"
[rule.receive.GUIDANCE]
fields = ["scenario", "agreements.agreement"]
[rule.receive.MONITORING]
fields = ["agreements.party_role"]

[[rule]]
name = "intake"
sender_role = "municipality"
signal = "Intake"
purpose = "INTAKE"
legal_instrument = "test"
[rule.receive.GUIDANCE]
fields = ["person.names.surname"]
"#,
    )
    .unwrap();
    let scenario = signal(
        "GuidanceScenario",
        r#"{
          "scenario": "GUIDANCE_SCENARIO_KIND_RETURN",
          "agreements": [
            {"partyRole": "PARTY_ROLE_DTV", "agreement": "vertrekgesprek plannen", "dueDate": "2026-12-01"},
            {"partyRole": "PARTY_ROLE_NGO", "dueDate": "2026-12-15"},
            {"agreement": "documenten verzamelen"}
          ],
          "nextReviewDate": "2027-02-01"
        }"#,
    );
    let copies = filter(
        &permit(&policy, "scenario", &["guidance", "monitoring"]),
        &scenario,
    );
    // An element of which nothing may pass is left out, not passed on empty.
    let guidance = signal(
        "GuidanceScenario",
        r#"{
          "scenario": "GUIDANCE_SCENARIO_KIND_RETURN",
          "agreements": [{"agreement": "vertrekgesprek plannen"}, {"agreement": "documenten verzamelen"}]
        }"#,
    );
    assert_eq!(json(&copies[0].0), json(&guidance));
    assert_eq!(copies[0].1.delivered, ["agreements.agreement", "scenario"]);
    assert_eq!(
        copies[0].1.withheld,
        [
            "agreements.due_date",
            "agreements.party_role",
            "next_review_date"
        ]
    );
    let monitoring = signal(
        "GuidanceScenario",
        r#"{"agreements": [{"partyRole": "PARTY_ROLE_DTV"}, {"partyRole": "PARTY_ROLE_NGO"}]}"#,
    );
    assert_eq!(json(&copies[1].0), json(&monitoring));
    assert_eq!(
        copies[1].1.withheld,
        [
            "agreements.agreement",
            "agreements.due_date",
            "next_review_date",
            "scenario"
        ]
    );

    let copies = filter(
        &permit(&policy, "intake", &["guidance"]),
        &signal("Intake", INTAKE),
    );
    let surnames = signal(
        "Intake",
        r#"{"person": {"names": [{"surname": "Persoon"}, {"surname": "Alias"}]}}"#,
    );
    assert_eq!(json(&copies[0].0), json(&surnames));
    assert_eq!(copies[0].1.delivered, ["person.names.surname"]);
    assert_eq!(
        copies[0].1.withheld,
        [
            "intake_date",
            "intake_location",
            "participation_agreed",
            "person.birth_date",
            "person.bsn",
            "person.names.given_names",
            "person.names.is_alias",
            "person.nationalities",
            "person.v_nummer"
        ]
    );
}

#[test]
fn allowed_fields_left_empty_stay_empty() {
    let policy = default_policy();
    let permit = permit(
        &policy,
        "intake-by-municipality",
        &["case-direction", "guidance"],
    );
    // Defaults (empty strings, false, no list elements) are not set in proto3: nothing to pass.
    let sparse = signal(
        "Intake",
        r#"{
          "person": {"vNummer": "1234567890", "names": [{"surname": "Persoon", "givenNames": ""}], "nationalities": []},
          "intakeDate": "2026-11-20",
          "intakeLocation": "",
          "participationAgreed": false
        }"#,
    );
    let copies = filter(&permit, &sparse);
    let (copy, paths) = &copies[0];
    assert_eq!(json(copy), json(&sparse));
    assert_eq!(
        paths.delivered,
        ["intake_date", "person.names.surname", "person.v_nummer"]
    );
    assert!(paths.withheld.is_empty(), "{paths:?}");
    assert!(!copy.has_field_by_name("intake_location"));

    // A field with presence (proto3 `optional`) set to its default stays set and empty where
    // it is allowed, and counts as withheld where it is not.
    let empty_bsn = signal(
        "Intake",
        r#"{"person": {"bsn": "", "birthDate": "1990-01-01"}}"#,
    );
    let copies = filter(&permit, &empty_bsn);
    let person = copies[0].0.get_field_by_name("person").unwrap();
    let person = person.as_message().unwrap();
    assert!(person.has_field_by_name("bsn"));
    assert_eq!(person.get_field_by_name("bsn").unwrap().as_str(), Some(""));
    assert_eq!(copies[1].1.withheld, ["person.bsn"]);
    assert_eq!(copies[1].1.delivered, ["person.birth_date"]);

    // A nested message sent empty is not passed on as an empty message.
    let empty_person = signal("Intake", r#"{"person": {}, "intakeDate": "2026-11-20"}"#);
    assert!(empty_person.has_field_by_name("person"));
    for (copy, paths) in filter(&permit, &empty_person) {
        assert!(!copy.has_field_by_name("person"), "{paths:?}");
        assert_eq!(paths.delivered, ["intake_date"]);
        assert!(paths.withheld.is_empty(), "{paths:?}");
    }
}

#[test]
fn a_health_diagnosis_reaches_only_care_coordination() {
    let policy = default_policy();
    let care = signal(
        "CareSignal",
        r#"{
          "careCategory": "CARE_CATEGORY_MENTAL",
          "urgency": "CARE_URGENCY_URGENT",
          "fitToTravelConcern": true,
          "medicalObstacleRequested": true,
          "diagnosisDetails": "diagnose en behandeling"
        }"#,
    );
    let recipients = ["care-coordination", "case-direction", "return", "residence"];
    for rule in ["care-signal-by-municipality", "care-signal-by-ngo"] {
        let permit = permit(&policy, rule, &recipients);
        for (grant, (copy, paths)) in permit.grants().iter().zip(filter(&permit, &care)) {
            let delivered = copy.has_field_by_name("diagnosis_details");
            let care_coordination = grant.purposes == ["CARE_COORDINATION"];
            assert_eq!(delivered, care_coordination, "{rule}: {:?}", grant.purposes);
            assert_eq!(
                paths.withheld.contains(&"diagnosis_details".to_string()),
                !care_coordination,
                "{rule}: {:?}",
                grant.purposes
            );
        }
        // Purposes without a health basis are not eligible at all.
        let registry = registry();
        let sender = registry.by_id("municipality").unwrap();
        let guidance = registry.by_id("guidance").unwrap().oin.clone();
        let rule = policy.rules().iter().find(|r| r.name == rule).unwrap();
        assert!(
            policy
                .authorize(&registry, sender, "CareSignal", &rule.purpose, &[guidance])
                .is_err()
        );
    }
}

#[test]
fn a_biometric_field_never_passes_even_under_a_wildcard() {
    let policy = load_rules(
        r#"
[[rule]]
name = "departure-status-everything"
sender_role = "dtv"
signal = "DepartureProcedureStatus"
purpose = "RETURN"
legal_instrument = "test"
[rule.receive.GUIDANCE]
fields = ["*"]
[rule.receive.MONITORING]
fields = ["procedure_stage"]
"#,
    )
    .unwrap();
    let status = signal(
        "DepartureProcedureStatus",
        r#"{
          "procedureStage": "DEPARTURE_PROCEDURE_STAGE_DOCUMENTATION",
          "travelDocumentAvailable": true,
          "travelDocumentScan": "U0NBTi1PRi1GQUNF",
          "laissezPasserStatus": "LAISSEZ_PASSER_STATUS_REQUESTED",
          "iomSupport": true
        }"#,
    );
    let scan = b"SCAN-OF-FACE";
    let copies = filter(
        &permit(
            &policy,
            "departure-status-everything",
            &["guidance", "guidance-and-monitoring"],
        ),
        &status,
    );
    for (copy, paths) in &copies {
        assert!(!copy.has_field_by_name("travel_document_scan"));
        assert!(!paths.payload.windows(scan.len()).any(|w| w == scan));
        assert_eq!(paths.withheld, ["travel_document_scan"]);
        assert_eq!(
            paths.delivered,
            [
                "iom_support",
                "laissez_passer_status",
                "procedure_stage",
                "travel_document_available"
            ]
        );
    }
    // Nor under the default policy, to anyone.
    let policy = default_policy();
    let everyone = ["case-direction", "residence", "supervision", "guidance"];
    for (copy, paths) in filter(
        &permit(&policy, "departure-status-by-dtv", &everyone),
        &status,
    ) {
        assert!(!copy.has_field_by_name("travel_document_scan"));
        assert!(paths.withheld.contains(&"travel_document_scan".to_string()));
    }
}

#[test]
fn a_recipient_with_several_purposes_sees_their_union() {
    let policy = default_policy();
    let review = signal(
        "QuarterlyReviewOutcome",
        r#"{
          "progress": "REVIEW_PROGRESS_DELAYED",
          "stuck": true,
          "stuckReason": "STUCK_REASON_MEDICAL",
          "escalationLevel": "ESCALATION_LEVEL_STEERING_GROUP",
          "nextReviewDate": "2027-02-01"
        }"#,
    );
    let permit = permit(
        &policy,
        "quarterly-review-by-municipality",
        &["guidance", "monitoring", "guidance-and-monitoring"],
    );
    assert_eq!(permit.grants()[2].purposes, ["GUIDANCE", "MONITORING"]);
    let copies = filter(&permit, &review);
    assert_eq!(
        copies[0].1.delivered,
        ["escalation_level", "next_review_date", "progress"]
    );
    assert_eq!(copies[1].1.delivered, ["escalation_level", "stuck"]);
    assert_eq!(
        copies[2].1.delivered,
        ["escalation_level", "next_review_date", "progress", "stuck"]
    );
    assert_eq!(copies[2].1.withheld, ["stuck_reason"]);
}

#[test]
fn a_permit_for_one_signal_type_cannot_filter_another() {
    let policy = default_policy();
    let permit = permit(
        &policy,
        "care-signal-by-municipality",
        &["care-coordination"],
    );
    let other = signal("SafetySignal", "{}");
    let refused = apply(&permit, &other, &[]).unwrap_err();
    assert_eq!(
        refused,
        FilterError::WrongSignal {
            permitted: "CareSignal".into(),
            given: "SafetySignal".into()
        }
    );
}
