//! Load generator: the real gateway in this process on 127.0.0.1, real mutual TLS, a fresh
//! SQLite database and development PKI in a temporary directory per scenario. It measures what
//! DESIGN.md ("The cost of durability") reasons about: how many `Send`s per second survive an
//! fsync'd group commit, at what latency, and how fast a recipient drains its queue.
//!
//! Scenarios (names say what they measure; pass part of a name to run only those):
//!
//! - `send_unary_mtls_64_inflight`: gemeente-utrecht sends `Intake` for purpose INTAKE to dtv
//!   and ngo-begeleiding, [`IN_FLIGHT`] calls at a time over [`CHANNELS`] mTLS connections,
//!   each with a unique idempotency key. Every call commits a signal, two filtered deliveries
//!   and three hash-chained audit records before it is answered.
//! - `send_unary_mtls_1_inflight`: the same, one call at a time: the latency floor of a `Send`,
//!   which waits for its own commit (fsync) with nobody to share it with.
//! - `store_commit_64_inflight`: the commit path alone: [`IN_FLIGHT`] tasks call
//!   `Store::send` of the running gateway directly with what `Send` would commit for that intake
//!   (a signal, two deliveries, three audit records), no network, no decode, no filter. It
//!   shows what the single writer and SQLite allow, whatever the transport in front of them.
//! - `subscribe_drain`: [`DRAIN_DELIVERIES`] deliveries wait for dtv (sent beforehand, not
//!   timed); dtv subscribes, reads them all and acknowledges them in `Ack` calls of
//!   [`ACK_BATCH`] ids. Throughput is deliveries acknowledged per second; latency is that of
//!   one `Ack` call.
//!
//! Figures: a table on stdout and one CSV line per scenario appended to
//! `target/bench-results.csv` (columns in [`CSV_HEADER`]). Set `BENCH_LABEL` to tag the lines
//! (for example `before`/`after`). Peak RSS is the process's `VmHWM`, reset before each scenario
//! through `/proc/self/clear_refs`; it covers gateway and load generator together.
//!
//! Run with `cargo bench --bench send` (release). Loopback only; every scenario is bounded in
//! time and count and the run stops by itself.
//!
//! With `KETENPOORT_BENCH_POSTGRES_URL` set (a server URL such as the one `.ci/postgres`
//! prints), every scenario runs on a fresh PostgreSQL database on that server instead of
//! SQLite, dropped afterwards; the scenario names then end in `_postgres`.

// Test code: a failed unwrap is a failed test or benchmark, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    time::Duration,
};

use ketenpoort::{
    api::{
        client::{ClientTls, payload_from_json},
        proto::{
            AckRequest, SendRequest, SubscribeRequest, signal_service_client::SignalServiceClient,
        },
    },
    audit::{AuditEvent, EventKind, Outcome, Subject, Trace},
    catalogue::Catalogue,
    clock::now_ms,
    config::Config,
    ids::Oin,
    registry,
    server::{self, Gateway},
    store::{NewDelivery, NewSignal, SendOutcome},
};
use sha2::{Digest, Sha256};
use sqlx::{Connection, Executor, PgConnection};
use tempfile::TempDir;
use tokio::{sync::mpsc, task::JoinSet, time::Instant};
use tokio_stream::StreamExt;
use tonic::transport::Channel;

