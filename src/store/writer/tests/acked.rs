//! Acknowledging copies the SQLite writer leased to a stream: their audit record is made from
//! what the writer remembers of them, with the same counts and refusals as for copies read
//! back from the database.

use super::{leases::streamed, *};

/// Commits one signal and leases its DT&V copy to a stream; returns the receipt.
async fn sent_and_leased(f: &mut Fixture, key: &str) -> Receipt {
    let (job, rx) = send(signal(key, "content a"));
    f.commit(vec![job]).await;
    let receipt = f.accepted(rx.await.unwrap().unwrap());
    let dtv = oin(DTV);
    let pending = f
        .store
        .pending(&dtv, "stream-1", now_ms(), 10)
        .await
        .unwrap();
    let (job, rx) = streamed(pending, "stream-1");
    f.commit(vec![job]).await;
    assert_eq!(rx.await.unwrap().unwrap().len(), 1);
    receipt
}

/// The signal types recorded for acknowledgements, in chain order.
async fn acknowledged_types(f: &Fixture) -> Vec<Option<String>> {
    let filter = AuditFilter {
        event: Some("delivery_acknowledged".into()),
        limit: 100,
        ..AuditFilter::default()
    };
    let records = f.store.audit_records(&filter).await.unwrap();
    records
        .into_iter()
        .map(|r| r.record.event.signal_type)
        .collect()
}

#[tokio::test]
async fn a_leased_copy_is_acknowledged_from_what_the_writer_remembers() {
    let mut f = Fixture::new().await;
    let receipt = sent_and_leased(&mut f, "key-1").await;
    let dtv = receipt.recipients[0].delivery_id.clone();
    let ngo = receipt.recipients[1].delivery_id.clone();
    // Change the stored signal behind the writer's back: an acknowledgement that read its
    // copy's signal again would record the new type.
    sqlx::query("UPDATE signals SET signal_type = 'Changed'")
        .execute(&f.store.pool)
        .await
        .unwrap();

    let (leased, leased_rx) = ack(DTV, &[&dtv]);
    let (read_back, read_back_rx) = ack(NGO, &[&ngo]);
    f.commit(vec![leased, read_back]).await;

    assert_eq!(leased_rx.await.unwrap().unwrap(), 1);
    assert_eq!(read_back_rx.await.unwrap().unwrap(), 1);
    // DT&V's copy, leased by this writer, from memory; the NGO's, never streamed, read back.
    assert_eq!(
        acknowledged_types(&f).await,
        [Some("Intake".to_string()), Some("Changed".to_string())]
    );
    let filter = AuditFilter {
        event: Some("delivery_acknowledged".into()),
        limit: 1,
        ..AuditFilter::default()
    };
    let first = &f.store.audit_records(&filter).await.unwrap()[0]
        .record
        .event;
    assert_eq!(first.delivery_id.as_deref(), Some(dtv.as_str()));
    assert_eq!(first.counterparty, Some(oin(SENDER)));
    assert_eq!(first.purpose.as_deref(), Some("RETURN"));
    assert_eq!(first.subject.case_ref_hash, Some("c".repeat(64)));

    // Acknowledged: forgotten, so a second acknowledgement reads it back and counts nothing.
    let (again, again_rx) = ack(DTV, &[&dtv]);
    f.commit(vec![again]).await;
    assert_eq!(again_rx.await.unwrap().unwrap(), 0);
    assert_eq!(f.verification().await.first_problem, None);
}

#[tokio::test]
async fn a_leased_copy_that_expired_is_refused_and_one_of_another_recipient_unknown() {
    let mut f = Fixture::new().await;
    let receipt = sent_and_leased(&mut f, "key-1").await;
    let dtv = receipt.recipients[0].delivery_id.clone();

    // Not DT&V's to acknowledge for the NGO, though the writer remembers it:
    let (not_theirs, not_theirs_rx) = ack(NGO, &[&dtv]);
    let (reply, expired_rx) = oneshot::channel();
    let expire = Job::Expire {
        cutoff: now_ms() + 1,
        audit: AuditEvent::new(EventKind::DeliveryExpired, Outcome::Ok),
        reply,
    };
    f.commit(vec![not_theirs, expire]).await;
    assert!(matches!(
        not_theirs_rx.await.unwrap(),
        Err(StoreError::UnknownDelivery(id)) if id == dtv
    ));
    assert_eq!(expired_rx.await.unwrap().unwrap().len(), 2);

    let (late, late_rx) = ack(DTV, &[&dtv]);
    f.commit(vec![late]).await;
    assert!(matches!(
        late_rx.await.unwrap(),
        Err(StoreError::Expired(id)) if id == dtv
    ));
}
