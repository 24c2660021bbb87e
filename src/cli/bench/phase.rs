//! One phase of a run (the prefill, or the measured phase): subscribers up first, then the
//! senders until the budget is spent, then a bounded wait until every accepted copy has
//! arrived and been acknowledged, and the subscribers closed.

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::task::JoinSet;

use super::{
    deliveries::Deliveries,
    figures::Figures,
    mix::Mix,
    plan::Plan,
    senders::{self, Budget, Load, Sender},
    subscribers,
};

/// How often the drain looks whether everything arrived.
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// Where the gateway is and who takes part.
pub struct Setting {
    /// The gateway's address.
    pub gateway: String,
    /// The development PKI directory.
    pub pki: PathBuf,
    /// Who sends and receives.
    pub plan: Plan,
    /// The signals sent.
    pub mix: Arc<Mix>,
}

/// A phase with its subscribers open.
pub struct Phase {
    /// What the phase measures.
    pub figures: Arc<Figures>,
    /// What became of its copies.
    pub deliveries: Arc<Deliveries>,
    subscribers: JoinSet<()>,
}

// === impl Phase ===

impl Phase {
    /// Opens the subscriptions of every receiver but the stalled one.
    pub async fn open(setting: &Setting) -> anyhow::Result<Self> {
        let figures = Arc::new(Figures::new()?);
        let deliveries = Arc::new(Deliveries::new(
            Arc::clone(&figures),
            setting.plan.stalled_oins()?,
        ));
        let subscribers = subscribers::start(
            &setting.gateway,
            &setting.pki,
            &setting.plan.subscribed,
            &deliveries,
            &figures,
        )
        .await?;
        Ok(Self {
            figures,
            deliveries,
            subscribers,
        })
    }

    /// Sends with `in_flight` requests over `senders` until `budget` is spent; returns how
    /// long that took, to the last answer.
    pub async fn send(
        &self,
        setting: &Setting,
        senders: &[Sender],
        in_flight: usize,
        budget: Budget,
    ) -> Duration {
        let load = Arc::new(Load {
            mix: Arc::clone(&setting.mix),
            figures: Arc::clone(&self.figures),
            deliveries: Arc::clone(&self.deliveries),
            budget,
        });
        let started = Instant::now();
        let mut tasks = senders::spawn(senders, in_flight, &load);
        while tasks.join_next().await.is_some() {}
        started.elapsed()
    }

    /// Waits at most `limit` for every accepted copy to arrive and be acknowledged, then
    /// closes the subscriptions.
    pub async fn drain(mut self, limit: Duration) -> Self {
        let until = Instant::now() + limit;
        while !self.deliveries.settled() && Instant::now() < until {
            tokio::time::sleep(DRAIN_POLL).await;
        }
        self.subscribers.shutdown().await;
        self
    }
}
