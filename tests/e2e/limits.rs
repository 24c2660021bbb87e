//! What one partner or connection may cost, over real mTLS: a partner sending faster than its
//! rate is refused with RESOURCE_EXHAUSTED and a retry hint while another sends on; a receiver
//! with the most deliveries waiting gets no more and shows on the health endpoint; connections
//! beyond the cap are dropped, silent ones and old ones are closed; a request larger than the
//! HTTP/2 receive windows is read whole up to the size limit and refused past it.

use std::time::Duration;

use ketenpoort::{api::RETRY_AFTER_MS, audit::EventKind, store::AuditFilter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_stream::StreamExt;
use tonic::Code;

use crate::support::{Harness, INTAKE, client_config, handshake_with, http_get, subscribe};

/// Every audit record.
fn everything() -> AuditFilter {
    AuditFilter {
        limit: 100_000,
        ..AuditFilter::default()
    }
}

/// The retry hint of a RESOURCE_EXHAUSTED answer, in milliseconds.
fn retry_after_ms(status: &tonic::Status) -> u64 {
    assert_eq!(
        status.code(),
        Code::ResourceExhausted,
        "{}",
        status.message()
    );
    let hint = status.metadata().get(RETRY_AFTER_MS).expect("a retry hint");
    hint.to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_partner_sending_too_fast_is_told_to_wait_while_another_sends_on() {
    let h = Harness::start_tuned(|config| {
        config.limits.send_per_second = 1;
        config.limits.send_burst = 2;
    })
    .await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    h.send_intake(&mut utrecht, "first", &["dtv"]).await;
    h.send_intake(&mut utrecht, "second", &["dtv"]).await;
    let audited = h
        .store()
        .audit_records(&AuditFilter::default())
        .await
        .unwrap()
        .len();
    let request = h.request(
        "third",
        "INTAKE",
        &["dtv"],
        "Intake",
        crate::support::INTAKE,
    );
    let status = utrecht.send(request).await.unwrap_err();
    let wait = retry_after_ms(&status);
    assert!((1..=1000).contains(&wait), "retry after {wait} ms");
    assert!(
        status.message().contains("send_per_second"),
        "{}",
        status.message()
    );
    // A refused flood costs no audit records.
    let after = h
        .store()
        .audit_records(&AuditFilter::default())
        .await
        .unwrap()
        .len();
    assert_eq!(after, audited);

    let mut amsterdam = h.client("gemeente-amsterdam").await;
    h.send_intake(&mut amsterdam, "other", &["dtv"]).await;
    // After the hint, the first partner may send again.
    tokio::time::sleep(Duration::from_millis(wait)).await;
    h.send_intake(&mut utrecht, "third", &["dtv"]).await;
}

#[tokio::test]
async fn a_receiver_with_the_most_deliveries_waiting_gets_no_more() {
    let h = Harness::start_tuned(|config| config.limits.max_pending_per_receiver = 3).await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    for key in ["a", "b", "c"] {
        h.send_intake(&mut utrecht, key, &["dtv"]).await;
    }
    let (_, health) = http_get(&h, "/health").await;
    assert!(
        health.contains("receiver dtv: 3 deliveries waiting"),
        "{health}"
    );

    let request = h.request("d", "INTAKE", &["dtv"], "Intake", crate::support::INTAKE);
    let status = utrecht.send(request).await.unwrap_err();
    assert!(retry_after_ms(&status) >= 1000);
    assert!(
        status
            .message()
            .contains("receiver dtv has 3 signals waiting"),
        "{}",
        status.message()
    );
    let records = h.store().audit_records(&everything()).await.unwrap();
    let refused = records
        .iter()
        .filter(|r| r.record.event.event == EventKind::SignalRefused);
    assert_eq!(
        refused.count(),
        1,
        "the refusal of a valid signal is recorded"
    );
    // Others still get theirs.
    h.send_intake(&mut utrecht, "e", &["ngo-begeleiding"]).await;
}

#[tokio::test]
async fn connections_beyond_the_cap_are_dropped_until_one_closes() {
    let h = Harness::start_tuned(|config| config.limits.max_connections = 2).await;
    let config = std::sync::Arc::new(client_config(&h, Some(("dtv.pem", "dtv.key"))));
    let held: Vec<_> = {
        let mut held = Vec::new();
        for _ in 0..2 {
            held.push(h.client("dtv").await);
        }
        held
    };
    let refused = handshake_with(config.clone(), h.port()).await;
    assert!(refused.is_err(), "a third connection is dropped");
    drop(held);
    let mut served = false;
    for _ in 0..100 {
        if handshake_with(config.clone(), h.port()).await.is_ok() {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served, "the places were not given back");
}

#[tokio::test]
async fn a_silent_connection_is_closed() {
    let h = Harness::start_tuned(|config| config.limits.connection_idle_secs = 1).await;
    let config = std::sync::Arc::new(client_config(&h, Some(("dtv.pem", "dtv.key"))));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", h.port()))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .unwrap();
    tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    // Then nothing: the gateway closes the connection within a few seconds.
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 1024];
        while let Ok(n) = tls.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the silent connection stayed open");
}

#[tokio::test]
async fn a_connection_is_closed_at_its_maximum_age() {
    let h = Harness::start_tuned(|config| config.limits.connection_max_age_secs = 2).await;
    let mut dtv = h.client("dtv").await;
    let mut stream = subscribe(&mut dtv).await;
    let ended = tokio::time::timeout(Duration::from_secs(6), async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the connection outlived its maximum age");
}

/// A request several times the HTTP/2 receive windows (128 KiB a stream) still arrives whole
/// and is answered from its content; one just over the size limit is refused naming the
/// limit; one far over it is refused from its length prefix, before it is read.
#[tokio::test]
async fn requests_larger_than_the_receive_windows_are_read_whole_up_to_the_limit() {
    let h = Harness::start().await;
    let mut client = h.client("gemeente-utrecht").await;
    let limit = ketenpoort::config::DEFAULT_MAX_MESSAGE_BYTES;
    // The Intake with an undecodable tail (field number 0), to `total` bytes of payload.
    let padded = |key: &str, total: usize| {
        let mut request = h.request(key, "INTAKE", &["dtv"], "Intake", INTAKE);
        if let Some(payload) = request.payload.as_mut() {
            payload.value.resize(total, 0);
        }
        request
    };

    let whole = client.send(padded("six-windows", 6 * 128 * 1024)).await;
    let status = whole.expect_err("an undecodable payload was accepted");
    assert_eq!(status.code(), Code::InvalidArgument, "{}", status.message());
    assert!(
        status.message().contains("payload") && !status.message().contains("at most"),
        "not answered from the payload's content: {}",
        status.message()
    );

    let over = client.send(padded("over", limit + 1024)).await;
    let status = over.expect_err("a signal over the limit was accepted");
    assert_eq!(status.code(), Code::InvalidArgument, "{}", status.message());
    assert!(
        status.message().contains(&format!("at most {limit} bytes")),
        "the limit is not named: {}",
        status.message()
    );

    let far = client.send(padded("far-over", 4 * limit)).await;
    let status = far.expect_err("a signal far over the limit was accepted");
    assert_eq!(status.code(), Code::OutOfRange, "{}", status.message());

    // The connection still serves the partner.
    let receipt = client
        .send(h.request("after", "INTAKE", &["dtv"], "Intake", INTAKE))
        .await;
    assert!(receipt.is_ok(), "{:?}", receipt.err());
}
