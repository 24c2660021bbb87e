//! The PostgreSQL store, and gateway replicas sharing one database: a signal sent to one
//! replica reaches a subscriber of another, concurrent sends to both keep one intact audit
//! chain and one answer per idempotency key, and a revocation made through one replica closes
//! a stream on the other within 5 s; the programme monitor counts and reports as on SQLite.
//!
//! Each test makes a database of its own on the server at `KETENPOORT_TEST_POSTGRES_URL`
//! (default: the one `.ci/postgres` starts) and drops it afterwards. Without a server the tests
//! say so and pass, unless `KETENPOORT_REQUIRE_POSTGRES` is set, as `.ci/run` sets it.

use std::time::Duration;

use ketenpoort::{
    api::proto::{
        AckRequest, RevokeCertificateRequest, SubscribeResponse, VerifyRequest,
        admin_service_client::AdminServiceClient, audit_service_client::AuditServiceClient,
        signal_service_client::SignalServiceClient,
    },
    database::Backend,
    store::{AuditFilter, Table},
};
use rustls::AlertDescription;
use sqlx::{Connection, Executor, PgConnection};
use tokio_stream::StreamExt;
use tonic::Streaming;

use crate::{
    leases::{drain, ids},
    support::{Harness, INTAKE, handshake_on, next_delivery, subscribe},
};

const DEFAULT_URL: &str = "postgres://ketenpoort:ketenpoort@127.0.0.1:5432/postgres";
const WAIT: Duration = Duration::from_secs(5);

/// A database of the test's own, dropped by [`TestDatabase::drop`].
struct TestDatabase {
    server: String,
    name: String,
}

