//! Kill -9 under load: several partners send concurrently to the `ketenpoort` binary, which
//! is killed with SIGKILL mid-stream and restarted, [`KILLS`] times. Afterwards every `Send`
//! that was answered is still there (a resend gets the same signal id back), every `Send`
//! that was not is accepted on a resend, the receiver gets exactly one signal per idempotency
//! key, and the audit chain verifies. The figures are printed (`--nocapture` shows them).

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use ketenpoort::{
    api::{
        client::{ClientTls, payload_from_json},
        proto::{AckRequest, SendRequest, signal_service_client::SignalServiceClient},
    },
    catalogue::Catalogue,
    registry,
};
use tonic::transport::Channel;

use crate::{
    cli::{Served, run},
    leases::drain,
    support::{INTAKE, subscribe},
};

/// Times the gateway is killed.
const KILLS: usize = 3;
/// The partners sending, each from [`TASKS`] concurrent tasks.
const SENDERS: [&str; 2] = ["gemeente-utrecht", "gemeente-amsterdam"];
const TASKS: usize = 4;
/// How long the load runs before each kill.
const LOAD: Duration = Duration::from_millis(700);

/// Sends and what came of them, per idempotency key: the signal id, once answered.
#[derive(Default)]
struct Ledger {
    answered: HashMap<String, String>,
    unanswered: Vec<(String, String)>,
}

struct Load {
    endpoint: String,
    pki: std::path::PathBuf,
    catalogue: Arc<Catalogue>,
    oins: HashMap<String, String>,
}

impl Load {
    fn request(&self, key: &str) -> SendRequest {
        SendRequest {
            idempotency_key: key.into(),
            case_ref: "LVV-CRASH-0001".into(),
            purpose: "INTAKE".into(),
            recipients: vec![self.oins["dtv"].clone()],
            payload: Some(payload_from_json(&self.catalogue, "Intake", INTAKE).unwrap()),
        }
    }

    async fn client(&self, id: &str) -> SignalServiceClient<Channel> {
        ClientTls::dev(&self.pki, id)
            .connect(&self.endpoint)
            .await
            .unwrap()
    }

    /// Sends new signals as `sender` until `stop` or the first failure.
    async fn run(
        self: Arc<Self>,
        sender: &'static str,
        tag: String,
        stop: Arc<AtomicBool>,
    ) -> Ledger {
        let mut ledger = Ledger::default();
        let mut client = self.client(sender).await;
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            let key = format!("{tag}-{n}");
            n += 1;
            match client.send(self.request(&key)).await {
                Ok(answer) => {
                    let receipt = answer.into_inner().receipt.unwrap();
                    ledger.answered.insert(key, receipt.signal_id);
                }
                Err(_) => {
                    ledger.unanswered.push((sender.to_string(), key));
                    break;
                }
            }
        }
        ledger
    }

    /// Sends `key` as `sender` again; answers with its signal id and whether it was known.
    async fn resend(&self, sender: &str, key: &str) -> (String, bool) {
        let receipt = self
            .client(sender)
            .await
            .send(self.request(key))
            .await
            .unwrap_or_else(|e| panic!("a resend of {key} failed: {e}"))
            .into_inner()
            .receipt
            .unwrap();
        (receipt.signal_id, receipt.duplicate)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_answered_is_lost_and_nothing_doubles_when_killed_under_load() {
    let mut served = Served::start(
        "[limits]\nsend_per_second = 100000\nsend_burst = 100000\n\
         handshakes_per_second_per_address = 100000\n",
    );
    let definitions =
        registry::load_definitions(std::path::Path::new("config/partners.toml")).unwrap();
    let load = Arc::new(Load {
        endpoint: served.gateway(),
        pki: served.dir.path().join("var/dev-pki"),
        catalogue: Arc::new(Catalogue::load().unwrap()),
        oins: definitions
            .iter()
            .map(|d| (d.id.clone(), d.oin.to_string()))
            .collect(),
    });
    // Per sender and key: the signal id it was answered with.
    let mut signals: HashMap<(String, String), String> = HashMap::new();
    let mut answered_before_a_kill = 0;
    let mut resent_after_a_kill = 0;
    for round in 0..KILLS {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for sender in SENDERS {
            for task in 0..TASKS {
                let tag = format!("{sender}-{round}-{task}");
                tasks.push((
                    sender,
                    tokio::spawn(load.clone().run(sender, tag, stop.clone())),
                ));
            }
        }
        tokio::time::sleep(LOAD).await;
        let killer = tokio::task::spawn_blocking(move || {
            served.kill_and_restart();
            served
        });
        served = killer.await.unwrap();
        stop.store(true, Ordering::Relaxed);
        for (sender, task) in tasks {
            let ledger = task.await.unwrap();
            answered_before_a_kill += ledger.answered.len();
            for (key, id) in ledger.answered {
                signals.insert((sender.to_string(), key), id);
            }
            for (sender, key) in ledger.unanswered {
                let (id, _) = load.resend(&sender, &key).await;
                resent_after_a_kill += 1;
                signals.insert((sender, key), id);
            }
        }
    }

    // Every answered Send survived every kill: a resend finds it, with the same id.
    let mut lost = 0;
    for ((sender, key), id) in &signals {
        let (again, known) = load.resend(sender, key).await;
        if !known || &again != id {
            lost += 1;
        }
    }
    // The receiver gets one signal per key: none lost, none made twice.
    let mut dtv = load.client("dtv").await;
    let mut stream = subscribe(&mut dtv).await;
    let delivered = drain(&mut stream, Duration::from_secs(3)).await;
    for chunk in delivered.chunks(500) {
        let delivery_ids = chunk.iter().map(|d| d.delivery_id.clone()).collect();
        dtv.ack(AckRequest { delivery_ids }).await.unwrap();
    }
    let received: HashSet<&str> = delivered.iter().map(|d| d.signal_id.as_str()).collect();
    let expected: HashSet<&str> = signals.values().map(String::as_str).collect();
    let undelivered = expected.difference(&received).count();
    let duplicates = received.difference(&expected).count() + (signals.len() - expected.len());
    let verified = run(
        served.dir.path(),
        &[
            "audit",
            "verify",
            "--gateway",
            &served.gateway(),
            "--as",
            "programma-fg",
        ],
    );
    println!(
        "crash test: {} signals sent ({answered_before_a_kill} answered under load, \
         {resent_after_a_kill} unanswered at a kill and resent), {KILLS} kills with SIGKILL, \
         lost {lost}, undelivered {undelivered}, duplicates {duplicates}, chain {}",
        signals.len(),
        verified.trim()
    );
    assert!(answered_before_a_kill > 0, "the load never got an answer");
    assert_eq!(lost, 0, "answered signals were lost");
    assert_eq!(undelivered, 0, "signals never reached the receiver");
    assert_eq!(duplicates, 0, "a key made more than one signal");
    assert!(verified.starts_with("intact:"), "{verified}");
}