/// Time under load before measuring: long enough for every connection's TLS handshake, the
/// writer's prepared statements, SQLite's page cache and the first WAL checkpoints to settle,
/// so that start-up costs do not land in the percentiles.
const WARM_UP: Duration = Duration::from_secs(2);
/// Time measured. At thousands of commits per second this spans many WAL checkpoints (every
/// 1000 WAL pages) and several signed audit checkpoints (every 1000 records), so their cost is
/// in the figures, and p99 rests on tens of thousands of samples; yet a whole run takes
/// under a minute.
const MEASURE: Duration = Duration::from_secs(10);
/// Calls in flight in the concurrent scenario: the load DESIGN.md's measurements use, enough to
/// keep the single writer's group commit full on two cores without queueing for its own sake.
const IN_FLIGHT: usize = 64;
/// mTLS connections the calls share: a partner system holds a few, and more than one keeps a
/// single HTTP/2 connection's framing task from becoming what is measured.
const CHANNELS: usize = 4;
/// Deliveries dtv drains: about five seconds of sending to fill, several hundred `Ack` calls
/// to measure, and a queue far longer than the server's stream batch (64).
const DRAIN_DELIVERIES: usize = 20_000;
/// Delivery ids per `Ack`: the server streams deliveries in batches of 64, and a recipient
/// that acknowledges what it received in one call per batch is the efficient client.
const ACK_BATCH: usize = 64;
/// Upper bound on filling or draining, so a broken gateway cannot hang the run.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);
/// The sender, its recipients, its purpose: the README's first signal.
const SENDER: &str = "gemeente-utrecht";
const RECIPIENTS: [&str; 2] = ["dtv", "ngo-begeleiding"];
const PURPOSE: &str = "INTAKE";
const CASE_REF: &str = "LVV-BENCH-0001";
/// A fully populated intake, the one the end-to-end tests send.
const INTAKE: &str = include_str!("../tests/fixtures/intake.json");

/// Every scenario, in the order they run.
const SCENARIOS: [&str; 4] = [
    "send_unary_mtls_64_inflight",
    "send_unary_mtls_1_inflight",
    "store_commit_64_inflight",
    "subscribe_drain",
];

const CSV_HEADER: &str = "unix_time,commit,label,scenario,unit,count,seconds,per_second,p50_ms,p95_ms,p99_ms,max_ms,errors,peak_rss_mib,wal_mib";

/// What one scenario measured.
struct Figures {
    scenario: &'static str,
    /// What `count` counts: `send` or `delivery`.
    unit: &'static str,
    count: usize,
    seconds: f64,
    /// Latencies of the measured calls, in microseconds.
    latencies: Vec<u32>,
    errors: usize,
    peak_rss_kib: u64,
    /// Size of the WAL file at the end of the scenario.
    wal_bytes: u64,
    /// Run on PostgreSQL rather than SQLite.
    postgres: bool,
}

fn main() {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let selected = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f));
    let mut results = Vec::new();
    for name in SCENARIOS {
        if !selected(name) {
            continue;
        }
        // A runtime per scenario: every task and connection of the previous one is gone.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let figures = runtime.block_on(async {
            let bench = Bench::start().await;
            reset_peak_rss();
            let mut figures = match name {
                "send_unary_mtls_64_inflight" => send_unary(&bench, IN_FLIGHT).await,
                "send_unary_mtls_1_inflight" => send_unary(&bench, 1).await,
                "store_commit_64_inflight" => store_commit(&bench, IN_FLIGHT).await,
                _ => subscribe_drain(&bench).await,
            };
            figures.scenario = name;
            figures.postgres = bench.postgres.is_some();
            figures.peak_rss_kib = peak_rss_kib();
            figures.wal_bytes = bench.wal_bytes();
            bench.gateway.shutdown().await;
            if let Some(db) = bench.postgres {
                db.drop().await;
            }
            figures
        });
        drop(runtime);
        eprintln!("{name}: done");
        results.push(figures);
    }
    report(&results);
}

/// A gateway on a fresh database and PKI, and what a client needs to reach it.
struct Bench {
    dir: TempDir,
    partners: Vec<registry::PartnerDef>,
    gateway: Gateway,
    endpoint: String,
    catalogue: Catalogue,
    recipients: Vec<String>,
    postgres: Option<BenchDatabase>,
}

/// A PostgreSQL database made for one scenario.
struct BenchDatabase {
    server: String,
    name: String,
}

