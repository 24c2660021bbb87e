//! The benchmark's result: one [`Report`] that prints as a readable table, or as one JSON
//! object with `--json`; and the figures of each interval, which show how throughput,
//! latency and the gateway's memory move as the store grows.

use std::{collections::BTreeMap, fmt::Write as _};

use serde::Serialize;

use super::{deliveries::Counts, figures::WindowSummary, latency::Summary, process::Usage};

/// What a run was asked to do.
#[derive(Debug, Serialize)]
pub struct Setup {
    /// The gateway's address.
    pub gateway: String,
    /// Sending partners, each on its own connection.
    pub senders: Vec<String>,
    /// Receivers with a subscriber that acknowledges.
    pub subscribed: Vec<String>,
    /// The receiver left without a subscriber.
    pub stalled: Option<String>,
    /// `Send`s in flight at once, over all senders.
    pub in_flight: usize,
    /// The measured phase, in seconds.
    pub duration_s: f64,
    /// Signals sent (and drained) before the measured phase.
    pub prefilled: u64,
}

/// The `Send`s of the measured phase.
#[derive(Debug, Serialize)]
pub struct Sends {
    /// Calls made: answered plus refused or failed.
    pub requests: u64,
    /// Answered with a receipt.
    pub answered: u64,
    /// Answered per second of the phase.
    pub req_per_s: f64,
    /// Latency of the answered ones.
    pub latency: Summary,
    /// Refused or failed, by gRPC code.
    pub errors: BTreeMap<String, u64>,
    /// Refused or failed, whatever the code.
    pub errors_total: u64,
    /// The first message of each code.
    pub error_examples: BTreeMap<String, String>,
}

/// The copies of the measured phase.
#[derive(Debug, Serialize)]
pub struct Delivered {
    /// What became of them.
    #[serde(flatten)]
    pub counts: Counts,
    /// From the start of the `Send` to the arrival at the subscriber.
    pub latency: Summary,
    /// `Ack`s refused or failed, by gRPC code.
    pub ack_errors: BTreeMap<String, u64>,
}

/// One interval of the measured phase.
#[derive(Debug, Serialize)]
pub struct Interval {
    /// Seconds since the phase started, at the interval's end.
    pub at_s: f64,
    /// Answered `Send`s per second in the interval.
    pub req_per_s: f64,
    /// The interval's figures.
    #[serde(flatten)]
    pub figures: WindowSummary,
    /// The gateway's use in the interval, when its pid was given.
    pub gateway: Option<Usage>,
}

/// The whole result.
#[derive(Debug, Serialize)]
pub struct Report {
    /// What was asked.
    pub setup: Setup,
    /// Seconds the measured phase took (to the last answer).
    pub elapsed_s: f64,
    /// `Send` figures.
    pub send: Sends,
    /// Delivery figures.
    pub delivered: Delivered,
    /// The gateway process, when its pid was given.
    pub gateway: Option<Usage>,
    /// The benchmark's own process (the load's cost, on the same cores).
    pub bench: Option<Usage>,
    /// Per-interval figures, with `--interval`.
    pub intervals: Vec<Interval>,
}

// === impl Report ===

impl Report {
    /// The report as a readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let s = &self.setup;
        let _ = writeln!(
            out,
            "ketenpoort bench: {} senders, {} in flight, {:.0} s against {}; subscribed {}; stalled {}{}",
            s.senders.len(),
            s.in_flight,
            s.duration_s,
            s.gateway,
            s.subscribed.join(", "),
            s.stalled.as_deref().unwrap_or("none"),
            if s.prefilled > 0 {
                format!("; {} signals sent before", s.prefilled)
            } else {
                String::new()
            },
        );
        let _ = writeln!(
            out,
            "\n{:<18}{:>10}{:>10}{:>9}{:>9}{:>9}{:>9}",
            "", "count", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
        );
        let send = &self.send;
        let _ = writeln!(
            out,
            "{:<18}{:>10}{:>10.0}{}",
            "Send",
            send.answered,
            send.req_per_s,
            columns(&send.latency)
        );
        let d = &self.delivered;
        let _ = writeln!(
            out,
            "{:<18}{:>10}{:>10}{}",
            "send → delivered",
            d.counts.delivered,
            "",
            columns(&d.latency)
        );
        let errors = if send.errors.is_empty() {
            "none".to_string()
        } else {
            let by_code: Vec<String> = send
                .errors
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect();
            by_code.join(", ")
        };
        let _ = writeln!(out, "\nSend errors: {errors}");
        for (code, message) in &send.error_examples {
            let _ = writeln!(out, "  first {code}: {message}");
        }
        if !d.ack_errors.is_empty() {
            let _ = writeln!(out, "Ack errors: {:?}", d.ack_errors);
        }
        let c = &d.counts;
        let _ = writeln!(
            out,
            "copies: {} accepted for subscribers, {} delivered, {} acknowledged, {} pending; {} pending for the stalled receiver; {} other arrivals",
            c.accepted, c.delivered, c.acknowledged, c.pending, c.stalled_pending, c.other_arrivals
        );
        for (name, usage) in [("gateway", &self.gateway), ("bench", &self.bench)] {
            if let Some(u) = usage {
                let _ = writeln!(
                    out,
                    "{name}: {:.2} CPU cores on average, RSS max {:.1} MiB (last {:.1} MiB)",
                    u.cpu_cores, u.rss_max_mib, u.rss_last_mib
                );
            }
        }
        if !self.intervals.is_empty() {
            let _ = writeln!(
                out,
                "\n{:>8}{:>10}{:>9}{:>9}{:>8}{:>13}{:>8}{:>12}",
                "at s",
                "req/s",
                "p50 ms",
                "p99 ms",
                "errors",
                "deliv p99 ms",
                "gw cpu",
                "gw RSS MiB"
            );
            for i in &self.intervals {
                let _ = writeln!(out, "{}", i.line());
            }
        }
        out
    }
}

// === impl Interval ===

impl Interval {
    /// The interval as one line of the table (also printed while the run goes on).
    pub fn line(&self) -> String {
        let (cpu, rss) = self
            .gateway
            .map(|g| {
                (
                    format!("{:.2}", g.cpu_cores),
                    format!("{:.1}", g.rss_max_mib),
                )
            })
            .unwrap_or_else(|| ("-".into(), "-".into()));
        format!(
            "{:>8.1}{:>10.0}{:>9.2}{:>9.2}{:>8}{:>13.2}{:>8}{:>12}",
            self.at_s,
            self.req_per_s,
            self.figures.send.p50_ms,
            self.figures.send.p99_ms,
            self.figures.error_count(),
            self.figures.send_to_delivered.p99_ms,
            cpu,
            rss
        )
    }
}

/// The latency columns of a row.
fn columns(s: &Summary) -> String {
    format!(
        "{:>9.2}{:>9.2}{:>9.2}{:>9.2}",
        s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms
    )
}
