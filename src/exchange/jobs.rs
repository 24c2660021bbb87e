//! The gateway's background jobs, each running until shutdown: the registry watch, delivery
//! expiry, forgetting settled signals and acknowledged copies, audit retention, and reloads
//! on SIGHUP.

use std::{future::Future, sync::Arc, time::Duration};

use super::Exchange;

/// How often deliveries are checked for expiry.
const EXPIRE_EVERY: Duration = Duration::from_secs(60);
/// How often settled signals and acknowledged copies are forgotten.
const FORGET_EVERY: Duration = Duration::from_secs(60);
/// How often the deliveries waiting per receiver are counted again.
const RECOUNT_EVERY: Duration = Duration::from_secs(10);
/// How often audit records past their retention are removed.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Which jobs run, and with which ages.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Expire deliveries unacknowledged for longer than this; `None` keeps them.
    pub expire_after: Option<Duration>,
    /// Remove audit records older than this; `None` keeps them.
    pub retention: Option<Duration>,
}

/// Starts the background jobs of `exchange`.
pub fn spawn(exchange: &Arc<Exchange>, schedule: Schedule) {
    tokio::spawn(exchange.clone().watch_registry());
    if let Some(max_age) = schedule.expire_after {
        every(exchange, EXPIRE_EVERY, move |x| async move {
            if let Err(e) = x.expire_deliveries(max_age).await {
                tracing::error!(error = %e, "delivery expiry failed; will try again");
            }
        });
    }
    every(exchange, RECOUNT_EVERY, |x| async move {
        if let Err(e) = x.recount_backlog().await {
            tracing::warn!(error = %e, "cannot count the deliveries waiting; will try again");
        }
    });
    every(exchange, FORGET_EVERY, |x| async move {
        if let Err(e) = x.forget().await {
            tracing::error!(error = %e, "forgetting settled signals failed; will try again");
        }
    });
    if let Some(retention) = schedule.retention {
        every(exchange, PRUNE_EVERY, move |x| async move {
            if let Err(e) = x.prune_audit(retention).await {
                tracing::error!(error = %e, "audit pruning failed; will try again");
            }
        });
    }
    reload_on_hangup(exchange);
}

/// Runs `job` now and then every `period`, until shutdown.
fn every<F, Fut>(exchange: &Arc<Exchange>, period: Duration, job: F)
where
    F: Fn(Arc<Exchange>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let exchange = exchange.clone();
    tokio::spawn(async move {
        loop {
            job(exchange.clone()).await;
            tokio::select! {
                _ = exchange.shutdown.cancelled() => return,
                _ = tokio::time::sleep(period) => {}
            }
        }
    });
}

/// Reloads the policy, the trust anchors and the server certificate on SIGHUP, logging the
/// outcome, until shutdown.
fn reload_on_hangup(exchange: &Arc<Exchange>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; policy reload by signal is off");
            return;
        };
        let exchange = exchange.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = exchange.shutdown.cancelled() => return,
                    received = hangups.recv() => if received.is_none() { return },
                }
                // The outcomes are logged inside; nothing else to do with them here.
                let _ = exchange.reload_policy();
                if let Err(e) = exchange.reload_tls() {
                    tracing::error!(error = %e, "trust anchor reload refused; the ones in force stay");
                }
            }
        });
    }
}
