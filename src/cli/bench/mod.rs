//! `ketenpoort bench`: drives a running gateway from this process, over mutual TLS, as the
//! chain does: several municipalities ([`plan`]) each on its own connection send a catalogue
//! signal mix ([`mix`]) with a given number of requests in flight ([`senders`]), and the
//! receivers subscribe and acknowledge ([`subscribers`]). It reports `Send` throughput and
//! latency, send → delivered latency ([`deliveries`], [`latency`], [`figures`]), errors by
//! gRPC code, and the gateway's CPU and memory ([`process`]), as a table or JSON
//! ([`report`]), also per interval ([`intervals`]). A prefill sends signals first, unmeasured,
//! so that the measured phase runs against a larger store ([`phase`]).

mod deliveries;
mod figures;
mod intervals;
mod latency;
mod mix;
mod phase;
mod plan;
mod process;
mod report;
mod senders;
mod subscribers;

use std::{path::PathBuf, process::ExitCode, sync::Arc, time::Duration, time::Instant};

use anyhow::{Context as _, bail};
use ketenpoort::{catalogue::Catalogue, registry};

use super::output::outln;
use phase::{Phase, Setting};
use process::Process;
use report::{Delivered, Report, Sends, Setup};
use senders::Budget;

/// The longest measured phase: a bench is bounded in time.
const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
/// The longest prefill, however many signals it was asked for.
const MAX_PREFILL_TIME: Duration = Duration::from_secs(4 * 3600);
/// The most requests in flight.
const MAX_IN_FLIGHT: usize = 4096;
/// The recipients of the request `--write-request` writes: case-direction endpoints the
/// bench never subscribes for, so that what `compare.sh` sends with it stays out of the
/// bench's deliveries.
const COMPARE_RECIPIENTS: [&str; 2] = ["gemeente-den-haag", "gemeente-enschede"];
/// The idempotency key of that request: `compare.sh`'s default marker.
const COMPARE_MARKER: &str = "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX";

/// Arguments of `ketenpoort bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Gateway address.
    #[arg(
        long,
        default_value = "https://localhost:8443",
        env = "KETENPOORT_GATEWAY"
    )]
    gateway: String,
    /// Directory with ca.pem and each partner's <id>.pem and <id>.key (the development PKI).
    #[arg(long, default_value = "var/dev-pki")]
    pki: PathBuf,
    /// The partner registry: who may send, and the receivers' OINs.
    #[arg(long, default_value = "config/partners.toml")]
    partners: PathBuf,
    /// How long the measured phase sends, e.g. 10s or 10m.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// `Send`s in flight at once, over all senders.
    #[arg(long, default_value_t = 64)]
    in_flight: usize,
    /// Sending partners (municipalities), each with its own connection.
    #[arg(long, default_value_t = 8)]
    senders: usize,
    /// Leave this receiver without a subscriber: its copies stay pending at the gateway.
    #[arg(long)]
    stall: Option<String>,
    /// The gateway's process id: sample its CPU time and resident memory every second.
    #[arg(long)]
    gateway_pid: Option<u32>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Also report figures per interval of this length (e.g. 10s), printed as they come.
    #[arg(long, value_parser = humantime::parse_duration)]
    interval: Option<Duration>,
    /// Signals to send (and drain) before the measured phase, to measure against a store
    /// that holds them.
    #[arg(long, default_value_t = 0)]
    prefill: u64,
    /// How long to wait after the last `Send` for every copy to arrive and be acknowledged.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    drain: Duration,
    /// Write one encoded `SendRequest` of the mix to this file and exit: an `Intake` to two
    /// municipalities the bench never subscribes for, its idempotency key 32 `X`s, as
    /// `../shared/bench/compare.sh --payload-file` takes it (sent as gemeente-utrecht).
    #[arg(long)]
    write_request: Option<PathBuf>,
}

