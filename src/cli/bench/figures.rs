//! What the run measures, in total and for the current interval: answered `Send`s with their
//! latencies, refused ones by gRPC code, and send → delivered latencies. Senders and
//! subscribers record here; the interval clock takes the interval's figures, the report the
//! totals. One short lock per record: at a few thousand records a second it costs nothing
//! beside a `Send`.

use std::{collections::BTreeMap, time::Duration};

use parking_lot::Mutex;
use serde::Serialize;

use super::latency::{Latencies, Summary};

/// The run's figures.
pub struct Figures(Mutex<Windows>);

struct Windows {
    total: Window,
    interval: Window,
    /// The first message of each code a `Send` was refused with (they name the field and
    /// the rule, never a value).
    examples: BTreeMap<String, String>,
    /// `Ack`s refused or failed, by gRPC code.
    ack_errors: BTreeMap<String, u64>,
}

struct Window {
    sends: Latencies,
    errors: BTreeMap<String, u64>,
    delivered: Latencies,
}

/// The figures of a window (the run, or one interval).
#[derive(Debug, Clone, Serialize)]
pub struct WindowSummary {
    /// Latency of the `Send`s answered with a receipt.
    pub send: Summary,
    /// `Send`s refused or failed, by gRPC code.
    pub errors: BTreeMap<String, u64>,
    /// From the start of a `Send` to its copy arriving at a subscriber.
    pub send_to_delivered: Summary,
}

// === impl Figures ===

impl Figures {
    /// Nothing measured yet.
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self(Mutex::new(Windows {
            total: Window::new()?,
            interval: Window::new()?,
            examples: BTreeMap::new(),
            ack_errors: BTreeMap::new(),
        })))
    }

    /// A `Send` answered with a receipt after `latency`.
    pub fn sent(&self, latency: Duration) {
        let mut w = self.0.lock();
        w.total.sends.record(latency);
        w.interval.sends.record(latency);
    }

    /// A `Send` refused (or failed) with `code` and `message`.
    pub fn refused(&self, code: tonic::Code, message: &str) {
        let code = format!("{code:?}");
        let mut w = self.0.lock();
        if !w.examples.contains_key(&code) {
            w.examples.insert(code.clone(), message.to_string());
        }
        *w.total.errors.entry(code.clone()).or_default() += 1;
        *w.interval.errors.entry(code).or_default() += 1;
    }

    /// An `Ack` refused (or failed) with `code`.
    pub fn ack_refused(&self, code: tonic::Code) {
        *self
            .0
            .lock()
            .ack_errors
            .entry(format!("{code:?}"))
            .or_default() += 1;
    }

    /// The first message of each code a `Send` was refused with.
    pub fn examples(&self) -> BTreeMap<String, String> {
        self.0.lock().examples.clone()
    }

    /// `Ack`s refused or failed, by gRPC code.
    pub fn ack_errors(&self) -> BTreeMap<String, u64> {
        self.0.lock().ack_errors.clone()
    }

    /// A copy arrived at its subscriber `latency` after its `Send` started.
    pub fn delivered(&self, latency: Duration) {
        let mut w = self.0.lock();
        w.total.delivered.record(latency);
        w.interval.delivered.record(latency);
    }

    /// The current interval's figures; the next interval starts empty.
    pub fn take_interval(&self) -> WindowSummary {
        let mut w = self.0.lock();
        WindowSummary {
            send: w.interval.sends.take(),
            errors: std::mem::take(&mut w.interval.errors),
            send_to_delivered: w.interval.delivered.take(),
        }
    }

    /// The figures of the whole run.
    pub fn total(&self) -> WindowSummary {
        let w = self.0.lock();
        WindowSummary {
            send: w.total.sends.summary(),
            errors: w.total.errors.clone(),
            send_to_delivered: w.total.delivered.summary(),
        }
    }
}

// === impl Window ===

impl Window {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            sends: Latencies::new()?,
            errors: BTreeMap::new(),
            delivered: Latencies::new()?,
        })
    }
}

// === impl WindowSummary ===

impl WindowSummary {
    /// `Send`s refused or failed, whatever the code.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}