impl BenchDatabase {
    /// A fresh database on the server `KETENPOORT_BENCH_POSTGRES_URL` names, if it is set.
    async fn create() -> Option<BenchDatabase> {
        let server = std::env::var("KETENPOORT_BENCH_POSTGRES_URL").ok()?;
        let name = format!("ketenpoort_bench_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&server)
            .await
            .expect("KETENPOORT_BENCH_POSTGRES_URL reachable");
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create the bench database");
        Some(BenchDatabase { server, name })
    }

    fn url(&self) -> String {
        let base = self
            .server
            .rsplit_once('/')
            .map_or(&*self.server, |(b, _)| b);
        format!("{base}/{}", self.name)
    }

    async fn drop(self) {
        if let Ok(mut admin) = PgConnection::connect(&self.server).await {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            let _ = admin.execute(sqlx::AssertSqlSafe(sql)).await;
        }
    }
}

impl Bench {
    async fn start() -> Bench {
        let dir = tempfile::tempdir().expect("temporary directory");
        let pki = dir.path().join("pki");
        let defs = registry::load_definitions(Path::new("config/partners.toml"))
            .expect("config/partners.toml");
        ketenpoort::identity::dev_pki::ensure(&pki, &defs, false).expect("development PKI");
        // The default registry with its certificate and key paths pointing at this PKI.
        let partners = std::fs::read_to_string("config/partners.toml")
            .expect("config/partners.toml")
            .replace("\"var/dev-pki/", &format!("\"{}/", pki.display()));
        let partners_file = dir.path().join("partners.toml");
        std::fs::write(&partners_file, partners).expect("write partners.toml");
        let mut config = Config::local(dir.path(), &pki, partners_file);
        let postgres = BenchDatabase::create().await;
        if let Some(db) = &postgres {
            config.store.url = db.url();
        }
        let gateway = server::start(&config).await.expect("gateway starts");
        let endpoint = format!("https://localhost:{}", gateway.local_addr().port());
        let mut bench = Bench {
            dir,
            partners: defs,
            gateway,
            endpoint,
            catalogue: Catalogue::load().expect("catalogue"),
            recipients: Vec::new(),
            postgres,
        };
        bench.recipients = bench.oins(&RECIPIENTS).iter().map(Oin::to_string).collect();
        bench
    }

    fn oin(&self, id: &str) -> Oin {
        self.partners
            .iter()
            .find(|d| d.id == id)
            .map(|d| d.oin.clone())
            .unwrap_or_else(|| panic!("no partner {id} in config/partners.toml"))
    }

    fn oins(&self, ids: &[&str]) -> Vec<Oin> {
        ids.iter().map(|id| self.oin(id)).collect()
    }

    async fn client(&self, partner: &str) -> SignalServiceClient<Channel> {
        ClientTls::dev(&self.dir.path().join("pki"), partner)
            .connect(&self.endpoint)
            .await
            .expect("mTLS connection")
    }

    /// The intake to dtv and ngo-begeleiding with idempotency key `key`.
    fn request(&self, key: String) -> SendRequest {
        SendRequest {
            idempotency_key: key,
            case_ref: CASE_REF.into(),
            purpose: PURPOSE.into(),
            recipients: self.recipients.clone(),
            payload: Some(payload_from_json(&self.catalogue, "Intake", INTAKE).expect("intake")),
        }
    }

