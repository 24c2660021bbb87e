//! New copies handed over to a parked stream in their `Send`'s own commit: leased to it and
//! audited as streamed there, and only while nothing happened to the recipient since the
//! stream last looked.

use tokio::sync::mpsc;

use super::{leases::streamed, *};
use crate::{clock::Clock, store::wakeups::Parked};

/// Until when the stream `holder` of DT&V may park now.
async fn quiet(f: &Fixture, holder: &str) -> Option<i64> {
    f.store
        .quiet_until(&oin(DTV), holder, now_ms())
        .await
        .unwrap()
}

/// Parks the stream `holder` of DT&V as having seen its wake-ups so far, with nothing of DT&V
/// falling back into the queue before `quiet_until` and room for `room` copies not yet sent
/// on; returns where its handed-over copies arrive.
fn park_until(
    f: &Fixture,
    holder: &str,
    quiet_until: i64,
    room: usize,
) -> mpsc::Receiver<PendingDelivery> {
    let (handoff, handed) = mpsc::channel(room);
    let parked = Parked {
        holder: holder.into(),
        seen: f.notifier.wakes(&oin(DTV)),
        quiet_until,
        lease_ms: 60_000,
        clock: Clock::system(),
        audit: AuditEvent::new(EventKind::DeliveryStreamed, Outcome::Ok),
        handoff,
    };
    assert!(f.notifier.park(&oin(DTV), parked));
    handed
}

/// Parks the stream `holder` of DT&V as a stream that found nothing to send does.
async fn park(f: &Fixture, holder: &str) -> mpsc::Receiver<PendingDelivery> {
    let quiet_until = quiet(f, holder).await;
    let quiet_until = quiet_until.expect("nothing of DT&V waits or is elsewhere");
    park_until(f, holder, quiet_until, 16)
}

/// Commits one signal to DT&V and the NGO; returns its DT&V delivery id.
async fn send_one(f: &mut Fixture, key: &str) -> String {
    let (job, rx) = send(signal(key, "content a"));
    f.commit(vec![job]).await;
    let receipt = f.accepted(rx.await.unwrap().unwrap());
    receipt
        .recipients
        .iter()
        .find(|r| r.recipient == DTV)
        .map(|r| r.delivery_id.clone())
        .unwrap()
}

#[tokio::test]
async fn a_new_copy_is_leased_to_the_parked_stream_in_its_sends_commit() {
    let mut f = Fixture::new().await;
    let mut handed = park(&f, "stream-1").await;
    let _ngo_stream = f.notifier.handle(&oin(NGO));
    let (dtv_wakes, ngo_wakes) = (f.notifier.wakes(&oin(DTV)), f.notifier.wakes(&oin(NGO)));

    let id = send_one(&mut f, "key-1").await;

    let copy = handed
        .try_recv()
        .expect("the copy is handed over after the commit");
    assert_eq!(copy.id, id);
    assert_eq!(copy.payload, b"content a");
    assert_eq!(copy.case_ref, "LVV-TEST-0001");
    // DT&V's stream has it already; the NGO, with no stream parked, is woken to look.
    assert_eq!(f.notifier.wakes(&oin(DTV)), dtv_wakes);
    assert_eq!(f.notifier.wakes(&oin(NGO)), ngo_wakes + 1);
    // Leased to the stream in the database: no other stream takes it until the lease ends,
    // and then it counts one attempt.
    let now = now_ms();
    let other = f
        .store
        .pending(&oin(DTV), "stream-2", now, 10)
        .await
        .unwrap();
    assert!(other.is_empty());
    let dtv = oin(DTV);
    let later = f
        .store
        .pending(&dtv, "stream-2", now + 61_000, 10)
        .await
        .unwrap();
    assert_eq!((later[0].id.as_str(), later[0].attempts), (id.as_str(), 1));
    let events = f.audit_events().await;
    assert!(events.contains(&(EventKind::DeliveryStreamed, Outcome::Ok)));
    assert_eq!(f.verification().await.first_problem, None);
}

#[tokio::test]
async fn a_stream_woken_since_it_looked_is_handed_nothing() {
    let mut f = Fixture::new().await;
    let mut handed = park(&f, "stream-1").await;
    // Something happened to DT&V after the stream looked (another gateway task's commit):
    f.notifier.wake(&oin(DTV));

    let id = send_one(&mut f, "key-1").await;

    assert!(handed.try_recv().is_err());
    let dtv = oin(DTV);
    let waiting = f
        .store
        .pending(&dtv, "stream-1", now_ms(), 10)
        .await
        .unwrap();
    assert_eq!(
        (waiting[0].id.as_str(), waiting[0].attempts),
        (id.as_str(), 0)
    );
    assert!(
        !f.audit_events()
            .await
            .contains(&(EventKind::DeliveryStreamed, Outcome::Ok))
    );
}

#[tokio::test]
async fn a_stream_parks_only_when_nothing_else_of_its_recipient_waits_or_is_in_flight() {
    let mut f = Fixture::new().await;
    send_one(&mut f, "key-1").await;
    // Waiting for a stream:
    assert_eq!(quiet(&f, "stream-1").await, None);

    let dtv = oin(DTV);
    let pending = f
        .store
        .pending(&dtv, "stream-2", now_ms(), 10)
        .await
        .unwrap();
    let (job, rx) = streamed(pending, "stream-2");
    f.commit(vec![job]).await;
    assert_eq!(rx.await.unwrap().unwrap().len(), 1);
    // In flight on another stream, which may hold back a later copy of the same case:
    assert_eq!(quiet(&f, "stream-1").await, None);
    // The stream holding it may park, until its lease ends:
    let now = now_ms();
    let until = quiet(&f, "stream-2").await;
    assert!(until.is_some_and(|until| until > now && until <= now_ms() + 60_000));
}

#[tokio::test]
async fn a_parked_stream_is_handed_nothing_once_its_earliest_lease_may_have_ended() {
    let mut f = Fixture::new().await;
    // A copy it holds was leased until a moment ago: it may be waiting again.
    let mut handed = park_until(&f, "stream-1", now_ms() - 1, 16);

    send_one(&mut f, "key-1").await;

    assert!(handed.try_recv().is_err());
    let waiting = f.store.pending(&oin(DTV), "x", now_ms(), 10).await;
    assert_eq!(waiting.unwrap().len(), 1);
}

#[tokio::test]
async fn a_parked_stream_whose_client_is_slow_is_handed_no_more_than_it_has_room_for() {
    let mut f = Fixture::new().await;
    let quiet_until = quiet(&f, "stream-1").await.unwrap();
    let mut handed = park_until(&f, "stream-1", quiet_until, 1);
    let wakes = f.notifier.wakes(&oin(DTV));

    let first = send_one(&mut f, "key-1").await;
    let second = send_one(&mut f, "key-2").await;

    // The first filled the stream's channel; the second waits in the database, and the
    // stream is woken to look for it once it has sent the first on.
    assert_eq!(handed.try_recv().unwrap().id, first);
    assert!(handed.try_recv().is_err());
    assert_eq!(f.notifier.wakes(&oin(DTV)), wakes + 1);
    let waiting = f.store.pending(&oin(DTV), "stream-1", now_ms(), 10).await;
    let waiting: Vec<String> = waiting.unwrap().into_iter().map(|d| d.id).collect();
    assert_eq!(waiting, vec![second]);
}
