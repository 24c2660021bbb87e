//! The writer applied to one exact batch: what a job sees of the jobs before it in the same
//! transaction, and an audit chain that verifies however the rows were split into statements.

use std::{sync::Arc, time::Duration};

use tempfile::TempDir;
use tokio::sync::oneshot;

use super::{Job, ReadyEvent, Sent, Writer};
use crate::{
    audit::{
        AuditEvent, EventKind, Outcome, Subject,
        keys::{self, Signer},
        verify::{Verification, Verifier},
    },
    clock::now_ms,
    ids::Oin,
    store::{
        AuditFilter, Lease, NewDelivery, NewSignal, PendingDelivery, Receipt, SendOutcome, Store,
        StoreError, Table, WriterSettings,
    },
    store::{link::Link, wakeups::Notifier},
};

const SENDER: &str = "00000099300000010000";
const DTV: &str = "00000099100000010000";
const NGO: &str = "00000099500000010000";

/// A store (for migrations and reads) and a second writer on its database, driven by hand.
struct Fixture {
    _dir: TempDir,
    store: Store,
    writer: Writer,
    signer: Arc<Signer>,
    notifier: Arc<Notifier>,
}

impl Fixture {
    /// A fixture on a fresh SQLite database.
    async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        Fixture::on(dir, &url).await
    }

    /// A fixture on the database at `url`; `dir` holds the signing key.
    async fn on(dir: TempDir, url: &str) -> Fixture {
        let key = dir.path().join("signing.key");
        std::fs::write(&key, keys::generate_signing_key().unwrap()).unwrap();
        let signer = Arc::new(Signer::load(&key).unwrap());
        let settings = WriterSettings {
            erase_on_ack: true,
            signer: signer.clone(),
            checkpoint_every_records: 1000,
            checkpoint_every: Duration::from_secs(3600),
        };
        let notifier = Arc::new(Notifier::default());
        let store = Store::open(url, notifier.clone(), settings.clone())
            .await
            .unwrap();
        let backend = store.backend();
        let link = Link::open(backend, url).await.unwrap();
        let writer = Writer::new(backend, link, notifier.clone(), settings);
        Fixture {
            _dir: dir,
            store,
            writer,
            signer,
            notifier,
        }
    }

    /// Commits `jobs` as one batch.
    async fn commit(&mut self, jobs: Vec<Job>) {
        self.writer.commit(jobs).await;
    }

    async fn audit_events(&self) -> Vec<(EventKind, Outcome)> {
        let filter = AuditFilter {
            limit: 100_000,
            ..AuditFilter::default()
        };
        let records = self.store.audit_records(&filter).await.unwrap();
        records
            .iter()
            .map(|r| (r.record.event.event, r.record.event.outcome))
            .collect()
    }

    /// The whole chain, verified.
    async fn verification(&self) -> Verification {
        let filter = AuditFilter {
            limit: 100_000,
            ..AuditFilter::default()
        };
        let records = self.store.audit_records(&filter).await.unwrap();
        let key = self.signer.public();
        let checkpoints = self.store.checkpoints().await.unwrap();
        let mut verifier = Verifier::new(&key, checkpoints, false);
        for record in &records {
            verifier.push(record);
        }
        verifier.finish()
    }

    /// The receipt of a newly committed signal, signed as `Store::send` signs it.
    fn accepted(&self, sent: Sent) -> Receipt {
        match sent {
            Sent::Accepted(facts) => facts.sign(&self.signer),
            _ => panic!("not accepted"),
        }
    }

    /// The receipt answering a resend, as `Store::send` makes it.
    async fn duplicate(&self, sent: Sent) -> Receipt {
        match self.store.outcome(sent).await.unwrap() {
            SendOutcome::Duplicate(receipt) => receipt,
            _ => panic!("the resend is not answered as a duplicate"),
        }
    }
}

fn oin(text: &str) -> Oin {
    text.parse().unwrap()
}

