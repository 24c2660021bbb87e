//! Deny by default and bad input: each refusal has the right status and a message that says
//! what to fix, leaves nothing behind but its audit record, and never echoes payload values.

use ketenpoort::{api::proto::SendRequest, store::Table};
use prost_types::Any;
use tonic::Code;

use crate::support::{Harness, INTAKE};

#[tokio::test]
async fn exchanges_without_a_rule_are_permission_denied_with_the_failing_part() {
    let h = Harness::start().await;
    let mut ngo = h.client("ngo-begeleiding").await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    let cases = [
        (
            ngo.send(h.request(
                "a",
                "CASE_DIRECTION",
                &["dtv"],
                "CaseClosure",
                r#"{"closureDate":"2026-11-01"}"#,
            ))
            .await,
            "no policy rule lets a ngo send CaseClosure for purpose CASE_DIRECTION",
        ),
        (
            utrecht
                .send(h.request("b", "RETURN", &["dtv"], "Intake", INTAKE))
                .await,
            "no policy rule lets a municipality send Intake for purpose RETURN",
        ),
        (
            utrecht
                .send(h.request(
                    "c",
                    "INTAKE",
                    &["dtv", "programma-monitor"],
                    "Intake",
                    INTAKE,
                ))
                .await,
            "is not registered for any receiving purpose of rule intake-by-municipality",
        ),
        (
            utrecht
                .send(SendRequest {
                    recipients: vec!["00000099999999990000".into()],
                    ..h.request("d", "INTAKE", &["dtv"], "Intake", INTAKE)
                })
                .await,
            "recipient 00000099999999990000 is not a registered partner",
        ),
    ];
    for (result, expected) in cases {
        let status = result.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
        assert!(status.message().contains(expected), "{}", status.message());
    }
    assert_eq!(h.store().count(Table::Signals).await.unwrap(), 0);
    assert_eq!(h.store().count(Table::Deliveries).await.unwrap(), 0);
    // One record per refusal, after the one that seeded the registry.
    assert_eq!(h.store().count(Table::AuditLog).await.unwrap(), 1 + 4);
}

