//! Leasing deliveries to streams in one batch and across batches: what a stream's lease sees
//! of the leases, acknowledgements and releases before it, in the database and in the batch.

use super::*;

/// Streams `deliveries` on the stream `holder`, leased for a minute.
pub(super) fn streamed(
    deliveries: Vec<PendingDelivery>,
    holder: &str,
) -> (Job, Reply<Vec<PendingDelivery>>) {
    let (reply, rx) = oneshot::channel();
    let now = now_ms();
    let job = Job::Streamed {
        deliveries,
        lease: Lease {
            recipient: oin(DTV),
            holder: holder.into(),
            now,
            until: now + 60_000,
        },
        audit: AuditEvent::new(EventKind::DeliveryStreamed, Outcome::Ok),
        reply,
    };
    (job, rx)
}

fn release(holder: &str) -> (Job, Reply<()>) {
    let (reply, rx) = oneshot::channel();
    (
        Job::Release {
            holder: holder.into(),
            reply,
        },
        rx,
    )
}

/// Commits `n` signals of the same case and returns their deliveries to DT&V, oldest first.
async fn pending_of_one_case(f: &mut Fixture, n: usize) -> Vec<PendingDelivery> {
    for i in 0..n {
        let (job, rx) = send(signal(&format!("key-{i}"), "content a"));
        f.commit(vec![job]).await;
        f.accepted(rx.await.unwrap().unwrap());
    }
    f.store
        .pending(&oin(DTV), "reader", now_ms(), 10)
        .await
        .unwrap()
}

fn ids(leased: Vec<PendingDelivery>) -> Vec<String> {
    leased.into_iter().map(|d| d.id).collect()
}

#[tokio::test]
async fn streaming_twice_in_one_batch_counts_two_attempts() {
    let mut f = Fixture::new().await;
    let (job, rx) = send(signal("key-1", "content a"));
    f.commit(vec![job]).await;
    f.accepted(rx.await.unwrap().unwrap());
    let pending = f.store.pending(&oin(DTV), "reader", 0, 10).await.unwrap();
    assert_eq!(pending[0].attempts, 0);

    let (first, first_rx) = streamed(pending.clone(), "stream-1");
    let (second, second_rx) = streamed(pending, "stream-1");
    f.commit(vec![first, second]).await;
    assert_eq!(first_rx.await.unwrap().unwrap().len(), 1);
    assert_eq!(second_rx.await.unwrap().unwrap().len(), 1);
    // Leased now; as anyone sees it once the lease has ended:
    assert_eq!(
        f.store
            .pending(&oin(DTV), "reader", i64::MAX, 10)
            .await
            .unwrap()[0]
            .attempts,
        2
    );
}

#[tokio::test]
async fn a_delivery_leased_to_one_stream_is_not_leased_to_another() {
    let mut f = Fixture::new().await;
    let (job, rx) = send(signal("key-1", "content a"));
    f.commit(vec![job]).await;
    f.accepted(rx.await.unwrap().unwrap());
    let pending = f
        .store
        .pending(&oin(DTV), "reader", now_ms(), 10)
        .await
        .unwrap();

    let (first, first_rx) = streamed(pending.clone(), "gateway-a/stream-1");
    let (second, second_rx) = streamed(pending.clone(), "gateway-b/stream-2");
    f.commit(vec![first, second]).await;
    let first_ids: Vec<String> = first_rx
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(first_ids, [pending[0].id.clone()]);
    assert!(second_rx.await.unwrap().unwrap().is_empty());
    assert!(
        f.store
            .pending(&oin(DTV), "reader", now_ms(), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Gateway A stops: its streams' leases end, and the delivery is offered again.
    f.store.release("gateway-a/").await.unwrap();
    let again = f
        .store
        .pending(&oin(DTV), "reader", now_ms(), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 1);
    let (third, third_rx) = streamed(again, "gateway-b/stream-2");
    f.commit(vec![third]).await;
    assert_eq!(third_rx.await.unwrap().unwrap().len(), 1);
}

#[tokio::test]
async fn an_acknowledgement_later_in_the_batch_ends_the_lease() {
    let mut f = Fixture::new().await;
    let pending = pending_of_one_case(&mut f, 1).await;
    let id = pending[0].id.clone();
    let (lease, leased) = streamed(pending, "stream-1");
    let (job, acked) = ack(DTV, &[id.as_str()]);
    f.commit(vec![lease, job]).await;
    assert_eq!(
        ids(leased.await.unwrap().unwrap()),
        std::slice::from_ref(&id)
    );
    assert_eq!(acked.await.unwrap().unwrap(), 1);
    let (holder, attempts): (Option<String>, i64) =
        sqlx::query_as("SELECT leased_by, attempts FROM deliveries WHERE id = $1")
            .bind(&id)
            .fetch_one(&f.store.pool)
            .await
            .unwrap();
    assert_eq!((holder, attempts), (None, 1));
}

#[tokio::test]
async fn a_release_later_in_the_batch_ends_the_leases_taken_before_it() {
    let mut f = Fixture::new().await;
    let pending = pending_of_one_case(&mut f, 1).await;
    let (lease, leased) = streamed(pending.clone(), "gateway-a/stream-1");
    let (end, ended) = release("gateway-a/");
    f.commit(vec![lease, end]).await;
    assert_eq!(leased.await.unwrap().unwrap().len(), 1);
    ended.await.unwrap().unwrap();
    let again = f
        .store
        .pending(&oin(DTV), "reader", now_ms(), 10)
        .await
        .unwrap();
    assert_eq!(ids(again.clone()), ids(pending));
    assert_eq!(again[0].attempts, 1);
}

#[tokio::test]
async fn a_later_delivery_of_a_case_waits_while_another_stream_holds_an_older_one() {
    let mut f = Fixture::new().await;
    let pending = pending_of_one_case(&mut f, 3).await;
    assert_eq!(pending.len(), 3);

    // In one batch: the second stream may take neither the first delivery nor the later ones.
    let (first, first_rx) = streamed(pending[..1].to_vec(), "gateway-a/stream-1");
    let (second, second_rx) = streamed(pending[..2].to_vec(), "gateway-b/stream-2");
    f.commit(vec![first, second]).await;
    assert_eq!(
        ids(first_rx.await.unwrap().unwrap()),
        ids(pending[..1].to_vec())
    );
    assert!(second_rx.await.unwrap().unwrap().is_empty());

    // In a later batch, against the lease in the database: still nothing.
    let (third, third_rx) = streamed(pending.clone(), "gateway-b/stream-2");
    f.commit(vec![third]).await;
    assert!(third_rx.await.unwrap().unwrap().is_empty());

    // The first stream takes the rest of its case.
    let (fourth, fourth_rx) = streamed(pending[1..].to_vec(), "gateway-a/stream-1");
    f.commit(vec![fourth]).await;
    assert_eq!(
        ids(fourth_rx.await.unwrap().unwrap()),
        ids(pending[1..].to_vec())
    );
}