/// An intake from [`SENDER`] to DT&V and the NGO with idempotency key `key`; `content` stands
/// for the envelope.
fn signal(key: &str, content: &str) -> NewSignal {
    let id = uuid::Uuid::now_v7().to_string();
    let mut base = AuditEvent::new(EventKind::SignalAccepted, Outcome::Ok);
    base.actor = Some(oin(SENDER));
    base.signal_id = Some(id.clone());
    let mut audit = vec![base.clone()];
    let mut deliveries = Vec::new();
    for recipient in [DTV, NGO] {
        let mut created = base.clone();
        created.event = EventKind::DeliveryCreated;
        created.counterparty = Some(oin(recipient));
        audit.push(created);
        deliveries.push(NewDelivery {
            id: uuid::Uuid::now_v7().to_string(),
            recipient: oin(recipient),
            purposes: vec!["RETURN".into()],
            withheld: vec!["person.bsn".into()],
            payload: content.as_bytes().to_vec(),
        });
    }
    let mut resent = base;
    resent.event = EventKind::SignalResent;
    resent.signal_id = None;
    let mut content_hash = [0; 32];
    content_hash[..content.len()].copy_from_slice(content.as_bytes());
    NewSignal {
        id,
        sender: oin(SENDER),
        idempotency_key: key.into(),
        content_hash,
        signal_type: "Intake".into(),
        purpose: "INTAKE".into(),
        case_ref: "LVV-TEST-0001".into(),
        rule: "intake".into(),
        policy_version: "test".into(),
        accepted_at: now_ms(),
        deliveries,
        audit,
        resent_audit: resent,
        subject: Subject {
            case_ref_hash: Some("c".repeat(64)),
            subject_key_id: Some("dev-1".into()),
            ..Subject::default()
        },
        counters: Vec::new(),
    }
}

type Reply<T> = oneshot::Receiver<Result<T, StoreError>>;

fn send(mut signal: NewSignal) -> (Job, Reply<Sent>) {
    let (tx, rx) = oneshot::channel();
    let audit = std::mem::take(&mut signal.audit);
    let audit = audit.into_iter().map(ReadyEvent::new).collect();
    (Job::Send(Box::new((signal, audit)), tx), rx)
}

fn ack(recipient: &str, ids: &[&str]) -> (Job, Reply<u32>) {
    let (reply, rx) = oneshot::channel();
    let job = Job::Ack {
        recipient: oin(recipient),
        ids: ids.iter().map(|id| id.to_string()).collect(),
        audit: AuditEvent::new(EventKind::DeliveryAcknowledged, Outcome::Ok),
        reply,
    };
    (job, rx)
}

#[tokio::test]
async fn a_resend_in_the_same_batch_sees_the_first_send() {
    let mut f = Fixture::new().await;
    let (first, first_rx) = send(signal("key-1", "content a"));
    let (again, again_rx) = send(signal("key-1", "content a"));
    let (changed, changed_rx) = send(signal("key-1", "content b"));
    f.commit(vec![first, again, changed]).await;

    let receipt = f.accepted(first_rx.await.unwrap().unwrap());
    let duplicate = f.duplicate(again_rx.await.unwrap().unwrap()).await;
    assert!(duplicate.duplicate);
    // As the stored signal reads back: same id, recipients, sequence number and signature.
    let stored = f
        .store
        .receipt(&oin(SENDER), &receipt.signal_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, receipt);
    assert_eq!(
        duplicate,
        Receipt {
            duplicate: true,
            ..stored
        }
    );
    assert!(matches!(changed_rx.await.unwrap().unwrap(), Sent::Conflict));
    assert_eq!(f.store.count(Table::Signals).await.unwrap(), 1);
    assert_eq!(f.store.count(Table::Deliveries).await.unwrap(), 2);
    use EventKind::*;
    assert_eq!(
        f.audit_events().await,
        vec![
            (SignalAccepted, Outcome::Ok),
            (DeliveryCreated, Outcome::Ok),
            (DeliveryCreated, Outcome::Ok),
            (SignalResent, Outcome::Ok),
            (SignalResent, Outcome::Refused),
        ]
    );
}

