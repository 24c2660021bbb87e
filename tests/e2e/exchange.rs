//! A partner sends, the recipient streams, acknowledges; redelivery, idempotency, restarts.

use std::time::Duration;

use ketenpoort::{
    api::{
        client::payload_to_json,
        proto::{AckRequest, GetReceiptRequest},
    },
    store::{AuditFilter, Table},
};
use sqlx::{Connection, SqliteConnection};
use tokio_stream::StreamExt;
use tonic::Code;

use crate::support::{Harness, INTAKE, ack_request, http_get, next_delivery, subscribe};

const WAIT: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(700);

#[tokio::test]
async fn recipient_receives_over_subscribe_and_acks() {
    let h = Harness::start().await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    let receipt = h.send_intake(&mut utrecht, "k1", &["dtv"]).await;
    assert_eq!(receipt.recipients.len(), 1);
    assert_eq!(receipt.recipients[0].recipient, h.oin("dtv"));
    assert_eq!(receipt.recipients[0].purposes, ["RETURN"]);
    assert!(!receipt.duplicate);

    let mut dtv = h.client("dtv").await;
    let mut stream = subscribe(&mut dtv).await;
    let delivery = next_delivery(&mut stream, WAIT).await.expect("a delivery");
    assert_eq!(delivery.signal_id, receipt.signal_id);
    assert_eq!(delivery.delivery_id, receipt.recipients[0].delivery_id);
    assert_eq!(delivery.sender, h.oin("gemeente-utrecht"));
    assert_eq!(delivery.purpose, "INTAKE");
    assert_eq!(delivery.case_ref, "LVV-TEST-0001");
    assert_eq!(delivery.previous_attempts, 0);
    let payload = payload_to_json(&h.catalogue, delivery.payload.as_ref().unwrap()).unwrap();
    assert_eq!(payload["person"]["vNummer"], "1234567890");
    assert_eq!(payload["intakeLocation"], "GM0344 LVV Utrecht");

    let acked = dtv
        .ack(ack_request(delivery.delivery_id.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acked.acknowledged, 1);
    drop(stream);

    let mut again = subscribe(&mut dtv).await;
    assert!(
        next_delivery(&mut again, QUIET).await.is_none(),
        "acked delivery came back"
    );
}

#[tokio::test]
async fn new_signals_reach_an_open_subscription() {
    let h = Harness::start().await;
    let mut dtv = h.client("dtv").await;
    let mut stream = subscribe(&mut dtv).await;
    let first = stream.next().await.unwrap().unwrap();
    assert!(first.caught_up && first.delivery.is_none(), "{first:?}");
    let mut utrecht = h.client("gemeente-utrecht").await;
    let sent = utrecht
        .send(h.request("live", "INTAKE", &["dtv"], "Intake", INTAKE))
        .await
        .unwrap()
        .into_inner();
    let delivery = next_delivery(&mut stream, WAIT)
        .await
        .expect("a live delivery");
    assert_eq!(delivery.signal_id, sent.receipt.unwrap().signal_id);
}

#[tokio::test]
async fn unacknowledged_delivery_is_streamed_again_after_reconnect_and_never_after_ack() {
    let h = Harness::start().await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    utrecht
        .send(h.request("k1", "INTAKE", &["dtv"], "Intake", INTAKE))
        .await
        .unwrap();

    let first = {
        let mut dtv = h.client("dtv").await;
        let mut stream = subscribe(&mut dtv).await;
        next_delivery(&mut stream, WAIT)
            .await
            .expect("first delivery")
        // dropped without ack: the connection goes away
    };

    let mut dtv = h.client("dtv").await;
    let mut stream = subscribe(&mut dtv).await;
    let second = next_delivery(&mut stream, WAIT).await.expect("redelivery");
    assert_eq!(second.delivery_id, first.delivery_id);
    assert_eq!(second.previous_attempts, 1);
    dtv.ack(AckRequest {
        delivery_ids: vec![second.delivery_id.clone()],
    })
    .await
    .unwrap();
    // Acknowledging again is not an error and changes nothing.
    let twice = dtv
        .ack(ack_request(second.delivery_id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(twice.acknowledged, 0);
    drop(stream);

    let mut third = subscribe(&mut dtv).await;
    assert!(next_delivery(&mut third, QUIET).await.is_none());
}

#[tokio::test]
async fn idempotent_resend_returns_the_original_receipt_and_no_new_delivery() {
    let h = Harness::start().await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    let request = h.request("same-key", "INTAKE", &["dtv", "ind"], "Intake", INTAKE);
    let first = utrecht
        .send(request.clone())
        .await
        .unwrap()
        .into_inner()
        .receipt
        .unwrap();
    let second = utrecht
        .send(request.clone())
        .await
        .unwrap()
        .into_inner()
        .receipt
        .unwrap();
    assert!(second.duplicate);
    assert_eq!(second.signal_id, first.signal_id);
    assert_eq!(second.recipients, first.recipients);
    assert_eq!(h.store().count(Table::Signals).await.unwrap(), 1);
    assert_eq!(h.store().count(Table::Deliveries).await.unwrap(), 2);

    let mut changed = request;
    changed.case_ref = "LVV-TEST-0002".into();
    let status = utrecht.send(changed).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert!(
        status.message().contains("idempotency_key"),
        "{}",
        status.message()
    );
    assert_eq!(h.store().count(Table::Deliveries).await.unwrap(), 2);

    // The same key from another sender is another signal.
    let mut amsterdam = h.client("gemeente-amsterdam").await;
    let other = h.send_intake(&mut amsterdam, "same-key", &["dtv"]).await;
    assert_ne!(other.signal_id, first.signal_id);
}

#[tokio::test]
async fn a_restart_between_send_and_subscribe_loses_nothing() {
    let mut h = Harness::start().await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    let receipt = h
        .send_intake(&mut utrecht, "k1", &["dtv", "politie-avim"])
        .await;
    drop(utrecht);
    h.restart().await;

    for (id, position) in [("dtv", 0), ("politie-avim", 1)] {
        let mut client = h.client(id).await;
        let mut stream = subscribe(&mut client).await;
        let delivery = next_delivery(&mut stream, WAIT)
            .await
            .expect("delivery after restart");
        assert_eq!(
            delivery.delivery_id,
            receipt.recipients[position].delivery_id
        );
    }
    // The receipt survives too, and only for its sender.
    let mut utrecht = h.client("gemeente-utrecht").await;
    let again = utrecht
        .get_receipt(GetReceiptRequest {
            signal_id: receipt.signal_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .receipt
        .unwrap();
    // What was receipted is unchanged; the copies' states (fields 5-8) have moved on since.
    let receipted = |r: &ketenpoort::api::proto::RecipientReceipt| {
        (
            r.recipient.clone(),
            r.delivery_id.clone(),
            r.purposes.clone(),
            r.withheld_fields.clone(),
        )
    };
    assert_eq!(
        again.recipients.iter().map(receipted).collect::<Vec<_>>(),
        receipt.recipients.iter().map(receipted).collect::<Vec<_>>()
    );
    let mut dtv = h.client("dtv").await;
    let status = dtv
        .get_receipt(GetReceiptRequest {
            signal_id: receipt.signal_id,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn acknowledging_someone_elses_delivery_is_not_found() {
    let h = Harness::start().await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    let receipt = h.send_intake(&mut utrecht, "k1", &["dtv"]).await;
    let mut ind = h.client("ind").await;
    let status = ind
        .ack(AckRequest {
            delivery_ids: vec![receipt.recipients[0].delivery_id.clone()],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = ind
        .ack(AckRequest {
            delivery_ids: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn each_recipient_gets_only_what_its_purpose_allows() {
    let h = Harness::start().await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    let receipt = utrecht
        .send(h.request(
            "k1",
            "INTAKE",
            &["dtv", "ngo-begeleiding"],
            "Intake",
            INTAKE,
        ))
        .await
        .unwrap()
        .into_inner()
        .receipt
        .unwrap();
    assert!(receipt.recipients[0].withheld_fields.is_empty());
    assert_eq!(
        receipt.recipients[1].withheld_fields,
        ["person.bsn", "person.nationalities", "person.v_nummer"]
    );
    let mut ngo = h.client("ngo-begeleiding").await;
    let mut stream = subscribe(&mut ngo).await;
    let delivery = next_delivery(&mut stream, WAIT).await.unwrap();
    let payload = payload_to_json(&h.catalogue, delivery.payload.as_ref().unwrap()).unwrap();
    let person = payload["person"].as_object().unwrap();
    assert!(
        !person.contains_key("bsn") && !person.contains_key("vNummer"),
        "{payload}"
    );
    assert!(!person.contains_key("nationalities"), "{payload}");
    assert_eq!(person["names"][0]["surname"], "Persoon");
}

#[tokio::test]
async fn an_unacknowledged_delivery_expires_its_copy_is_erased_and_the_log_says_so() {
    let h = Harness::start().await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    let receipt = h
        .send_intake(&mut utrecht, "expires", &["dtv", "ngo-begeleiding"])
        .await;
    let (dtv_copy, ngo_copy) = (
        receipt.recipients[0].delivery_id.clone(),
        receipt.recipients[1].delivery_id.clone(),
    );
    // DT&V acknowledges its copy; the NGO never does.
    let mut dtv = h.client("dtv").await;
    dtv.ack(ack_request(dtv_copy.clone())).await.unwrap();
    h.clock.advance(Duration::from_millis(20));

    let max_age = Duration::from_millis(10);
    assert_eq!(h.gateway().expire_deliveries(max_age).await.unwrap(), 1);
    assert_eq!(
        h.gateway().expire_deliveries(max_age).await.unwrap(),
        0,
        "an expired delivery expires once"
    );

    let mut ngo = h.client("ngo-begeleiding").await;
    let mut stream = subscribe(&mut ngo).await;
    assert!(
        next_delivery(&mut stream, QUIET).await.is_none(),
        "an expired delivery was streamed"
    );
    let status = ngo.ack(ack_request(ngo_copy.clone())).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("expired"), "{}", status.message());

    // The NGO's copy is erased by expiry; DT&V's was erased by its acknowledgement, and is
    // not marked expired.
    let mut db = SqliteConnection::connect(&format!("sqlite://{}", h.database().display()))
        .await
        .unwrap();
    let rows: Vec<(String, i64, Option<i64>)> =
        sqlx::query_as("SELECT id, length(payload), expired_at FROM deliveries")
            .fetch_all(&mut db)
            .await
            .unwrap();
    for (id, length, expired_at) in rows {
        if id == ngo_copy {
            assert_eq!((length, expired_at.is_some()), (0, true));
        } else {
            assert_eq!(id, dtv_copy);
            assert!(length == 0 && expired_at.is_none());
        }
    }

    let expired = h
        .store()
        .audit_records(&AuditFilter {
            event: Some("delivery_expired".into()),
            limit: 100,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(expired.len(), 1);
    let event = &expired[0].record.event;
    assert_eq!(event.delivery_id.as_deref(), Some(ngo_copy.as_str()));
    assert_eq!(
        event.counterparty.as_ref().map(ToString::to_string),
        Some(h.oin("ngo-begeleiding"))
    );
    assert_eq!(event.signal_id.as_deref(), Some(receipt.signal_id.as_str()));
    assert!(event.subject.case_ref_hash.is_some());

    let (_, metrics) = http_get(&h, "/metrics").await;
    assert!(
        metrics.contains(r#"ketenpoort_deliveries_expired_total{receiver="ngo-begeleiding"} 1"#),
        "{metrics}"
    );
}
