//! Leases: a streamed delivery belongs to the stream it went out on until it is acknowledged,
//! its lease ends, or the stream closes. Two streams of one endpoint never receive the same
//! delivery while a lease holds; an unacknowledged one comes back after the lease.

use std::{collections::HashSet, time::Duration};

use ketenpoort::api::proto::{Delivery, SubscribeResponse};
use tokio_stream::StreamExt;
use tonic::Streaming;

use crate::support::{Harness, next_delivery, subscribe};

const WAIT: Duration = Duration::from_secs(5);
/// Long enough for every waiting delivery to reach one of the streams.
const SETTLE: Duration = Duration::from_millis(1500);

/// Every delivery `stream` receives until it is quiet for `quiet`.
pub async fn drain(stream: &mut Streaming<SubscribeResponse>, quiet: Duration) -> Vec<Delivery> {
    let mut got = Vec::new();
    while let Some(delivery) = next_delivery(stream, quiet).await {
        got.push(delivery);
    }
    got
}

/// The ids of `deliveries`, checking that none repeats.
pub fn ids(deliveries: &[Delivery]) -> HashSet<String> {
    let ids: HashSet<String> = deliveries.iter().map(|d| d.delivery_id.clone()).collect();
    assert_eq!(ids.len(), deliveries.len(), "a stream got a delivery twice");
    ids
}

/// The delivery offered again to one of two streams once the clock passed the end of the
/// lease (60 s by default).
async fn after_the_lease(
    h: &Harness,
    a: &mut Streaming<SubscribeResponse>,
    b: &mut Streaming<SubscribeResponse>,
) -> Delivery {
    h.clock.advance(Duration::from_secs(61));
    tokio::select! {
        on_a = next_delivery(a, WAIT) => on_a,
        on_b = next_delivery(b, WAIT) => on_b,
    }
    .expect("offered again after the lease")
}

#[tokio::test]
async fn two_streams_of_one_endpoint_never_share_a_delivery_while_a_lease_holds() {
    let h = Harness::start().await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    let mut sent = HashSet::new();
    for i in 0..12 {
        let receipt = h
            .send_intake(&mut utrecht, &format!("lease-{i}"), &["dtv"])
            .await;
        sent.insert(receipt.recipients[0].delivery_id.clone());
    }
    let mut first = h.client("dtv").await;
    let mut second = h.client("dtv").await;
    let mut a = subscribe(&mut first).await;
    let mut b = subscribe(&mut second).await;
    let (got_a, got_b) = tokio::join!(drain(&mut a, SETTLE), drain(&mut b, SETTLE));
    let (ids_a, ids_b) = (ids(&got_a), ids(&got_b));
    assert!(
        ids_a.is_disjoint(&ids_b),
        "both streams got {:?}",
        ids_a.intersection(&ids_b).collect::<Vec<_>>()
    );
    assert_eq!(&ids_a | &ids_b, sent);

    // The first stream closes without acknowledging: its deliveries go to the second, now.
    drop(a);
    let mut taken_over = Vec::new();
    while taken_over.len() < got_a.len() {
        match next_delivery(&mut b, WAIT).await {
            Some(delivery) => taken_over.push(delivery),
            None => break,
        }
    }
    assert_eq!(ids(&taken_over), ids_a);
    assert!(taken_over.iter().all(|d| d.previous_attempts == 1));
}

#[tokio::test]
async fn an_unacknowledged_delivery_is_offered_again_when_its_lease_ends() {
    let h = Harness::start().await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    let receipt = h.send_intake(&mut utrecht, "lease-ends", &["dtv"]).await;
    let mut first = h.client("dtv").await;
    let mut second = h.client("dtv").await;
    let mut a = subscribe(&mut first).await;
    let got = next_delivery(&mut a, WAIT).await.expect("the delivery");
    assert_eq!(got.delivery_id, receipt.recipients[0].delivery_id);

    // A second stream of the endpoint does not get it while the first holds the lease ...
    let mut b = subscribe(&mut second).await;
    assert!(next_delivery(&mut b, SETTLE).await.is_none());
    // ... and once the lease (60 s by default) has ended unacknowledged, it is offered again,
    // to whichever of the endpoint's streams looks first.
    let again = after_the_lease(&h, &mut a, &mut b).await;
    assert_eq!(again.delivery_id, got.delivery_id);
    assert_eq!(again.previous_attempts, 1);
}