#[tokio::test]
async fn malformed_envelopes_are_invalid_argument_and_say_what_to_fix() {
    let h = Harness::start().await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    let good = || h.request("key", "INTAKE", &["dtv"], "Intake", INTAKE);
    let payload_of = |signal: &str, json: &str| {
        let request = h.request("key", "INTAKE", &["dtv"], signal, json);
        request.payload.unwrap().value
    };
    let with_payload = |type_url: &str, value: Vec<u8>| SendRequest {
        payload: Some(Any {
            type_url: type_url.into(),
            value,
        }),
        ..good()
    };
    let cases: Vec<(SendRequest, &str)> = vec![
        (
            SendRequest {
                idempotency_key: String::new(),
                ..good()
            },
            "idempotency_key is empty",
        ),
        (
            SendRequest {
                case_ref: String::new(),
                ..good()
            },
            "case_ref is empty",
        ),
        (
            SendRequest {
                case_ref: "Amina Test 1990".into(),
                ..good()
            },
            "case_ref must be",
        ),
        (
            SendRequest {
                purpose: String::new(),
                ..good()
            },
            "purpose is empty",
        ),
        (
            SendRequest {
                recipients: vec![],
                ..good()
            },
            "recipients is empty",
        ),
        (
            SendRequest {
                recipients: vec!["123".into()],
                ..good()
            },
            "recipients[0]: an OIN is exactly 20 digits",
        ),
        (
            SendRequest {
                recipients: vec![h.oin("gemeente-utrecht")],
                ..good()
            },
            "recipients[0] is your own OIN",
        ),
        (
            SendRequest {
                recipients: vec![h.oin("dtv"), h.oin("dtv")],
                ..good()
            },
            "recipients[1] repeats",
        ),
        (
            SendRequest {
                payload: None,
                ..good()
            },
            "payload is missing",
        ),
        (
            with_payload("type.googleapis.com/ketenpoort.v1.Person", vec![]),
            "payload type URL names no catalogue signal",
        ),
        (
            with_payload("type.googleapis.com/acme.Unknown", vec![]),
            "names no catalogue signal; use type.googleapis.com/ketenpoort.v1.<signal>, one of",
        ),
        (
            with_payload(
                "type.googleapis.com/ketenpoort.v1.Intake",
                vec![0x0a, 0xff, 0x01],
            ),
            "payload does not decode as ketenpoort.v1.Intake",
        ),
        (
            with_payload(
                "type.googleapis.com/ketenpoort.v1.Intake",
                payload_of("Intake", &INTAKE.replace("1990-01-01", "1990-02-30")),
            ),
            "payload field person.birth_date must be a date as YYYY-MM-DD",
        ),
        (
            // A safety signal's facts, packed under the Intake's type URL: its free text
            // would land in the intake date.
            with_payload(
                "type.googleapis.com/ketenpoort.v1.Intake",
                payload_of(
                    "SafetySignal",
                    r#"{"factsDescription": "feiten in vrije tekst"}"#,
                ),
            ),
            "payload field intake_date must be a date that exists",
        ),
        (
            with_payload(
                "type.googleapis.com/ketenpoort.v1.Intake",
                vec![0u8; 1_100_000],
            ),
            "the gateway accepts at most 1048576 bytes",
        ),
    ];
    let refused = cases.len() as i64;
    for (request, expected) in cases {
        let status = utrecht.send(request).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{expected}: {status:?}"
        );
        assert!(
            status.message().contains(expected),
            "{expected}: {}",
            status.message()
        );
        assert!(
            !status.message().contains("Amina"),
            "value echoed: {}",
            status.message()
        );
    }
    assert_eq!(h.store().count(Table::Signals).await.unwrap(), 0);
    assert_eq!(h.store().count(Table::Deliveries).await.unwrap(), 0);
    assert_eq!(h.store().count(Table::AuditLog).await.unwrap(), 1 + refused);
    // The gateway still accepts good signals afterwards.
    utrecht.send(good()).await.unwrap();
}

#[tokio::test]
async fn caller_strings_are_checked_before_they_are_stored_logged_or_echoed() {
    let h = Harness::start().await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    let good = || h.request("key", "INTAKE", &["dtv"], "Intake", INTAKE);
    // What a careless integration might put in a code field: a V-nummer, or half a megabyte.
    let marker = "VNR1234567890";
    let typed = |type_url: String| SendRequest {
        payload: Some(Any {
            type_url,
            value: vec![],
        }),
        ..good()
    };
    let cases: Vec<(SendRequest, &str)> = vec![
        (
            SendRequest {
                purpose: format!("{marker}{}", "X".repeat(500_000)),
                ..good()
            },
            "purpose must be a purpose code",
        ),
        (
            SendRequest {
                purpose: format!("INTAKE {marker}"),
                ..good()
            },
            "purpose must be a purpose code",
        ),
        (
            SendRequest {
                idempotency_key: format!("{marker}\0"),
                ..good()
            },
            "idempotency_key holds control characters",
        ),
        (
            typed(format!(
                "type.googleapis.com/ketenpoort.v1.Intake\0{marker}"
            )),
            "payload type URL must be",
        ),
        (
            typed(format!("type.googleapis.com/{marker}{}", "x".repeat(300))),
            "payload type URL must be",
        ),
    ];
    let refused = cases.len();
    for (request, expected) in cases {
        let status = utrecht.send(request).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{expected}: {status:?}"
        );
        assert!(status.message().contains(expected), "{}", status.message());
        assert!(
            !status.message().contains(marker),
            "value echoed: {}",
            status.message()
        );
    }
    // Each refusal is recorded, without the caller's strings.
    let records = h
        .store()
        .audit_records(&ketenpoort::store::AuditFilter {
            event: Some("signal_refused".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(records.len(), refused);
    let text = format!("{records:?}");
    assert!(!text.contains(marker) && !text.contains('\0'), "{text}");
}
