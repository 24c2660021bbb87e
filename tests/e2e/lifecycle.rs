//! The life of a delivery as its sender sees it (pending, streamed, acknowledged, expired),
//! and the gateway forgetting what it no longer needs: a recipient's copy is erased from the
//! database file and its WAL once acknowledged, and a settled signal with its clear case
//! reference is removed after its idempotency window, while the audit log keeps the history
//! and the signed receipt still verifies.

use std::time::{Duration, SystemTime};

use ketenpoort::{
    api::proto::{
        DeliveryState, GetReceiptRequest, ListDeadLettersRequest, QueryRequest, RecipientReceipt,
        SendReceipt, admin_service_client::AdminServiceClient,
        audit_service_client::AuditServiceClient, signal_service_client::SignalServiceClient,
    },
    store::Table,
};
use tonic::Code;

use crate::support::{Harness, ack_request, next_delivery, receipt_bytes, subscribe};

/// An intake whose surname is `marker`: a value that appears nowhere else.
fn intake_with(marker: &str) -> String {
    format!(
        r#"{{"person": {{"vNummer": "1234567890", "names": [{{"givenNames": "Testa", "surname": "{marker}"}}]}},
            "intakeDate": "2026-11-20", "intakeLocation": "GM0344 LVV Utrecht"}}"#
    )
}

/// Whether `marker` stands anywhere in the database file or its WAL. The WAL is read first:
/// a checkpoint running meanwhile (the gateway's jobs truncate the WAL) copies pages into the
/// database file before it empties the WAL, so a page is always found in one of the two.
fn on_disk(h: &Harness, marker: &str) -> bool {
    let wal = h.database().with_extension("db-wal");
    [wal, h.database()].iter().any(|file| {
        let bytes = std::fs::read(file).unwrap_or_default();
        bytes.windows(marker.len()).any(|w| w == marker.as_bytes())
    })
}

#[tokio::test]
async fn an_acknowledged_copy_is_erased_from_the_database_file_and_its_wal() {
    let h = Harness::start().await;
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let marker = format!("Markeer{nanos}");
    let mut utrecht = h.client("gemeente-utrecht").await;
    let request = h.request("erase", "INTAKE", &["dtv"], "Intake", &intake_with(&marker));
    utrecht.send(request).await.unwrap();
    assert!(on_disk(&h, &marker), "the copy was never written");

    let mut dtv = h.client("dtv").await;
    let mut stream = subscribe(&mut dtv).await;
    let delivery = next_delivery(&mut stream, Duration::from_secs(5))
        .await
        .unwrap();
    dtv.ack(ack_request(delivery.delivery_id)).await.unwrap();
    h.gateway().forget_now().await.unwrap();

    assert!(
        !on_disk(&h, &marker),
        "the acknowledged copy is still in the database file or its WAL"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(h.database())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the database is readable by others");
    }
}

