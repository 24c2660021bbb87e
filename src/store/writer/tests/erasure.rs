//! Erasing a copy that is already empty: a receiver's filtered copy can be empty (every field
//! withheld or unset), and SQLite's `substr` of an empty BLOB is NULL, which the `payload`
//! column refuses; its acknowledgement must still be taken and the copy stay empty.

use super::*;

#[tokio::test]
async fn an_empty_copy_is_acknowledged_and_stays_empty() {
    let mut f = Fixture::new().await;
    let mut empty = signal("key-empty", "content");
    for delivery in &mut empty.deliveries {
        delivery.payload.clear();
    }
    let (job, rx) = send(empty);
    f.commit(vec![job]).await;
    let receipt = f.accepted(rx.await.unwrap().unwrap());
    let dtv = receipt.recipients[0].delivery_id.as_str();

    let (job, acked) = ack(DTV, &[dtv]);
    f.commit(vec![job]).await;
    assert_eq!(acked.await.unwrap().unwrap(), 1);

    let payload: Vec<u8> = sqlx::query_scalar("SELECT payload FROM deliveries WHERE id = $1")
        .bind(dtv)
        .fetch_one(&f.store.pool)
        .await
        .unwrap();
    assert!(payload.is_empty());
}