    fn wal_bytes(&self) -> u64 {
        std::fs::metadata(self.dir.path().join("gateway.db-wal")).map_or(0, |m| m.len())
    }
}

/// `in_flight` callers send unique intakes over mTLS for [`WARM_UP`] + [`MEASURE`].
async fn send_unary(bench: &Bench, in_flight: usize) -> Figures {
    let mut clients = Vec::new();
    for _ in 0..CHANNELS.min(in_flight) {
        clients.push(bench.client(SENDER).await);
    }
    let template = bench.request(String::new());
    measure("send", in_flight, move |caller, n| {
        let mut client = clients[caller % clients.len()].clone();
        let mut request = template.clone();
        request.idempotency_key = format!("bench-{caller}-{n}");
        async move {
            client
                .send(request)
                .await
                .map(drop)
                .map_err(|status| status.to_string())
        }
    })
    .await
}

/// `in_flight` callers commit signals through the gateway's store for [`WARM_UP`] + [`MEASURE`].
async fn store_commit(bench: &Bench, in_flight: usize) -> Figures {
    let store = bench.gateway.store().clone();
    let (sender, recipients) = (bench.oin(SENDER), bench.oins(&RECIPIENTS));
    let payload = bench.request(String::new()).payload.expect("payload").value;
    measure("send", in_flight, move |caller, n| {
        let store = store.clone();
        let signal = new_signal(
            &sender,
            &recipients,
            &payload,
            format!("store-{caller}-{n}"),
        );
        async move {
            match store.send(signal, || None).await {
                Ok(SendOutcome::Accepted(_)) => Ok(()),
                Ok(other) => Err(format!("not accepted: {other:?}")),
                Err(e) => Err(e.to_string()),
            }
        }
    })
    .await
}

/// Runs `in_flight` callers, each making `call(caller, n)` after the other, for [`WARM_UP`] +
/// [`MEASURE`]; calls answered within the measured window count.
async fn measure<F, C>(unit: &'static str, in_flight: usize, call: F) -> Figures
where
    F: Fn(usize, u64) -> C + Clone + Send + 'static,
    C: Future<Output = Result<(), String>> + Send,
{
    let start = Instant::now();
    let (from, end) = (start + WARM_UP, start + WARM_UP + MEASURE);
    let mut callers = JoinSet::new();
    for caller in 0..in_flight {
        let call = call.clone();
        callers.spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0);
            for n in 0u64.. {
                let pending = call(caller, n);
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let result = pending.await;
                let done = Instant::now();
                if done < from || done > end {
                    continue;
                }
                match result {
                    Ok(()) => latencies.push(micros(done - sent)),
                    Err(e) => {
                        if errors == 0 {
                            eprintln!("call failed: {e}");
                        }
                        errors += 1;
                    }
                }
            }
            (latencies, errors)
        });
    }
    let mut figures = Figures::new(unit);
    while let Some(joined) = callers.join_next().await {
        let (latencies, errors) = joined.expect("caller task");
        figures.latencies.extend(latencies);
        figures.errors += errors;
    }
    figures.count = figures.latencies.len();
    figures.seconds = MEASURE.as_secs_f64();
    figures
}

