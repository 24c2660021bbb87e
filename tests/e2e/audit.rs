//! The privacy audit log end to end: officers need certificate, token and role; queries and
//! reports return exactly the expected records within the officer's scope; tampering with any
//! single record is found and named; exports verify offline; reads are logged; and neither the
//! log nor the gateway's own log lines hold payload values or clear case references.

use std::collections::BTreeMap;

use ketenpoort::{
    api::proto::{
        ExportFormat, ExportRequest, QueryRequest, SubjectReportRequest, VerifyRequest,
        audit_service_client::AuditServiceClient,
    },
    audit::export::verify_export,
};
use sqlx::{Connection, Row, SqliteConnection};
use tokio_stream::StreamExt;
use tonic::{Code, transport::Channel};

use crate::support::{
    Harness, INTAKE, ack_request, capture_logs, next_delivery, receipt_bytes, subscribe,
};

const WAIT: std::time::Duration = std::time::Duration::from_secs(5);

async fn auditor(h: &Harness, id: &str) -> AuditServiceClient<Channel> {
    AuditServiceClient::new(h.channel(id).await)
}

/// Utrecht sends case LVV-TEST-0001 to DT&V and the NGO; Amsterdam sends LVV-TEST-0002 to
/// DT&V; DT&V fetches and acknowledges both.
async fn exchanges(h: &Harness) {
    let mut utrecht = h.client("gemeente-utrecht").await;
    h.send_intake(&mut utrecht, "a", &["dtv", "ngo-begeleiding"])
        .await;
    let mut amsterdam = h.client("gemeente-amsterdam").await;
    let mut other = h.request(
        "b",
        "INTAKE",
        &["dtv"],
        "Intake",
        &INTAKE.replace("1234567890", "2234567890"),
    );
    other.case_ref = "LVV-TEST-0002".into();
    amsterdam.send(other).await.unwrap();
    let mut dtv = h.client("dtv").await;
    let mut stream = subscribe(&mut dtv).await;
    for _ in 0..2 {
        let delivery = next_delivery(&mut stream, WAIT).await.unwrap();
        dtv.ack(ack_request(delivery.delivery_id)).await.unwrap();
    }
}

