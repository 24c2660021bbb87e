//! The writer's metrics, for operators: how long each commit spent opening its transaction
//! (taking the chain and reading what its jobs ask about), applying its jobs in memory, and
//! writing and committing them, and how many jobs it took. The phases' seconds per second
//! are the writer's utilisation: near one, the writer, not the requests, sets the rate of
//! `Send`, and more load only makes the batches larger and the answers later (README,
//! "Operator's runbook").

use std::time::Instant;

/// Seconds per phase of each committed batch, labelled `phase`.
pub const WRITER_PHASE_SECONDS: &str = "ketenpoort_writer_phase_duration_seconds";
/// Jobs per committed batch.
pub const WRITER_BATCH_JOBS: &str = "ketenpoort_writer_batch_jobs";

/// When one batch's phases ended.
pub(super) struct Timing {
    /// Jobs in the batch.
    jobs: usize,
    started: Instant,
    opened: Instant,
    applied: Instant,
}

// === impl Timing ===

impl Timing {
    /// A batch of `jobs` jobs starts now.
    pub fn start(jobs: usize) -> Self {
        let now = Instant::now();
        Timing {
            jobs,
            started: now,
            opened: now,
            applied: now,
        }
    }

    /// Its transaction is open and its reads are in.
    pub fn opened(&mut self) {
        self.opened = Instant::now();
    }

    /// Its jobs are applied in memory.
    pub fn applied(&mut self) {
        self.applied = Instant::now();
    }

    /// It is committed now: records its phases and its jobs.
    pub fn committed(self) {
        let phases = [
            ("opening", self.opened - self.started),
            ("applying", self.applied - self.opened),
            ("writing", self.applied.elapsed()),
        ];
        for (phase, took) in phases {
            metrics::histogram!(WRITER_PHASE_SECONDS, "phase" => phase).record(took.as_secs_f64());
        }
        metrics::histogram!(WRITER_BATCH_JOBS).record(self.jobs as f64);
    }
}