/// What `Send` commits for the bench's intake: the signal, one filtered copy per recipient
/// (here the whole payload) and the `signal_accepted` and `delivery_created` records, with
/// details shaped like the gateway's own.
fn new_signal(sender: &Oin, recipients: &[Oin], payload: &[u8], key: String) -> NewSignal {
    let id = uuid::Uuid::now_v7().to_string();
    let subject = Subject {
        case_ref_hash: Some(hex_of(&key, "case")),
        subject_type: Some("v_nummer".into()),
        subject_hash: Some(hex_of(&key, "subject")),
        subject_key_id: Some("dev-1".into()),
    };
    let mut base = AuditEvent::new(EventKind::SignalAccepted, Outcome::Ok);
    base.actor = Some(sender.clone());
    base.trace = Trace::continue_from(None);
    base.subject = subject.clone();
    base.signal_id = Some(id.clone());
    base.signal_type = Some("Intake".into());
    let mut accepted = base.clone();
    accepted.purpose = Some(PURPOSE.into());
    accepted.legal_basis = Some("Wet BRP art. 3.5; Vreemdelingenwet 2000".into());
    accepted.detail = serde_json::json!({
        "rule": "intake-by-municipality", "policy_version": "bench",
        "provision_decision": null, "recipients": recipients.len(),
    });
    let mut audit = vec![accepted];
    let mut deliveries = Vec::new();
    for recipient in recipients {
        let delivery_id = uuid::Uuid::now_v7().to_string();
        let mut created = base.clone();
        created.event = EventKind::DeliveryCreated;
        created.counterparty = Some(recipient.clone());
        created.purpose = Some("RETURN".into());
        created.legal_basis = Some("Vreemdelingenwet 2000 art. 107".into());
        created.delivery_id = Some(delivery_id.clone());
        created.detail = serde_json::json!({
            "rule": "intake-by-municipality", "policy_version": "bench",
            "delivered": ["person.v_nummer", "person.names", "person.birth_date", "intake_date"],
            "withheld": ["person.bsn"],
        });
        audit.push(created);
        deliveries.push(NewDelivery {
            id: delivery_id,
            recipient: recipient.clone(),
            purposes: vec!["RETURN".into()],
            withheld: vec!["person.bsn".into()],
            payload: payload.to_vec(),
        });
    }
    let mut resent = base;
    resent.event = EventKind::SignalResent;
    NewSignal {
        id,
        sender: sender.clone(),
        content_hash: sha256(key.as_bytes()),
        idempotency_key: key,
        signal_type: "Intake".into(),
        purpose: PURPOSE.into(),
        case_ref: CASE_REF.into(),
        rule: "intake-by-municipality".into(),
        policy_version: "bench".into(),
        accepted_at: now_ms(),
        deliveries,
        audit,
        resent_audit: resent,
        subject,
        counters: Vec::new(),
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// 64 hex characters standing in for a keyed hash.
fn hex_of(key: &str, what: &str) -> String {
    hex::encode(sha256(format!("{what}:{key}").as_bytes()))
}

/// Fills dtv's queue with [`DRAIN_DELIVERIES`] deliveries, then drains and acknowledges it.
async fn subscribe_drain(bench: &Bench) -> Figures {
    fill(bench, DRAIN_DELIVERIES).await;
    let mut dtv = bench.client("dtv").await;
    let (ids_tx, mut ids_rx) = mpsc::channel::<Vec<String>>(16);
    let start = Instant::now();
    let deadline = start + DRAIN_TIMEOUT;
    let mut stream = dtv
        .subscribe(SubscribeRequest {})
        .await
        .expect("subscribe")
        .into_inner();
    // Reads the stream and hands the ids over in batches, so acknowledging overlaps reading.
    let reader = tokio::spawn(async move {
        let mut batch = Vec::with_capacity(ACK_BATCH);
        let mut received = 0;
        while received < DRAIN_DELIVERIES {
            let next = tokio::time::timeout_at(deadline, stream.next()).await;
            let Ok(Some(Ok(message))) = next else {
                eprintln!("subscription ended after {received} deliveries");
                break;
            };
            let Some(delivery) = message.delivery else {
                continue; // the caught-up marker
            };
            received += 1;
            batch.push(delivery.delivery_id);
            let full = batch.len() == ACK_BATCH || received == DRAIN_DELIVERIES;
            if full && ids_tx.send(std::mem::take(&mut batch)).await.is_err() {
                break;
            }
        }
    });
    let mut figures = Figures::new("delivery");
    while let Some(delivery_ids) = ids_rx.recv().await {
        let sent = Instant::now();
        match dtv.ack(AckRequest { delivery_ids }).await {
            Ok(answer) => {
                figures.latencies.push(micros(sent.elapsed()));
                figures.count += answer.into_inner().acknowledged as usize;
            }
            Err(status) => {
                if figures.errors == 0 {
                    eprintln!("ack failed: {status}");
                }
                figures.errors += 1;
            }
        }
    }
    figures.seconds = start.elapsed().as_secs_f64();
    let _ = reader.await;
    if figures.count != DRAIN_DELIVERIES {
        eprintln!("drained {} of {DRAIN_DELIVERIES} deliveries", figures.count);
    }
    figures
}

/// Sends `count` intakes, [`IN_FLIGHT`] at a time, before a scenario's clock starts.
async fn fill(bench: &Bench, count: usize) {
    let client = bench.client(SENDER).await;
    let template = bench.request(String::new());
    let mut senders = JoinSet::new();
    for caller in 0..IN_FLIGHT {
        let mut client = client.clone();
        let mut request = template.clone();
        senders.spawn(async move {
            for n in (caller..count).step_by(IN_FLIGHT) {
                request.idempotency_key = format!("fill-{n}");
                client.send(request.clone()).await.expect("fill send");
            }
        });
    }
    tokio::time::timeout(DRAIN_TIMEOUT, async {
        while let Some(joined) = senders.join_next().await {
            joined.expect("fill task");
        }
    })
    .await
    .expect("filling finished in time");
}

impl Figures {
    fn new(unit: &'static str) -> Self {
        Figures {
            scenario: "",
            unit,
            count: 0,
            seconds: 0.0,
            latencies: Vec::new(),
            errors: 0,
            peak_rss_kib: 0,
            wal_bytes: 0,
            postgres: false,
        }
    }

    fn per_second(&self) -> f64 {
        self.count as f64 / self.seconds
    }

    /// Nearest-rank percentile in milliseconds; 0 without samples.
    fn percentile_ms(sorted: &[u32], p: f64) -> f64 {
        if sorted.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
    }
}

fn report(results: &[Figures]) {
    let path = target_dir().join("bench-results.csv");
    let new = !path.exists();
    let mut csv = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("open bench-results.csv");
    if new {
        writeln!(csv, "{CSV_HEADER}").expect("write csv");
    }
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let commit = commit();
    let label = std::env::var("BENCH_LABEL").unwrap_or_default();
    println!(
        "\n{:<30} {:>12} {:>8} {:>8} {:>8} {:>8} {:>7} {:>9} {:>8}",
        "scenario",
        "per second",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "errors",
        "peak RSS",
        "WAL"
    );
    for f in results {
        let mut sorted = f.latencies.clone();
        sorted.sort_unstable();
        let p = |q| Figures::percentile_ms(&sorted, q);
        let max = sorted.last().map_or(0.0, |&m| f64::from(m) / 1000.0);
        let rss = f.peak_rss_kib as f64 / 1024.0;
        let wal = f.wal_bytes as f64 / (1024.0 * 1024.0);
        let name = if f.postgres {
            format!("{}_postgres", f.scenario)
        } else {
            f.scenario.to_string()
        };
        println!(
            "{:<30} {:>8.0} {:<3} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>5.0} MiB {:>4.0} MiB",
            name,
            f.per_second(),
            if f.unit == "send" { "req" } else { "del" },
            p(50.0),
            p(95.0),
            p(99.0),
            max,
            f.errors,
            rss,
            wal
        );
        writeln!(
            csv,
            "{unix},{commit},{label},{},{},{},{:.3},{:.1},{:.3},{:.3},{:.3},{:.3},{},{:.1},{:.1}",
            name,
            f.unit,
            f.count,
            f.seconds,
            f.per_second(),
            p(50.0),
            p(95.0),
            p(99.0),
            max,
            f.errors,
            rss,
            wal
        )
        .expect("write csv");
    }
    println!("\nappended to {}", path.display());
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// `target/`: the bench runs as `target/release/deps/send-<hash>`.
fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// The checked-out commit, with `+` when the tree has changes, for the CSV.
fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let head = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    if dirty { format!("{head}+") } else { head }
}

/// `VmHWM`: the most resident memory the process has had, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Resets `VmHWM` to the current RSS (Linux: writing 5 to `clear_refs`), so each scenario
/// reports its own peak rather than the run's.
fn reset_peak_rss() {
    if std::fs::write("/proc/self/clear_refs", "5").is_err() {
        eprintln!("cannot reset peak RSS; figures after the first scenario are the run's peak");
    }
}
