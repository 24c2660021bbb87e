//! One job's failure is that job's alone: a job that fails its writer transaction fails the
//! batch, every job of it is retried alone, and only the failing one is refused. On SQLite,
//! and on PostgreSQL when a server is there (`KETENPOORT_TEST_POSTGRES_URL`, required when
//! `KETENPOORT_REQUIRE_POSTGRES` is set, as `.ci/run` sets it).

use sqlx::{Connection, Executor, PgConnection};

use super::*;

/// A database of the test's own on the PostgreSQL server, or `None` when there is none and
/// none is required.
async fn postgres_database() -> Option<(String, String)> {
    let server = std::env::var("KETENPOORT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://ketenpoort:ketenpoort@127.0.0.1:5432/postgres".into());
    let mut admin = match PgConnection::connect(&server).await {
        Ok(conn) => conn,
        Err(e) if std::env::var_os("KETENPOORT_REQUIRE_POSTGRES").is_none() => {
            eprintln!("PostgreSQL part skipped: no server at {server} ({e})");
            return None;
        }
        Err(e) => panic!("KETENPOORT_REQUIRE_POSTGRES is set but {server} fails: {e}"),
    };
    let name = format!("ketenpoort_unit_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .unwrap();
    let (base, _) = server.rsplit_once('/').unwrap();
    Some((server.clone(), format!("{base}/{name}")))
}

async fn drop_database(server: &str, url: &str) {
    let (_, name) = url.rsplit_once('/').unwrap();
    let mut admin = PgConnection::connect(server).await.unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .await
        .unwrap();
}

/// The same poisoned job in one exact batch (everything in it fails, as retryable) and alone
/// (it fails by itself, with the database's error).
async fn a_poisoned_batch_is_answered_as_retryable(f: &mut Fixture) {
    let (first, first_rx) = send(signal("key-0", "content 0"));
    f.commit(vec![first]).await;
    let taken = f.accepted(first_rx.await.unwrap().unwrap()).signal_id;

    let mut poison = signal("key-poison", "poison");
    poison.id = taken.clone();
    let (honest, honest_rx) = send(signal("key-1", "content 1"));
    let (poisoned, poisoned_rx) = send(poison.clone());
    f.commit(vec![honest, poisoned]).await;
    assert!(matches!(
        honest_rx.await.unwrap(),
        Err(StoreError::BatchFailed)
    ));
    assert!(matches!(
        poisoned_rx.await.unwrap(),
        Err(StoreError::BatchFailed)
    ));

    let (alone, alone_rx) = send(poison);
    f.commit(vec![alone]).await;
    match alone_rx.await.unwrap() {
        Err(StoreError::Corrupt(reason)) => assert!(reason.starts_with("not committed: database")),
        _ => panic!("the poisoned job alone was not refused with the database's error"),
    }
}

/// Honest sends, an acknowledgement and audit events queued beside a send whose signal id is
/// taken (it fails inside the transaction) and one with a NUL in its purpose (refused before
/// it): all but the two commit, and the chain verifies.
async fn honest_jobs_commit_beside_a_poisoned_one(f: &Fixture) {
    let first = f
        .store
        .send(signal("key-a", "content a"), || None)
        .await
        .unwrap();
    let crate::store::SendOutcome::Accepted(first) = first else {
        panic!("the first send was not accepted")
    };
    let mut taken = signal("key-taken", "taken id");
    taken.id = first.signal_id.clone();
    let mut nul = signal("key-nul", "nul purpose");
    nul.purpose = "INTAKE\0".into();
    let honest: Vec<_> = (1..=8)
        .map(|i| {
            let store = f.store.clone();
            tokio::spawn(async move {
                let signal = signal(&format!("key-{i}"), &format!("content {i}"));
                // Its batch fails for the poisoned job's sake: sent again, alone.
                store.send(signal.clone(), || Some(signal)).await
            })
        })
        .collect();
    let dtv = oin(DTV);
    let ack = f.store.ack(
        &dtv,
        vec![first.recipients[0].delivery_id.clone()],
        AuditEvent::new(EventKind::DeliveryAcknowledged, Outcome::Ok),
    );
    let audit = f.store.audit(vec![AuditEvent::new(
        EventKind::SignalRefused,
        Outcome::Refused,
    )]);
    let (taken, nul, acked, audited) = tokio::join!(
        f.store.send(taken.clone(), || Some(taken)),
        f.store.send(nul.clone(), || Some(nul)),
        ack,
        audit
    );
    assert!(
        matches!(taken, Err(StoreError::Corrupt(_))),
        "a taken signal id must fail"
    );
    assert!(matches!(nul, Err(StoreError::Invalid("purpose"))));
    for sent in honest {
        let sent = sent.await.unwrap();
        assert!(matches!(sent, Ok(crate::store::SendOutcome::Accepted(_))));
    }
    assert_eq!(acked.unwrap(), 1);
    audited.unwrap();
    assert_eq!(f.store.count(Table::Signals).await.unwrap(), 9);
    assert_eq!(f.verification().await.first_problem, None);
}

#[tokio::test]
async fn one_jobs_failure_is_that_jobs_alone_on_sqlite() {
    let mut f = Fixture::new().await;
    a_poisoned_batch_is_answered_as_retryable(&mut f).await;
    let f = Fixture::new().await;
    honest_jobs_commit_beside_a_poisoned_one(&f).await;
}

#[tokio::test]
async fn one_jobs_failure_is_that_jobs_alone_on_postgres() {
    for part in 0..2 {
        let Some((server, url)) = postgres_database().await else {
            return;
        };
        let mut f = Fixture::on(tempfile::tempdir().unwrap(), &url).await;
        if part == 0 {
            a_poisoned_batch_is_answered_as_retryable(&mut f).await;
        } else {
            honest_jobs_commit_beside_a_poisoned_one(&f).await;
        }
        f.store.close().await;
        drop_database(&server, &url).await;
    }
}
