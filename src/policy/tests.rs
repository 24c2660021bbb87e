//! Start-up checks of the policy: the default loads, and every refusal names the file, the
//! rule and the field, so an operator knows what to fix before the gateway opens a socket.

use std::path::{Path, PathBuf};

use super::*;
use crate::{catalogue::Catalogue, registry};

const DEFAULT: &str = "config/policy.toml";

/// The default policy's purposes, so that test rules use the real legal bases.
fn purposes() -> String {
    let text = std::fs::read_to_string(DEFAULT).unwrap();
    let (purposes, _) = text.split_once("\n[[rule]]\n").unwrap();
    purposes.to_string()
}

/// Writes the default purposes and `rules` to `dir/policy.toml`.
fn write_policy(dir: &Path, rules: &str) -> PathBuf {
    let path = dir.join("policy.toml");
    std::fs::write(&path, format!("{}\n{rules}", purposes())).unwrap();
    path
}

/// Loads a policy of the default purposes and `rules`.
pub(crate) fn load_rules(rules: &str) -> Result<Policy, PolicyError> {
    let dir = tempfile::tempdir().unwrap();
    Policy::load(
        &write_policy(dir.path(), rules),
        &Catalogue::load().unwrap(),
    )
}

/// Loads `rules`, which must be refused; returns the file and the message.
fn refused(rules: &str) -> (PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_policy(dir.path(), rules);
    match Policy::load(&path, &Catalogue::load().unwrap()) {
        Ok(_) => panic!("policy was accepted:\n{rules}"),
        Err(e) => (path, e.to_string()),
    }
}

/// Asserts that `message` names the file and every one of `names` (rule, field, ...).
fn assert_names(message: &str, path: &Path, names: &[&str]) {
    assert!(
        message.contains(&path.display().to_string()),
        "file not named: {message}"
    );
    for name in names {
        assert!(message.contains(name), "{name:?} not named: {message}");
    }
}

#[test]
fn the_default_policy_loads_and_covers_every_signal_and_registered_purpose() {
    let catalogue = Catalogue::load().unwrap();
    let policy = Policy::load(Path::new(DEFAULT), &catalogue).unwrap();
    let text = std::fs::read_to_string(DEFAULT).unwrap();
    assert_eq!(policy.rules().len(), text.matches("\n[[rule]]\n").count());
    for signal in catalogue.signal_names() {
        assert!(
            policy.rules().iter().any(|r| r.signal == signal),
            "no rule for {signal}"
        );
    }
    let mut defs = registry::load_definitions(Path::new("config/partners.toml")).unwrap();
    for def in &mut defs {
        def.certificates.clear();
        def.jwt_keys.clear();
    }
    let partners = Registry::build(Path::new("config/partners.toml"), defs).unwrap();
    policy
        .check_registry(Path::new(DEFAULT), &partners)
        .unwrap();
}

#[test]
fn the_version_follows_the_content() {
    let catalogue = Catalogue::load().unwrap();
    let default = Policy::load(Path::new(DEFAULT), &catalogue).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.toml");
    let text = std::fs::read_to_string(DEFAULT).unwrap();
    std::fs::write(&copy, &text).unwrap();
    let same = Policy::load(&copy, &catalogue).unwrap();
    assert_eq!(
        same.version(),
        default.version(),
        "same content, same version"
    );
    assert!(
        default.version().starts_with("sha256:"),
        "{}",
        default.version()
    );
    std::fs::write(&copy, format!("{text}\n# reviewed by the FG\n")).unwrap();
    let changed = Policy::load(&copy, &catalogue).unwrap();
    assert_ne!(changed.version(), default.version());
}

#[test]
fn an_unknown_field_path_is_refused() {
    let (path, message) = refused(
        r#"
[[rule]]
name = "intake-typo"
sender_role = "municipality"
signal = "Intake"
purpose = "INTAKE"
legal_instrument = "test"
[rule.receive.RETURN]
fields = ["intake_date", "person.nickname"]
"#,
    );
    assert_names(
        &message,
        &path,
        &["rule intake-typo", "RETURN", "person.nickname"],
    );
    assert!(
        message.contains("does not exist in ketenpoort.v1.Person"),
        "{message}"
    );
}

#[test]
fn a_biometric_field_named_explicitly_is_refused() {
    let (path, message) = refused(
        r#"
[[rule]]
name = "scan-to-case-direction"
sender_role = "dtv"
signal = "DepartureProcedureStatus"
purpose = "RETURN"
legal_instrument = "test"
[rule.receive.CASE_DIRECTION]
fields = ["procedure_stage", "travel_document_scan"]
"#,
    );
    assert_names(
        &message,
        &path,
        &[
            "rule scan-to-case-direction",
            "travel_document_scan",
            "is biometric",
        ],
    );
}