#[tokio::test]
async fn per_case_a_newer_delivery_waits_for_the_stream_holding_the_older_one() {
    let h = Harness::start().await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    // Both intakes are about the harness's one case, LVV-TEST-0001.
    let older = h.send_intake(&mut utrecht, "order-1", &["dtv"]).await;
    let mut first = h.client("dtv").await;
    let mut a = subscribe(&mut first).await;
    let got = next_delivery(&mut a, WAIT)
        .await
        .expect("the older delivery");
    assert_eq!(got.delivery_id, older.recipients[0].delivery_id);

    // A second stream of DT&V is open when a newer signal of the same case arrives: it does
    // not take it while the first stream holds the older one unacknowledged.
    let mut second = h.client("dtv").await;
    let mut b = subscribe(&mut second).await;
    let newer = h.send_intake(&mut utrecht, "order-2", &["dtv"]).await;
    assert!(
        next_delivery(&mut b, SETTLE).await.is_none(),
        "a newer delivery of the case overtook the older one on another stream"
    );
    let after = next_delivery(&mut a, WAIT)
        .await
        .expect("the newer delivery");
    assert_eq!(after.delivery_id, newer.recipients[0].delivery_id);
}

#[tokio::test]
async fn an_endpoint_holds_at_most_four_open_streams() {
    let h = Harness::start().await;
    let mut clients = Vec::new();
    let mut streams = Vec::new();
    for _ in 0..4 {
        let mut client = h.client("dtv").await;
        streams.push(subscribe(&mut client).await);
        clients.push(client);
    }
    let mut fifth = h.client("dtv").await;
    let refused = fifth
        .subscribe(ketenpoort::api::proto::SubscribeRequest {})
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::ResourceExhausted,
        "{refused:?}"
    );
    assert!(
        refused.message().contains("close one first"),
        "{}",
        refused.message()
    );
    // Another endpoint is not affected.
    let mut ngo = h.client("ngo-begeleiding").await;
    subscribe(&mut ngo).await;
    // Once a stream ends, its place is free again.
    drop(streams.pop());
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match fifth
            .subscribe(ketenpoort::api::proto::SubscribeRequest {})
            .await
        {
            Ok(_) => break,
            Err(status) if tokio::time::Instant::now() < deadline => {
                assert_eq!(status.code(), tonic::Code::ResourceExhausted);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("the ended stream's place was not given back: {status:?}"),
        }
    }
}

#[tokio::test]
async fn copies_sent_while_their_receiver_waits_are_leased_to_the_waiting_stream() {
    let h = Harness::start().await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    let mut first = h.client("dtv").await;
    let mut a = subscribe(&mut first).await;
    let marker = a.next().await.expect("the caught-up marker").unwrap();
    assert!(marker.caught_up && marker.delivery.is_none());

    // Sent while the stream waits: handed over in order, each in its Send's own commit.
    let mut sent = Vec::new();
    for i in 0..3 {
        let receipt = h
            .send_intake(&mut utrecht, &format!("waiting-{i}"), &["dtv"])
            .await;
        sent.push(receipt.recipients[0].delivery_id.clone());
    }
    let mut got = Vec::new();
    for _ in 0..3 {
        let delivery = next_delivery(&mut a, WAIT)
            .await
            .expect("a handed-over copy");
        assert_eq!(delivery.previous_attempts, 0);
        got.push(delivery.delivery_id);
    }
    assert_eq!(got, sent, "the copies of one case arrived out of order");

    // Leased to that stream in the database like any streamed copy: another stream of the
    // endpoint does not get them, and once the lease has ended unacknowledged they are offered
    // again with their attempt counted.
    let mut second = h.client("dtv").await;
    let mut b = subscribe(&mut second).await;
    assert!(next_delivery(&mut b, SETTLE).await.is_none());
    let again = after_the_lease(&h, &mut a, &mut b).await;
    assert_eq!(again.delivery_id, sent[0]);
    assert_eq!(again.previous_attempts, 1);
}