#[tokio::test]
async fn a_resend_in_a_later_batch_gets_the_stored_receipt() {
    let mut f = Fixture::new().await;
    let (first, first_rx) = send(signal("key-1", "content a"));
    f.commit(vec![first]).await;
    let receipt = f.accepted(first_rx.await.unwrap().unwrap());
    let (again, again_rx) = send(signal("key-1", "content a"));
    let (other, other_rx) = send(signal("key-2", "content a"));
    f.commit(vec![again, other]).await;
    let duplicate = f.duplicate(again_rx.await.unwrap().unwrap()).await;
    assert_eq!(
        duplicate,
        Receipt {
            duplicate: true,
            ..receipt
        }
    );
    f.accepted(other_rx.await.unwrap().unwrap());
    assert_eq!(f.store.count(Table::Signals).await.unwrap(), 2);
}

#[tokio::test]
async fn acks_in_one_batch_count_each_delivery_once() {
    let mut f = Fixture::new().await;
    let (job, rx) = send(signal("key-1", "content a"));
    f.commit(vec![job]).await;
    let receipt = f.accepted(rx.await.unwrap().unwrap());
    let dtv = receipt.recipients[0].delivery_id.as_str();
    let ngo = receipt.recipients[1].delivery_id.as_str();

    let (twice, twice_rx) = ack(DTV, &[dtv, dtv]);
    let (again, again_rx) = ack(DTV, &[dtv]);
    let (not_theirs, not_theirs_rx) = ack(DTV, &[ngo]);
    let (with_unknown, with_unknown_rx) = ack(NGO, &[ngo, "no-such-delivery"]);
    let (ngo_acks, ngo_rx) = ack(NGO, &[ngo]);
    f.commit(vec![twice, again, not_theirs, with_unknown, ngo_acks])
        .await;

    assert_eq!(twice_rx.await.unwrap().unwrap(), 1);
    assert_eq!(again_rx.await.unwrap().unwrap(), 0);
    assert!(matches!(
        not_theirs_rx.await.unwrap(),
        Err(StoreError::UnknownDelivery(id)) if id == ngo
    ));
    assert!(matches!(
        with_unknown_rx.await.unwrap(),
        Err(StoreError::UnknownDelivery(id)) if id == "no-such-delivery"
    ));
    assert_eq!(ngo_rx.await.unwrap().unwrap(), 1);
    assert!(
        f.store
            .pending(&oin(DTV), "reader", 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        f.store
            .pending(&oin(NGO), "reader", 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let acks = f
        .audit_events()
        .await
        .into_iter()
        .filter(|(event, _)| *event == EventKind::DeliveryAcknowledged)
        .count();
    assert_eq!(acks, 2);
}

#[tokio::test]
async fn the_chain_verifies_when_a_batch_is_split_into_several_statements() {
    let mut f = Fixture::new().await;
    // 22 columns per audit row: 3000 records take three statements under SQLite's limit of
    // 32766 bound parameters.
    let (reply, audit_rx) = oneshot::channel();
    let events = (0..3000)
        .map(|_| ReadyEvent::new(AuditEvent::new(EventKind::AuditRead, Outcome::Ok)))
        .collect();
    let mut jobs = vec![Job::Audit(events, reply)];
    let mut replies = Vec::new();
    for n in 0..256 {
        let (job, rx) = send(signal(&format!("key-{n}"), "content a"));
        jobs.push(job);
        replies.push(rx);
    }
    f.commit(jobs).await;
    audit_rx.await.unwrap().unwrap();
    for rx in replies {
        f.accepted(rx.await.unwrap().unwrap());
    }
    assert_eq!(f.store.count(Table::Deliveries).await.unwrap(), 512);
    let verification = f.verification().await;
    assert_eq!(verification.first_problem, None);
    assert_eq!(verification.records, 3768);
    // Past 1000 records: the batch carries a signed checkpoint of its head.
    assert_eq!(verification.checkpoints, 1);
}

mod acked;
mod erasure;
mod handover;
mod isolation;
mod leases;
