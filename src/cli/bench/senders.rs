//! The sending partners: one mutual-TLS connection per partner, and the requests in flight
//! spread over them as closed-loop tasks (each sends its next signal as soon as the last is
//! answered) until the [`Budget`] is spent. Each answer is timed from just before the call;
//! its receipt goes to [`Deliveries`] to be matched with the copies' arrival.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use ketenpoort::api::{client::ClientTls, proto::signal_service_client::SignalServiceClient};
use tokio::task::JoinSet;
use tonic::transport::Channel;

use super::{deliveries::Deliveries, figures::Figures, mix::Mix};

/// The longest the benchmark waits for one `Send`; the gateway's own limit is 30 s.
const SEND_TIMEOUT: Duration = Duration::from_secs(35);
/// The pause after a refused or failed `Send`, so that a refusing gateway is not spun against.
const PAUSE_AFTER_ERROR: Duration = Duration::from_millis(10);

/// One sending partner's connection.
pub struct Sender {
    client: SignalServiceClient<Channel>,
}

/// How many `Send`s a phase may issue, and until when.
pub struct Budget {
    deadline: Instant,
    max_requests: Option<u64>,
    issued: AtomicU64,
}

/// What a phase of sending records into.
pub struct Load {
    /// The signals to send.
    pub mix: Arc<Mix>,
    /// Where answers and refusals are timed and counted.
    pub figures: Arc<Figures>,
    /// Where receipts are matched with arrivals.
    pub deliveries: Arc<Deliveries>,
    /// When to stop.
    pub budget: Budget,
}

/// Opens one connection per sending partner `ids`, with their development certificates.
pub async fn connect(gateway: &str, pki: &Path, ids: &[String]) -> anyhow::Result<Vec<Sender>> {
    let mut senders = Vec::with_capacity(ids.len());
    for id in ids {
        let client = ClientTls::dev(pki, id)
            .connect(gateway)
            .await
            .with_context(|| format!("sender {id}"))?;
        senders.push(Sender { client });
    }
    Ok(senders)
}

/// Starts `in_flight` closed-loop tasks, spread over `senders` in turn; they end when the
/// load's budget is spent.
pub fn spawn(senders: &[Sender], in_flight: usize, load: &Arc<Load>) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    for task in 0..in_flight {
        let index = task % senders.len().max(1);
        if let Some(sender) = senders.get(index) {
            tasks.spawn(send_loop(index, sender.client.clone(), Arc::clone(load)));
        }
    }
    tasks
}

async fn send_loop(sender: usize, mut client: SignalServiceClient<Channel>, load: Arc<Load>) {
    while let Some(seq) = load.budget.next() {
        let request = load.mix.request(sender, seq);
        let started = Instant::now();
        let answer = tokio::time::timeout(SEND_TIMEOUT, client.send(request)).await;
        let latency = started.elapsed();
        match answer {
            Ok(Ok(response)) => {
                load.figures.sent(latency);
                if let Some(receipt) = &response.get_ref().receipt {
                    load.deliveries.accepted(receipt, started);
                }
            }
            Ok(Err(status)) => {
                load.figures.refused(status.code(), status.message());
                tokio::time::sleep(PAUSE_AFTER_ERROR).await;
            }
            Err(_) => load
                .figures
                .refused(tonic::Code::DeadlineExceeded, "no answer in time"),
        }
    }
}

// === impl Budget ===

impl Budget {
    /// Sending until `deadline`, or until `max_requests` were issued if that comes first.
    pub fn new(deadline: Instant, max_requests: Option<u64>) -> Self {
        Self {
            deadline,
            max_requests,
            issued: AtomicU64::new(0),
        }
    }

    /// The sequence number of the next request, or `None` when the budget is spent.
    fn next(&self) -> Option<u64> {
        if Instant::now() >= self.deadline {
            return None;
        }
        let seq = self.issued.fetch_add(1, Relaxed);
        match self.max_requests {
            Some(max) if seq >= max => None,
            _ => Some(seq),
        }
    }
}