#[test]
fn a_special_category_field_beyond_the_purposes_legal_basis_is_refused() {
    let (path, message) = refused(
        r#"
[[rule]]
name = "diagnosis-to-ngo"
sender_role = "municipality"
signal = "CareSignal"
purpose = "CARE"
legal_instrument = "test"
[rule.receive.GUIDANCE]
fields = ["diagnosis_details"]
"#,
    );
    assert_names(
        &message,
        &path,
        &[
            "rule diagnosis-to-ngo",
            "receiving purpose GUIDANCE",
            "field diagnosis_details",
            "releases health data",
        ],
    );
    // A wildcard does not hide what it releases.
    let (path, message) = refused(
        r#"
[[rule]]
name = "everything-to-ngo"
sender_role = "municipality"
signal = "CareSignal"
purpose = "CARE"
legal_instrument = "test"
[rule.receive.GUIDANCE]
fields = ["*"]
"#,
    );
    assert_names(
        &message,
        &path,
        &["rule everything-to-ngo", "field *", "releases health data"],
    );
}

#[test]
fn an_unknown_signal_type_is_refused() {
    let (path, message) = refused(
        r#"
[[rule]]
name = "intake-misspelt"
sender_role = "municipality"
signal = "Intak"
purpose = "INTAKE"
legal_instrument = "test"
[rule.receive.RETURN]
fields = ["intake_date"]
"#,
    );
    assert_names(
        &message,
        &path,
        &[
            "rule intake-misspelt",
            "unknown signal type Intak",
            "Intake",
        ],
    );
}

#[test]
fn an_unknown_sender_role_is_refused_by_the_parser() {
    let (path, message) = refused(
        r#"
[[rule]]
name = "intake-by-mayor"
sender_role = "mayor"
signal = "Intake"
purpose = "INTAKE"
legal_instrument = "test"
[rule.receive.RETURN]
fields = ["intake_date"]
"#,
    );
    // A serde error names the file, the line and the key, not the rule: the rule's name is on
    // another line of the same table.
    assert_names(
        &message,
        &path,
        &["sender_role", "mayor", "unknown variant"],
    );
}

#[test]
fn overlapping_rules_are_refused() {
    let rule = |name: &str| {
        format!(
            r#"
[[rule]]
name = "{name}"
sender_role = "municipality"
signal = "Intake"
purpose = "INTAKE"
legal_instrument = "test"
[rule.receive.RETURN]
fields = ["intake_date"]
"#
        )
    };
    let (path, message) = refused(&format!("{}{}", rule("intake-a"), rule("intake-b")));
    assert_names(
        &message,
        &path,
        &["rules intake-a and intake-b both cover a municipality sending Intake for INTAKE"],
    );
}

#[test]
fn a_police_rule_releasing_criminal_data_needs_a_provision_decision() {
    let rule = |provision: &str| {
        format!(
            r#"
[[rule]]
name = "safety-by-police"
sender_role = "police"
signal = "SafetySignal"
purpose = "PUBLIC_ORDER"
legal_instrument = "test"
{provision}
[rule.receive.PUBLIC_ORDER]
fields = ["facts_description"]
"#
        )
    };
    let (path, message) = refused(&rule(""));
    assert_names(
        &message,
        &path,
        &["rule safety-by-police", "without provision_decision"],
    );
    load_rules(&rule(r#"provision_decision = "Wpg art. 20 (test)""#)).unwrap();
    // Only police data needs one: the same fields from a municipality do not.
    load_rules(&rule("").replace(r#""police""#, r#""municipality""#)).unwrap();
}

#[test]
fn an_undefined_receiving_purpose_is_refused() {
    let (path, message) = refused(
        r#"
[[rule]]
name = "intake-to-welfare"
sender_role = "municipality"
signal = "Intake"
purpose = "INTAKE"
legal_instrument = "test"
[rule.receive.WELFARE]
fields = ["intake_date"]
"#,
    );
    assert_names(
        &message,
        &path,
        &[
            "rule intake-to-welfare",
            "receiving purpose WELFARE is not defined",
        ],
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let (path, message) = refused(
        r#"
[[rule]]
name = "first"
sender_role = "municipality"
signal = "Intake"
purpose = "INTAKE"
legal_instrument = "test"
[rule.receive.RETURN]
fields = ["person.nickname"]

[[rule]]
name = "second"
sender_role = "dtv"
signal = "DepartureProcedureStatus"
purpose = "RETURN"
legal_instrument = "test"
[rule.receive.WELFARE]
fields = ["procedure_stage"]
"#,
    );
    assert_names(&message, &path, &["rule first", "rule second"]);
}
