//! Samples one process's CPU time (`/proc/PID/stat`) and resident memory (`VmRSS` in
//! `/proc/PID/status`): the gateway's, when `--gateway-pid` names it, and the benchmark's
//! own, so that the report says how many cores each used on average and how large the
//! gateway grew, over the run and per interval. Linux only; elsewhere the figures are absent.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use parking_lot::Mutex;
use serde::Serialize;

/// How often the resident set is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Clock ticks per second when `getconf CLK_TCK` cannot say (the value on every Linux port).
const DEFAULT_TICKS_PER_SECOND: f64 = 100.0;

/// A process being sampled.
pub struct Process {
    /// `/proc` directory name: a pid, or `self`.
    pid: String,
    ticks_per_second: f64,
    state: Mutex<State>,
}

struct State {
    run: Window,
    interval: Window,
    rss_last_kib: u64,
}

/// CPU time at the start of a window, and the largest RSS sampled in it.
struct Window {
    since: Instant,
    cpu_ticks: u64,
    rss_max_kib: u64,
}

/// What a process used over a window.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Usage {
    /// CPU time (user and system) divided by wall time: 1.0 is one core busy throughout.
    pub cpu_cores: f64,
    /// The largest resident set sampled, in MiB.
    pub rss_max_mib: f64,
    /// The last resident set sampled, in MiB.
    pub rss_last_mib: f64,
}

// === impl Process ===

impl Process {
    /// Starts sampling process `pid` (`"self"` for this one); an error when it cannot be read.
    pub fn watch(pid: &str) -> anyhow::Result<Self> {
        let (cpu_ticks, rss_kib) = read(pid)?;
        let now = Instant::now();
        let window = || Window {
            since: now,
            cpu_ticks,
            rss_max_kib: rss_kib,
        };
        Ok(Self {
            pid: pid.to_string(),
            ticks_per_second: ticks_per_second(),
            state: Mutex::new(State {
                run: window(),
                interval: window(),
                rss_last_kib: rss_kib,
            }),
        })
    }

    /// Takes one sample; a process that has gone keeps its last figures.
    pub fn sample(&self) {
        if let Ok((_, rss_kib)) = read(&self.pid) {
            let mut state = self.state.lock();
            state.rss_last_kib = rss_kib;
            state.run.rss_max_kib = state.run.rss_max_kib.max(rss_kib);
            state.interval.rss_max_kib = state.interval.rss_max_kib.max(rss_kib);
        }
    }

    /// Usage over the current interval; the next interval starts now.
    pub fn take_interval(&self) -> Usage {
        let (cpu_ticks, _) = read(&self.pid).unwrap_or_default();
        let mut state = self.state.lock();
        let rss_last = state.rss_last_kib;
        let usage = self.usage(&state.interval, cpu_ticks, rss_last);
        state.interval = Window {
            since: Instant::now(),
            cpu_ticks,
            rss_max_kib: rss_last,
        };
        usage
    }

    /// Usage over the whole run so far.
    pub fn total(&self) -> Usage {
        let (cpu_ticks, _) = read(&self.pid).unwrap_or_default();
        let state = self.state.lock();
        self.usage(&state.run, cpu_ticks, state.rss_last_kib)
    }

    fn usage(&self, window: &Window, cpu_ticks: u64, rss_last_kib: u64) -> Usage {
        let seconds = window.since.elapsed().as_secs_f64().max(1e-3);
        let cpu = cpu_ticks.saturating_sub(window.cpu_ticks) as f64 / self.ticks_per_second;
        Usage {
            cpu_cores: cpu / seconds,
            rss_max_mib: window.rss_max_kib as f64 / 1024.0,
            rss_last_mib: rss_last_kib as f64 / 1024.0,
        }
    }
}

/// Samples `processes` every [`SAMPLE_EVERY`] until the task is aborted.
pub fn sample_every_second(processes: Vec<Arc<Process>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(SAMPLE_EVERY);
        loop {
            ticks.tick().await;
            for process in &processes {
                process.sample();
            }
        }
    })
}

/// User plus system CPU time in clock ticks, and the resident set in KiB, of `pid`.
fn read(pid: &str) -> anyhow::Result<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| anyhow::anyhow!("cannot read /proc/{pid}/stat: {e}"))?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    // Then field 3 (state) is the first, utime (14) the 12th, stime (15) the 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    let (Some(utime), Some(stime)) = (field(11), field(12)) else {
        anyhow::bail!("/proc/{pid}/stat has no CPU times");
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| anyhow::anyhow!("cannot read /proc/{pid}/status: {e}"))?;
    let rss_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    Ok((utime + stime, rss_kib))
}

/// Clock ticks per second, as `getconf CLK_TCK` says.
fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(DEFAULT_TICKS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        let me = Process::watch("self").unwrap();
        let busy = Instant::now();
        while busy.elapsed().as_millis() < 50 {
            std::hint::black_box(0u64);
        }
        me.sample();
        let usage = me.total();
        assert!(usage.rss_max_mib > 0.0, "{usage:?}");
        assert!(usage.cpu_cores >= 0.0, "{usage:?}");
        assert!(Process::watch("999999999").is_err());
    }
}