fn events(records: &[ketenpoort::api::proto::AuditRecord]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in records {
        *counts.entry(r.event.clone()).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn officers_need_a_token_and_the_privacy_officer_role_and_refusals_are_logged() {
    let h = Harness::start().await;
    let mut fg = auditor(&h, "programma-fg").await;
    let status = fg.query(QueryRequest::default()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(
        status.message().contains("authorization: Bearer"),
        "{}",
        status.message()
    );

    let forged = h.with_token("beheer", "fg@programma.example", QueryRequest::default());
    let status = fg.query(forged).await.unwrap_err();
    assert_eq!(
        status.code(),
        Code::Unauthenticated,
        "a token signed with another partner's key"
    );

    let mut operator = auditor(&h, "beheer").await;
    let status = operator
        .query(h.with_token("beheer", "ops@beheer.example", QueryRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    let refused = fg
        .query(h.with_token(
            "programma-fg",
            "fg@programma.example",
            QueryRequest {
                event: "audit_refused".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert!(refused.iter().all(|r| r.outcome == "refused"));
}

#[tokio::test]
async fn query_and_subject_report_return_exactly_the_records_in_the_officers_scope() {
    let h = Harness::start().await;
    exchanges(&h).await;
    let mut fg = auditor(&h, "programma-fg").await;
    let by_case = |case: &str| {
        h.with_token(
            "programma-fg",
            "fg@programma.example",
            QueryRequest {
                case_ref: case.into(),
                ..Default::default()
            },
        )
    };
    let case_a = fg
        .query(by_case("LVV-TEST-0001"))
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(
        events(&case_a),
        BTreeMap::from([
            ("delivery_acknowledged".to_string(), 1),
            ("delivery_created".to_string(), 2),
            ("delivery_streamed".to_string(), 1),
            ("signal_accepted".to_string(), 1),
        ])
    );
    let ngo_copy = case_a
        .iter()
        .find(|r| r.event == "delivery_created" && r.counterparty_oin == h.oin("ngo-begeleiding"))
        .unwrap();
    assert_eq!(ngo_copy.purpose, "GUIDANCE");
    assert!(
        ngo_copy
            .detail_json
            .contains("\"withheld\":[\"person.bsn\",\"person.nationalities\",\"person.v_nummer\"]"),
        "{}",
        ngo_copy.detail_json
    );
    assert!(
        case_a
            .iter()
            .all(|r| r.trace_id.len() == 32 && r.subject_type == "v_nummer")
    );
    // The lookup itself is now in the log, about the same case, naming the officer.
    let again = fg
        .query(by_case("LVV-TEST-0001"))
        .await
        .unwrap()
        .into_inner()
        .records;
    let reads: Vec<_> = again.iter().filter(|r| r.event == "audit_read").collect();
    assert_eq!(reads.len(), 1, "{again:?}");
    assert_eq!(reads[0].actor_person, "fg@programma.example");
    assert_eq!(reads[0].actor_oin, h.oin("programma-fg"));

    // Utrecht's officer sees Utrecht's exchanges, not Amsterdam's.
    let mut utrecht_fg = auditor(&h, "gemeente-utrecht-fg").await;
    let all = utrecht_fg
        .query(h.with_token(
            "gemeente-utrecht-fg",
            "fg@utrecht.example",
            QueryRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner()
        .records;
    let utrecht = [
        h.oin("gemeente-utrecht"),
        h.oin("gemeente-utrecht-oov"),
        h.oin("gemeente-utrecht-zorg"),
    ];
    assert!(!all.is_empty());
    assert!(
        all.iter()
            .all(|r| utrecht.contains(&r.actor_oin) || utrecht.contains(&r.counterparty_oin)),
        "{all:?}"
    );
    let case_b = utrecht_fg
        .query(h.with_token(
            "gemeente-utrecht-fg",
            "fg@utrecht.example",
            QueryRequest {
                case_ref: "LVV-TEST-0002".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .records;
    assert!(
        case_b.is_empty(),
        "Amsterdam's case leaked to Utrecht's officer: {case_b:?}"
    );

    // A subject report by V-nummer: a readable timeline of who got which fields.
    let report = fg
        .subject_report(h.with_token(
            "programma-fg",
            "fg@programma.example",
            SubjectReportRequest {
                v_nummer: "1234567890".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .entries;
    let given: Vec<&str> = report
        .iter()
        .filter(|e| e.event == "delivery_created")
        .map(|e| e.counterparty_name.as_str())
        .collect();
    assert_eq!(
        given,
        [
            "Dienst Terugkeer en Vertrek",
            "Stichting LVV Begeleiding (test)"
        ]
    );
    let ngo = report
        .iter()
        .find(|e| e.counterparty_name.starts_with("Stichting"))
        .unwrap();
    assert!(
        ngo.summary
            .contains("withheld: person.bsn, person.nationalities, person.v_nummer"),
        "{}",
        ngo.summary
    );
    assert!(
        ngo.fields_received
            .contains(&"person.names.surname".to_string())
    );
}

#[tokio::test]
async fn receipts_are_signed_by_the_gateway() {
    let h = Harness::start().await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    let receipt = h.send_intake(&mut utrecht, "signed", &["dtv"]).await;
    let key = h.store().signature_key();
    assert_eq!(receipt.signing_key_id, key.key_id());
    let message = receipt_bytes(&receipt, 0);
    assert!(key.verify(&message, &receipt.signature));
    let forged = receipt_bytes(&receipt, 1);
    assert!(!key.verify(&forged, &receipt.signature));
}

async fn verify(h: &Harness) -> ketenpoort::api::proto::VerifyResponse {
    let mut fg = auditor(h, "programma-fg").await;
    fg.verify(h.with_token("programma-fg", "fg@programma.example", VerifyRequest {}))
        .await
        .unwrap()
        .into_inner()
}

/// Runs `tamper` on the database of a gateway with some history and returns Verify's answer.
async fn tampered(sql: &[&'static str]) -> ketenpoort::api::proto::VerifyResponse {
    let h = Harness::start().await;
    exchanges(&h).await;
    let intact = verify(&h).await;
    assert!(intact.intact, "{intact:?}");
    assert!(intact.checkpoints_checked >= 2, "{intact:?}");
    let mut db = SqliteConnection::connect(&format!("sqlite://{}", h.database().display()))
        .await
        .unwrap();
    for statement in sql {
        sqlx::query(*statement).execute(&mut db).await.unwrap();
    }
    db.close().await.unwrap();
    verify(&h).await
}

#[tokio::test]
async fn changing_deleting_or_reordering_one_record_is_found_and_named() {
    let changed =
        tampered(&["UPDATE audit_log SET purpose = 'CARE_COORDINATION' WHERE seq = 3"]).await;
    assert!(!changed.intact);
    assert_eq!(changed.first_problem_seq, 3, "{changed:?}");
    assert!(
        changed.first_problem.contains("record 3"),
        "{}",
        changed.first_problem
    );

    let deleted = tampered(&["DELETE FROM audit_log WHERE seq = 5"]).await;
    assert!(!deleted.intact);
    assert_eq!(deleted.first_problem_seq, 5, "{deleted:?}");
    assert!(
        deleted.first_problem.contains("record 5 is missing"),
        "{}",
        deleted.first_problem
    );

    let reordered = tampered(&[
        "UPDATE audit_log SET seq = -1 WHERE seq = 6",
        "UPDATE audit_log SET seq = 6 WHERE seq = 7",
        "UPDATE audit_log SET seq = 7 WHERE seq = -1",
    ])
    .await;
    assert!(!reordered.intact);
    assert_eq!(reordered.first_problem_seq, 6, "{reordered:?}");

    let truncated = tampered(&["DELETE FROM audit_log WHERE seq > 4"]).await;
    assert!(
        !truncated.intact,
        "removing the tail must be caught by a later checkpoint"
    );
}

#[tokio::test]
async fn an_export_verifies_offline_with_the_public_key_alone() {
    let h = Harness::start().await;
    exchanges(&h).await;
    let mut fg = auditor(&h, "programma-fg").await;
    let export = |format: ExportFormat| {
        h.with_token(
            "programma-fg",
            "fg@programma.example",
            ExportRequest {
                format: format as i32,
                ..Default::default()
            },
        )
    };
    let mut stream = fg
        .export(export(ExportFormat::JsonLines))
        .await
        .unwrap()
        .into_inner();
    let mut text = String::new();
    while let Some(line) = stream.next().await {
        text.push_str(&line.unwrap().line);
        text.push('\n');
    }
    let key = ketenpoort::audit::keys::SignatureKey::from_pem(&h.store().signature_key().to_pem())
        .unwrap();
    let result = verify_export(&text, &key).unwrap();
    assert!(result.first_problem.is_none(), "{result:?}");
    assert!(result.records >= 9 && result.checkpoints >= 2, "{result:?}");

    let tampered = text.replacen("\"purpose\":\"GUIDANCE\"", "\"purpose\":\"RETURN\"", 1);
    assert_ne!(tampered, text);
    let broken = verify_export(&tampered, &key).unwrap();
    let (seq, problem) = broken.first_problem.unwrap();
    assert!(problem.contains(&format!("record {seq}")), "{problem}");

    let mut ldv = fg
        .export(export(ExportFormat::Ldv))
        .await
        .unwrap()
        .into_inner();
    let seeded: serde_json::Value =
        serde_json::from_str(&ldv.next().await.unwrap().unwrap().line).unwrap();
    assert_eq!(seeded["name"], "registry_changed");
    let first: serde_json::Value =
        serde_json::from_str(&ldv.next().await.unwrap().unwrap().line).unwrap();
    assert_eq!(
        first["attributes"]["dpl.core.processing_activity_id"],
        "INTAKE"
    );
    assert_eq!(
        first["attributes"]["dpl.core.data_subject_id_type"],
        "v_nummer"
    );
    assert_eq!(first["trace_id"].as_str().unwrap().len(), 32);
}

#[tokio::test]
async fn neither_the_audit_log_nor_the_log_lines_hold_payload_values_or_case_refs() {
    let logs = capture_logs();
    let h = Harness::start().await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    let unique = INTAKE
        .replace("Testa", "Zyxwvutsa")
        .replace("Persoon", "Qwertyperson")
        .replace("1234567890", "9876543210")
        .replace("123456782", "111222333");
    let mut request = h.request(
        "leak",
        "INTAKE",
        &["dtv", "ngo-begeleiding"],
        "Intake",
        &unique,
    );
    request.case_ref = "LVV-LEAKCHECK-77".into();
    utrecht.send(request.clone()).await.unwrap();
    request.purpose = "RETURN".into();
    request.idempotency_key = "leak-refused".into();
    utrecht.send(request).await.unwrap_err();
    let mut dtv = h.client("dtv").await;
    let mut stream = subscribe(&mut dtv).await;
    let delivery = next_delivery(&mut stream, WAIT).await.unwrap();
    dtv.ack(ack_request(delivery.delivery_id)).await.unwrap();
    let mut fg = auditor(&h, "programma-fg").await;
    let query = QueryRequest {
        case_ref: "LVV-LEAKCHECK-77".into(),
        ..Default::default()
    };
    let found = fg
        .query(h.with_token("programma-fg", "fg@programma.example", query))
        .await
        .unwrap()
        .into_inner()
        .records;
    assert!(
        found.len() >= 5,
        "the case must be findable by its hash: {found:?}"
    );

    let secrets = [
        "Zyxwvutsa",
        "Qwertyperson",
        "9876543210",
        "111222333",
        "LVV-LEAKCHECK-77",
        "GM0344",
    ];
    let mut db = SqliteConnection::connect(&format!("sqlite://{}", h.database().display()))
        .await
        .unwrap();
    let rows = sqlx::query("SELECT * FROM audit_log")
        .fetch_all(&mut db)
        .await
        .unwrap();
    for row in &rows {
        for i in 0..row.len() {
            let value: Option<String> = row.try_get(i).ok().flatten();
            if let Some(value) = value {
                for secret in secrets {
                    assert!(
                        !value.contains(secret),
                        "audit_log holds {secret:?}: {value}"
                    );
                }
            }
        }
    }
    let captured = logs.contents();
    assert!(
        captured.contains("signal accepted"),
        "logs were not captured"
    );
    for secret in secrets {
        assert!(!captured.contains(secret), "a log line holds {secret:?}");
    }
}

#[tokio::test]
async fn pruning_past_retention_keeps_the_rest_verifiable() {
    let h = Harness::start().await;
    exchanges(&h).await;
    let before = h
        .store()
        .count(ketenpoort::store::Table::AuditLog)
        .await
        .unwrap();
    // Age the first six records by a year, as if written long ago.
    let mut db = SqliteConnection::connect(&format!("sqlite://{}", h.database().display()))
        .await
        .unwrap();
    sqlx::query("UPDATE audit_log SET at = at - 31536000000 WHERE seq <= 6")
        .execute(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();

    let pruned = h
        .gateway()
        .prune_audit(std::time::Duration::from_secs(30 * 86_400))
        .await
        .unwrap()
        .expect("records older than the retention");
    assert_eq!(pruned.through_seq, 6);
    assert_eq!(pruned.records, 6);
    let after = h
        .store()
        .count(ketenpoort::store::Table::AuditLog)
        .await
        .unwrap();
    assert_eq!(
        after,
        before - 6 + 1,
        "six removed, one record of the pruning itself"
    );
    let result = verify(&h).await;
    assert!(result.intact, "{result:?}");
    assert_eq!(result.records_checked as i64, after);

    // Removing records without the checkpoint at the cut is still caught.
    let mut db = SqliteConnection::connect(&format!("sqlite://{}", h.database().display()))
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_log WHERE seq = 7")
        .execute(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();
    assert!(!verify(&h).await.intact);
}

#[tokio::test]
async fn a_record_that_no_longer_decodes_is_named_as_the_break() {
    let broken = tampered(&["UPDATE audit_log SET event = 'not_an_event' WHERE seq = 3"]).await;
    assert!(!broken.intact, "{broken:?}");
    assert_eq!(broken.first_problem_seq, 3, "{broken:?}");
    assert!(
        broken.first_problem.contains("no longer decodes"),
        "{}",
        broken.first_problem
    );
}

#[tokio::test]
async fn verify_is_reserved_to_the_officer_who_reads_the_whole_log() {
    let h = Harness::start().await;
    let mut fg = auditor(&h, "gemeente-utrecht-fg").await;
    let status = fg
        .verify(h.with_token(
            "gemeente-utrecht-fg",
            "fg@utrecht.example",
            VerifyRequest {},
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    assert!(status.message().contains("export"), "{}", status.message());
    assert!(verify(&h).await.intact);
}