#[tokio::test]
async fn a_settled_signal_is_forgotten_after_its_idempotency_window_and_its_history_stays() {
    let h = Harness::start().await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    let receipt = h
        .send_intake(&mut utrecht, "window", &["dtv", "ngo-begeleiding"])
        .await;
    let mut dtv = h.client("dtv").await;
    dtv.ack(ack_request(receipt.recipients[0].delivery_id.clone()))
        .await
        .unwrap();

    // Past the window, but the NGO has not acknowledged: the signal stays.
    h.clock.advance(Duration::from_secs(8 * 86_400));
    assert_eq!(h.gateway().forget_now().await.unwrap().signals, 0);
    assert_eq!(h.store().count(Table::Signals).await.unwrap(), 1);

    let mut ngo = h.client("ngo-begeleiding").await;
    ngo.ack(ack_request(receipt.recipients[1].delivery_id.clone()))
        .await
        .unwrap();
    assert_eq!(h.gateway().forget_now().await.unwrap().signals, 1);
    assert_eq!(h.store().count(Table::Signals).await.unwrap(), 0);
    assert_eq!(h.store().count(Table::Deliveries).await.unwrap(), 0);
    assert!(
        !on_disk(&h, "LVV-TEST-0001"),
        "the clear case reference is still in the database file or its WAL"
    );

    let gone = utrecht
        .get_receipt(GetReceiptRequest {
            signal_id: receipt.signal_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);

    // The history stays in the audit log, found by the clear case reference.
    let mut fg = AuditServiceClient::new(h.channel("programma-fg").await);
    let records = fg
        .query(h.with_token(
            "programma-fg",
            "fg@programma.example",
            QueryRequest {
                case_ref: "LVV-TEST-0001".into(),
                ..QueryRequest::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .records;
    let events: Vec<&str> = records.iter().map(|r| r.event.as_str()).collect();
    for event in [
        "signal_accepted",
        "delivery_created",
        "delivery_acknowledged",
    ] {
        assert!(events.contains(&event), "{event} missing from {events:?}");
    }
    // The receipt the sender kept still verifies with the gateway's public key.
    assert!(verifies(&h, &receipt));

    // After the window the key may be used again: a new signal, not a duplicate.
    let again = h
        .send_intake(&mut utrecht, "window", &["dtv", "ngo-begeleiding"])
        .await;
    assert!(!again.duplicate);
    assert_ne!(again.signal_id, receipt.signal_id);
}

fn verifies(h: &Harness, receipt: &SendReceipt) -> bool {
    h.store()
        .signature_key()
        .verify(&receipt_bytes(receipt, 0), &receipt.signature)
}

/// The receipt of `signal_id` as its sender reads it now.
async fn states(
    client: &mut SignalServiceClient<tonic::transport::Channel>,
    signal_id: &str,
) -> Vec<RecipientReceipt> {
    client
        .get_receipt(GetReceiptRequest {
            signal_id: signal_id.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .receipt
        .unwrap()
        .recipients
}

#[tokio::test]
async fn the_sender_sees_each_copy_pending_streamed_acknowledged_or_expired() {
    let h = Harness::start().await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    let receipt = h
        .send_intake(&mut utrecht, "states", &["dtv", "ngo-begeleiding"])
        .await;
    let id = receipt.signal_id.as_str();
    let now = states(&mut utrecht, id).await;
    assert_eq!(now[0].state(), DeliveryState::Pending);
    assert_eq!(
        (now[1].state(), now[1].attempts),
        (DeliveryState::Pending, 0)
    );

    // The NGO fetches its copy but never acknowledges it; DT&V acknowledges.
    let mut ngo = h.client("ngo-begeleiding").await;
    let mut stream = subscribe(&mut ngo).await;
    next_delivery(&mut stream, Duration::from_secs(5))
        .await
        .unwrap();
    drop(stream);
    let mut dtv = h.client("dtv").await;
    dtv.ack(ack_request(receipt.recipients[0].delivery_id.clone()))
        .await
        .unwrap();
    let now = states(&mut utrecht, id).await;
    assert_eq!(now[0].state(), DeliveryState::Acknowledged);
    assert!(now[0].acknowledged_at.is_some() && now[0].expired_at.is_none());
    assert_eq!(
        (now[1].state(), now[1].attempts),
        (DeliveryState::Streamed, 1)
    );

    h.clock.advance(Duration::from_secs(31 * 86_400));
    let max_age = Duration::from_secs(30 * 86_400);
    assert_eq!(h.gateway().expire_deliveries(max_age).await.unwrap(), 1);
    let now = states(&mut utrecht, id).await;
    assert_eq!(now[0].state(), DeliveryState::Acknowledged);
    assert_eq!(now[1].state(), DeliveryState::Expired);
    assert!(now[1].expired_at.is_some() && now[1].acknowledged_at.is_none());

    // The same, as the sender's operator reads it on the command line.
    // Off the test's runtime thread, which also serves the gateway.
    let mut status = std::process::Command::new(env!("CARGO_BIN_EXE_ketenpoort"));
    status
        .args(["status", id, "--as", "gemeente-utrecht", "--json"])
        .args(["--gateway", &h.endpoint()])
        .arg("--pki")
        .arg(h.pki());
    let out = tokio::task::spawn_blocking(move || status.output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let states: Vec<&str> = lines.iter().map(|l| l["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["acknowledged", "expired"]);
    assert_eq!(lines[1]["attempts"], 1);

    // Operators see the dead letter, also once the gateway has forgotten the signal.
    assert_eq!(h.gateway().forget_now().await.unwrap().signals, 1);
    let mut admin = AdminServiceClient::new(h.channel("beheer").await);
    let letters = admin
        .list_dead_letters(h.with_token(
            "beheer",
            "ops@beheer.example",
            ListDeadLettersRequest {
                partner_id: "ngo-begeleiding".into(),
                limit: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .dead_letters;
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.delivery_id, receipt.recipients[1].delivery_id);
    assert_eq!(letter.signal_id, receipt.signal_id);
    assert_eq!(
        (letter.receiver_id.as_str(), letter.signal_type.as_str()),
        ("ngo-begeleiding", "Intake")
    );
    assert_eq!(letter.sender_oin, h.oin("gemeente-utrecht"));
    assert_eq!(letter.attempts, 1);
    let none_for_dtv = admin
        .list_dead_letters(h.with_token(
            "beheer",
            "ops@beheer.example",
            ListDeadLettersRequest {
                partner_id: "dtv".into(),
                limit: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .dead_letters;
    assert!(none_for_dtv.is_empty());
}

#[tokio::test]
async fn the_store_says_what_it_holds_and_since_when() {
    let h = Harness::start().await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    let receipt = h
        .send_intake(&mut utrecht, "held", &["dtv", "ngo-begeleiding"])
        .await;
    let mut dtv = h.client("dtv").await;
    dtv.ack(ack_request(receipt.recipients[0].delivery_id.clone()))
        .await
        .unwrap();

    let stats = h.store().stats().await.unwrap();
    assert_eq!(stats.signals.rows, 1);
    assert_eq!(stats.copies_held.rows, 1, "the NGO's copy waits");
    assert_eq!(stats.copies_erased.rows, 1, "DT&V's copy was erased on ack");
    assert!(stats.audit_records.rows >= 4);
    assert!(stats.signals.oldest.is_some() && stats.copies_erased.oldest.is_some());

    // The metrics registry is the process's, shared by the tests' gateways: names only.
    let (_, metrics) = crate::support::http_get(&h, "/metrics").await;
    for kind in ["signals", "copies_held", "copies_erased", "audit_records"] {
        for name in [
            "ketenpoort_store_rows",
            "ketenpoort_store_oldest_age_seconds",
        ] {
            let series = format!("{name}{{kind=\"{kind}\"}}");
            assert!(
                metrics.contains(&series),
                "{series} missing from the metrics"
            );
        }
    }

    // The same on the command line, read beside the running gateway.
    let config = h.dir.path().join("stats.toml");
    let url = format!("sqlite://{}", h.database().display());
    std::fs::write(&config, format!("[store]\nurl = {url:?}\n")).unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ketenpoort"));
    command
        .args(["store", "stats", "--json", "--config"])
        .arg(&config);
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["signals"]["rows"], 1);
    assert_eq!(printed["copies_held"]["rows"], 1);
    assert_eq!(printed["copies_erased"]["rows"], 1);
}

#[tokio::test]
async fn a_refused_ack_or_receipt_request_is_recorded() {
    let h = Harness::start().await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    let receipt = h.send_intake(&mut utrecht, "refused", &["dtv"]).await;
    // The NGO acknowledges a delivery that is not its own; DT&V asks for Utrecht's receipt.
    let mut ngo = h.client("ngo-begeleiding").await;
    let status = ngo
        .ack(ack_request(receipt.recipients[0].delivery_id.clone()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let mut dtv = h.client("dtv").await;
    let status = dtv
        .get_receipt(GetReceiptRequest {
            signal_id: receipt.signal_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    let refused = h
        .store()
        .audit_records(&ketenpoort::store::AuditFilter {
            event: Some("request_refused".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let by: Vec<(String, String)> = refused
        .iter()
        .map(|r| {
            let e = &r.record.event;
            (
                e.actor
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                e.detail["method"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        by,
        [
            (h.oin("ngo-begeleiding"), "Ack".to_string()),
            (h.oin("dtv"), "GetReceipt".to_string()),
        ]
    );
}
