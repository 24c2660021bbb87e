//! Benchmark: a privacy officer's query by case over a large audit log.
//!
//! Scenario `audit_query_by_case_1m_records`: an audit log of 1,000,000 records about 50,000
//! cases (20 records each, the size of a case with a handful of signals), then `Query` by
//! case reference — hashed server-side and answered through the `audit_by_case` and
//! `audit_by_subject` indexes, which hold each signal's acceptance, and `audit_by_signal`,
//! which holds the records about its copies (four per signal here) — measured two ways: through the store alone, and end to end
//! through `AuditService.Query` over mutual TLS with an officer's JWT. Target: under 50 ms.
//!
//! The records are bulk-inserted with fake hashes (their chain does not verify); the query
//! does not look at the chain, and building a real chain of a million records would make the
//! benchmark slow to set up without changing what it measures. Run with
//! `cargo bench --bench audit_query`; it prints a table and appends to target/bench-results.csv.

// Test code: a failed unwrap is a failed test or benchmark, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::Write as _,
    path::Path,
    time::{Duration, Instant},
};

use ketenpoort::{
    api::proto::{QueryRequest, audit_service_client::AuditServiceClient},
    audit::keys::SubjectKeys,
    config::Config,
    registry, server,
    store::AuditFilter,
};
use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection};

/// Records in the log: the target size.
const RECORDS: i64 = 1_000_000;
/// Records per case.
const PER_CASE: i64 = 20;
/// Records per signal: its acceptance and four about its copies.
const SIGNAL_RECORDS: i64 = 5;
/// Rows per INSERT statement: 11 parameters each stays below SQLite's 32,766 limit.
const ROWS_PER_STATEMENT: i64 = 2_000;
/// Queries measured per way; enough for a stable p99.
const QUERIES: usize = 200;

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let defs = registry::load_definitions(Path::new("config/partners.toml")).unwrap();
    ketenpoort::identity::dev_pki::ensure(&pki, &defs, false).unwrap();
    let partners = dir.path().join("partners.toml");
    let text = std::fs::read_to_string("config/partners.toml").unwrap();
    std::fs::write(
        &partners,
        text.replace("var/dev-pki/", &format!("{}/", pki.display())),
    )
    .unwrap();
    let config = Config::local(dir.path(), &pki, partners);

    // Create the schema (and seed the registry), then fill the log directly.
    server::start(&config).await.unwrap().shutdown().await;
    let keys = SubjectKeys::load(
        &[(
            "dev-1".into(),
            pki.join(ketenpoort::identity::dev_pki::DEV_SUBJECT_KEY),
        )],
        "dev-1",
    )
    .unwrap();
    let started = Instant::now();
    fill(&config.store.url, &keys).await;
    let fill_time = started.elapsed();

    let gateway = server::start(&config).await.unwrap();
    let case = |i: usize| {
        format!(
            "LVV-BENCH-{:06}",
            (i * 7919) % (RECORDS / PER_CASE) as usize
        )
    };
    let mut store_times = Vec::with_capacity(QUERIES);
    for i in 0..QUERIES {
        let filter = AuditFilter {
            about: Some(keys.all_hashes(&case(i))),
            limit: 1000,
            ..AuditFilter::default()
        };
        let t = Instant::now();
        let found = gateway.store().audit_records(&filter).await.unwrap();
        store_times.push(t.elapsed());
        assert_eq!(
            found.len() as i64,
            PER_CASE,
            "every case has {PER_CASE} records"
        );
    }

    let channel = ketenpoort::api::client::ClientTls::dev(&pki, "programma-fg")
        .channel(&format!(
            "https://localhost:{}",
            gateway.local_addr().port()
        ))
        .await
        .unwrap();
    let mut client = AuditServiceClient::new(channel);
    let token = ketenpoort::identity::person::mint(
        &pki.join("programma-fg-jwt.key"),
        "bench@example.invalid",
        "ketenpoort",
        60,
    )
    .unwrap();
    let mut grpc_times = Vec::with_capacity(QUERIES);
    for i in 0..QUERIES {
        let mut request = tonic::Request::new(QueryRequest {
            case_ref: case(i),
            ..Default::default()
        });
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let t = Instant::now();
        let found = client.query(request).await.unwrap().into_inner().records;
        grpc_times.push(t.elapsed());
        // The case's records, plus this benchmark's own earlier reads of the same case.
        assert!(found.len() as i64 >= PER_CASE);
    }
    gateway.shutdown().await;

    println!(
        "audit log: {RECORDS} records, {} cases, filled in {:.1} s",
        RECORDS / PER_CASE,
        fill_time.as_secs_f64()
    );
    println!(
        "{:<44} {:>9} {:>9} {:>9}",
        "scenario", "p50 ms", "p99 ms", "max ms"
    );
    let mut csv = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open("target/bench-results.csv")
        .ok();
    for (name, times) in [
        ("audit_query_by_case_1m_records/store", store_times),
        ("audit_query_by_case_1m_records/grpc_mtls", grpc_times),
    ] {
        let (p50, p99, max) = percentiles(times);
        println!("{name:<44} {p50:>9.2} {p99:>9.2} {max:>9.2}");
        if let Some(csv) = csv.as_mut() {
            let _ = writeln!(
                csv,
                "audit_query,{name},{QUERIES},{p50:.3},{p99:.3},{max:.3}"
            );
        }
    }
}

/// Inserts `RECORDS` audit records about `RECORDS / PER_CASE` cases after what is there.
async fn fill(url: &str, keys: &SubjectKeys) {
    let mut conn = SqliteConnection::connect(url).await.unwrap();
    let first: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM audit_log")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let cases: Vec<String> = (0..RECORDS / PER_CASE)
        .map(|c| keys.hash(&format!("LVV-BENCH-{c:06}")))
        .collect();
    sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
    for chunk in (0..RECORDS)
        .collect::<Vec<_>>()
        .chunks(ROWS_PER_STATEMENT as usize)
    {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO audit_log (seq, id, at, event, outcome, signal_id, delivery_id, case_ref_hash, detail, prev_hash, hash) ",
        );
        q.push_values(chunk, |mut row, i| {
            let seq = first + 1 + i;
            // Per case, signals of SIGNAL_RECORDS records: its acceptance, then records about
            // its copies, found through the signal (migration 0010).
            let case = i % (RECORDS / PER_CASE);
            let nth = i / (RECORDS / PER_CASE);
            let signal = format!("bench-signal-{case}-{}", nth / SIGNAL_RECORDS);
            let accepted = nth % SIGNAL_RECORDS == 0;
            row.push_bind(seq)
                .push_bind(format!("bench-{seq}"))
                .push_bind(1_790_000_000_000 + i)
                .push_bind(if accepted {
                    "signal_accepted"
                } else {
                    "delivery_created"
                })
                .push_bind("ok")
                .push_bind(signal)
                .push_bind((!accepted).then(|| format!("bench-delivery-{seq}")))
                .push_bind(cases[case as usize].clone())
                .push_bind("{}")
                .push_bind("0")
                .push_bind("0");
        });
        q.build().execute(&mut conn).await.unwrap();
    }
    sqlx::query("COMMIT").execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

fn percentiles(mut times: Vec<Duration>) -> (f64, f64, f64) {
    times.sort();
    let at = |q: f64| {
        times[((times.len() as f64 * q) as usize).min(times.len() - 1)].as_secs_f64() * 1000.0
    };
    (at(0.50), at(0.99), at(1.0))
}