impl TestDatabase {
    /// Creates a fresh database, or `None` when no server is there and none is required.
    async fn create() -> Option<TestDatabase> {
        let server =
            std::env::var("KETENPOORT_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.into());
        let mut admin = match PgConnection::connect(&server).await {
            Ok(conn) => conn,
            Err(e) if std::env::var_os("KETENPOORT_REQUIRE_POSTGRES").is_none() => {
                eprintln!(
                    "PostgreSQL tests skipped: no server at {server} ({e}); run .ci/postgres"
                );
                return None;
            }
            Err(e) => panic!("KETENPOORT_REQUIRE_POSTGRES is set but {server} fails: {e}"),
        };
        let name = format!("ketenpoort_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
        Some(TestDatabase { server, name })
    }

    /// The URL of the test's database.
    fn url(&self) -> String {
        let (base, _) = self.server.rsplit_once('/').unwrap();
        format!("{base}/{}", self.name)
    }

    async fn drop(self) {
        let mut admin = PgConnection::connect(&self.server).await.unwrap();
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .await
            .unwrap();
    }
}

async fn verify(h: &Harness, port: u16) -> ketenpoort::api::proto::VerifyResponse {
    let mut fg = AuditServiceClient::new(h.channel_on(port, "programma-fg").await);
    fg.verify(h.with_token("programma-fg", "fg@programma.example", VerifyRequest {}))
        .await
        .unwrap()
        .into_inner()
}

/// Gateways A and B on `db`, and DT&V subscribed on B, caught up: (harness, A's port, B's
/// port, the stream).
async fn two_replicas(db: &TestDatabase) -> (Harness, u16, u16, Streaming<SubscribeResponse>) {
    let mut h = Harness::start_on(&db.url()).await;
    let a = h.port();
    let b = h.start_replica().await;
    let mut dtv_b = SignalServiceClient::new(h.channel_on(b, "dtv").await);
    let mut stream = subscribe(&mut dtv_b).await;
    let marker = stream.next().await.unwrap().unwrap();
    assert!(marker.caught_up, "{marker:?}");
    (h, a, b, stream)
}

#[tokio::test]
async fn a_signal_crosses_a_gateway_on_postgres_and_the_log_verifies() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let mut h = Harness::start_on(&db.url()).await;
    assert_eq!(h.store().backend(), Backend::Postgres);
    let mut utrecht = h.client("gemeente-utrecht").await;
    let receipt = h
        .send_intake(&mut utrecht, "pg-1", &["dtv", "ngo-begeleiding"])
        .await;
    let again = h
        .send_intake(&mut utrecht, "pg-1", &["dtv", "ngo-begeleiding"])
        .await;
    assert!(again.duplicate && again.signal_id == receipt.signal_id);

    let mut dtv = h.client("dtv").await;
    let mut stream = subscribe(&mut dtv).await;
    let delivery = next_delivery(&mut stream, WAIT).await.expect("a delivery");
    assert_eq!(delivery.signal_id, receipt.signal_id);
    let acked = dtv
        .ack(AckRequest {
            delivery_ids: vec![delivery.delivery_id.clone()],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acked.acknowledged, 1);
    drop(stream);

    // What was accepted survives a restart on the same database.
    h.restart().await;
    assert_eq!(h.store().count(Table::Signals).await.unwrap(), 1);
    assert_eq!(h.store().count(Table::Deliveries).await.unwrap(), 2);
    let mut ngo = h.client("ngo-begeleiding").await;
    let mut stream = subscribe(&mut ngo).await;
    let kept = next_delivery(&mut stream, WAIT)
        .await
        .expect("the NGO's copy");
    assert_eq!(kept.signal_id, receipt.signal_id);
    let mut dtv = h.client("dtv").await;
    let mut stream = subscribe(&mut dtv).await;
    assert!(
        next_delivery(&mut stream, Duration::from_millis(500))
            .await
            .is_none(),
        "an acknowledged delivery came back"
    );

    let verdict = verify(&h, h.port()).await;
    assert!(verdict.intact, "{}", verdict.first_problem);
    assert!(verdict.records_checked >= 6, "{verdict:?}");
    assert!(verdict.checkpoints_checked >= 1, "{verdict:?}");
    drop(h);
    db.drop().await;
}

#[tokio::test]
async fn replicas_share_deliveries_idempotency_and_one_audit_chain() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let (h, a, b, mut stream) = two_replicas(&db).await;

    // The subscriber on B hears of a signal sent through A.
    let mut utrecht_a = SignalServiceClient::new(h.channel_on(a, "gemeente-utrecht").await);
    let sent = h.send_intake(&mut utrecht_a, "through-a", &["dtv"]).await;
    let delivery = next_delivery(&mut stream, WAIT)
        .await
        .expect("the delivery on the other replica");
    assert_eq!(delivery.signal_id, sent.signal_id);

    // Concurrent sends through both replicas, and one idempotency key sent to both at once.
    let mut tasks = Vec::new();
    for (i, port) in [a, b].into_iter().cycle().take(40).enumerate() {
        let mut client = SignalServiceClient::new(h.channel_on(port, "gemeente-utrecht").await);
        let request = h.request(&format!("c-{i}"), "INTAKE", &["dtv"], "Intake", INTAKE);
        tasks.push(tokio::spawn(async move { client.send(request).await }));
    }
    for port in [a, b] {
        let mut client = SignalServiceClient::new(h.channel_on(port, "gemeente-utrecht").await);
        let request = h.request("both", "INTAKE", &["dtv"], "Intake", INTAKE);
        tasks.push(tokio::spawn(async move { client.send(request).await }));
    }
    let mut receipts = Vec::new();
    for task in tasks {
        receipts.push(task.await.unwrap().unwrap().into_inner().receipt.unwrap());
    }
    let both: Vec<_> = receipts[40..].to_vec();
    assert_eq!(both[0].signal_id, both[1].signal_id, "one signal per key");
    assert_eq!(
        both.iter().filter(|r| r.duplicate).count(),
        1,
        "exactly one replica accepted the key, the other answered with its receipt"
    );
    assert_eq!(h.store().count(Table::Signals).await.unwrap(), 42);

    // One chain: gap-free sequence numbers, every link and checkpoint checks out, from
    // either replica.
    let records = h
        .store()
        .audit_records(&AuditFilter {
            limit: 100_000,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    let seqs: Vec<i64> = records.iter().map(|r| r.record.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    for port in [a, b] {
        let verdict = verify(&h, port).await;
        assert!(verdict.intact, "{}", verdict.first_problem);
        // The stream on B and the reads themselves add records meanwhile.
        assert!(verdict.head_seq >= seqs.len() as u64, "{verdict:?}");
    }

    // A delivery streamed by B is acknowledged through A.
    let mut dtv_a = SignalServiceClient::new(h.channel_on(a, "dtv").await);
    let acked = dtv_a
        .ack(AckRequest {
            delivery_ids: vec![delivery.delivery_id.clone()],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acked.acknowledged, 1);
    drop(h);
    db.drop().await;
}

#[tokio::test]
async fn a_revocation_through_one_replica_closes_a_stream_on_another_within_5s() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let (h, a, b, mut stream) = two_replicas(&db).await;

    let pem = std::fs::read_to_string(h.pki().join("dtv.pem")).unwrap();
    let fingerprint = ketenpoort::exchange::lifecycle::inspect(&pem)
        .unwrap()
        .info
        .fingerprint
        .to_string();
    let mut admin = AdminServiceClient::new(h.channel_on(a, "beheer").await);
    let started = tokio::time::Instant::now();
    admin
        .revoke_certificate(h.with_token(
            "beheer",
            "ops@beheer.example",
            RevokeCertificateRequest {
                fingerprint,
                reason: "private key leaked".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let ended = tokio::time::timeout(WAIT, async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the stream on the other replica stayed open");
    assert!(started.elapsed() < WAIT);
    assert_eq!(
        handshake_on(&h, b, Some(("dtv.pem", "dtv.key")))
            .await
            .unwrap_err(),
        rustls::Error::AlertReceived(AlertDescription::AccessDenied)
    );
    drop(h);
    db.drop().await;
}

#[tokio::test]
async fn on_postgres_an_ack_erases_the_copy_and_a_settled_signal_is_forgotten() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let h = Harness::start_on(&db.url()).await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    let receipt = h.send_intake(&mut utrecht, "forget", &["dtv"]).await;
    let mut dtv = h.client("dtv").await;
    let id = receipt.recipients[0].delivery_id.clone();
    dtv.ack(AckRequest {
        delivery_ids: vec![id.clone()],
    })
    .await
    .unwrap();
    let mut conn = PgConnection::connect(&db.url()).await.unwrap();
    let length: i32 = sqlx::query_scalar("SELECT length(payload) FROM deliveries WHERE id = $1")
        .bind(&id)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(length, 0, "the acknowledged copy was not erased");

    h.clock.advance(Duration::from_secs(8 * 86_400));
    assert_eq!(h.gateway().forget_now().await.unwrap().signals, 1);
    assert_eq!(h.store().count(Table::Signals).await.unwrap(), 0);
    assert_eq!(h.store().count(Table::Deliveries).await.unwrap(), 0);
    assert!(verify(&h, h.port()).await.intact);
    conn.close().await.unwrap();
    drop(h);
    db.drop().await;
}

#[tokio::test]
async fn streams_of_one_endpoint_on_two_replicas_never_share_a_delivery() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let mut h = Harness::start_on(&db.url()).await;
    let b = h.start_replica().await;
    let mut dtv_a = h.client("dtv").await;
    let mut dtv_b = SignalServiceClient::new(h.channel_on(b, "dtv").await);
    let mut on_a = subscribe(&mut dtv_a).await;
    let mut on_b = subscribe(&mut dtv_b).await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    let mut sent = std::collections::HashSet::new();
    for i in 0..12 {
        let receipt = h
            .send_intake(&mut utrecht, &format!("replica-lease-{i}"), &["dtv"])
            .await;
        sent.insert(receipt.recipients[0].delivery_id.clone());
    }
    let settle = Duration::from_millis(1500);
    let (got_a, got_b) = tokio::join!(drain(&mut on_a, settle), drain(&mut on_b, settle));
    let (ids_a, ids_b) = (ids(&got_a), ids(&got_b));
    assert!(
        ids_a.is_disjoint(&ids_b),
        "both replicas streamed one delivery"
    );
    assert_eq!(&ids_a | &ids_b, sent);
    drop((on_a, on_b));
    drop(h);
    db.drop().await;
}

#[tokio::test]
async fn on_postgres_the_monitor_counts_and_reports_the_scripted_quarters() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let h = Harness::start_on(&db.url()).await;
    crate::monitor::monitor_scenario(&h).await;
    drop(h);
    db.drop().await;
}