/// Runs the benchmark and prints its report.
pub async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if args.duration.is_zero() || args.duration > MAX_DURATION {
        bail!("--duration must be more than 0 and at most {MAX_DURATION:?}");
    }
    if args.in_flight == 0 || args.in_flight > MAX_IN_FLIGHT {
        bail!("--in-flight must be 1 to {MAX_IN_FLIGHT}");
    }
    if args.interval.is_some_and(|i| i.is_zero()) {
        bail!("--interval must be more than 0");
    }
    let plan = plan::Plan::new(
        registry::load_definitions(&args.partners)?,
        args.senders,
        args.stall.clone(),
    )?;
    let mix = Arc::new(mix::Mix::new(&Catalogue::load()?, |id| plan.oin_of(id))?);
    if let Some(path) = &args.write_request {
        let recipients = COMPARE_RECIPIENTS
            .iter()
            .map(|id| plan.oin_of(id))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let request = mix.request_with_key(recipients, COMPARE_MARKER);
        std::fs::write(path, prost::Message::encode_to_vec(&request))
            .with_context(|| format!("cannot write {}", path.display()))?;
        return Ok(ExitCode::SUCCESS);
    }
    let setting = Setting {
        gateway: args.gateway.clone(),
        pki: args.pki.clone(),
        plan,
        mix,
    };
    let senders = senders::connect(&setting.gateway, &setting.pki, &setting.plan.senders).await?;
    if args.prefill > 0 {
        let phase = Phase::open(&setting).await?;
        let budget = Budget::new(Instant::now() + MAX_PREFILL_TIME, Some(args.prefill));
        phase.send(&setting, &senders, args.in_flight, budget).await;
        phase.drain(args.drain).await;
        eprintln!("bench: prefilled {} signals", args.prefill);
    }

    let gateway = match args.gateway_pid {
        Some(pid) => Some(Arc::new(Process::watch(&pid.to_string())?)),
        None => None,
    };
    let me = Process::watch("self").ok().map(Arc::new);
    let sampling = process::sample_every_second(gateway.iter().chain(&me).cloned().collect());
    let phase = Phase::open(&setting).await?;
    let clock = args
        .interval
        .map(|period| intervals::Clock::start(period, Arc::clone(&phase.figures), gateway.clone()));
    let budget = Budget::new(Instant::now() + args.duration, None);
    let elapsed = phase.send(&setting, &senders, args.in_flight, budget).await;
    let usage = |p: &Option<Arc<Process>>| p.as_ref().map(|p| p.total());
    let (gateway_usage, bench_usage) = (usage(&gateway), usage(&me));
    let intervals = match (clock, args.interval) {
        (Some(clock), Some(period)) => clock.stop(period),
        _ => Vec::new(),
    };
    let phase = phase.drain(args.drain).await;
    sampling.abort();

    let totals = phase.figures.total();
    let errors_total = totals.error_count();
    let report = Report {
        setup: Setup {
            gateway: setting.gateway.clone(),
            senders: setting.plan.senders.clone(),
            subscribed: setting.plan.subscribed.clone(),
            stalled: setting.plan.stalled.clone(),
            in_flight: args.in_flight,
            duration_s: args.duration.as_secs_f64(),
            prefilled: args.prefill,
        },
        elapsed_s: elapsed.as_secs_f64(),
        send: Sends {
            requests: totals.send.count + errors_total,
            answered: totals.send.count,
            req_per_s: totals.send.count as f64 / elapsed.as_secs_f64().max(1e-3),
            latency: totals.send,
            errors: totals.errors,
            errors_total,
            error_examples: phase.figures.examples(),
        },
        delivered: Delivered {
            counts: phase.deliveries.counts(),
            latency: totals.send_to_delivered,
            ack_errors: phase.figures.ack_errors(),
        },
        gateway: gateway_usage,
        bench: bench_usage,
        intervals,
    };
    if args.json {
        outln!("{}", serde_json::to_string(&report)?)?;
    } else {
        outln!("{}", report.table())?;
    }
    Ok(ExitCode::SUCCESS)
}
