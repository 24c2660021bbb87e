//! The interval clock of the measured phase: every `--interval` it takes the interval's
//! figures and the gateway's use, prints them as one line on standard error (so that a long
//! run, or one whose store grows, shows how it goes while it goes), and keeps them for the
//! report.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use parking_lot::Mutex;
use tokio::task::JoinHandle;

use super::{figures::Figures, process::Process, report::Interval};

/// The last interval is kept when it is at least this share of a full one.
const TAIL_SHARE: f64 = 0.1;

/// A running interval clock.
pub struct Clock {
    task: JoinHandle<()>,
    taker: Arc<Taker>,
}

/// Takes the figures of one interval.
struct Taker {
    figures: Arc<Figures>,
    gateway: Option<Arc<Process>>,
    started: Instant,
    last: Mutex<Instant>,
    intervals: Mutex<Vec<Interval>>,
}

// === impl Clock ===

impl Clock {
    /// Starts taking an interval every `period`, from now.
    pub fn start(period: Duration, figures: Arc<Figures>, gateway: Option<Arc<Process>>) -> Self {
        let now = Instant::now();
        let taker = Arc::new(Taker {
            figures,
            gateway,
            started: now,
            last: Mutex::new(now),
            intervals: Mutex::new(Vec::new()),
        });
        let ticking = Arc::clone(&taker);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at((now + period).into(), period);
            loop {
                ticks.tick().await;
                ticking.take();
            }
        });
        eprintln!(
            "{:>8}{:>10}{:>9}{:>9}{:>8}{:>13}{:>8}{:>12}",
            "at s", "req/s", "p50 ms", "p99 ms", "errors", "deliv p99 ms", "gw cpu", "gw RSS MiB"
        );
        Self { task, taker }
    }

    /// Stops the clock; the intervals taken, with the last, shorter one when it is long
    /// enough to say something.
    pub fn stop(self, period: Duration) -> Vec<Interval> {
        self.task.abort();
        let since_last = self.taker.last.lock().elapsed();
        if since_last.as_secs_f64() >= TAIL_SHARE * period.as_secs_f64() {
            self.taker.take();
        }
        std::mem::take(&mut *self.taker.intervals.lock())
    }
}

// === impl Taker ===

impl Taker {
    fn take(&self) {
        let now = Instant::now();
        let seconds = {
            let mut last = self.last.lock();
            let seconds = now.duration_since(*last).as_secs_f64().max(1e-3);
            *last = now;
            seconds
        };
        let figures = self.figures.take_interval();
        let interval = Interval {
            at_s: now.duration_since(self.started).as_secs_f64(),
            req_per_s: figures.send.count as f64 / seconds,
            figures,
            gateway: self.gateway.as_ref().map(|g| g.take_interval()),
        };
        eprintln!("{}", interval.line());
        self.intervals.lock().push(interval);
    }
}
