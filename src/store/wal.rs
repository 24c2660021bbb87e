//! SQLite's write-ahead log, copied back into the database file beside the writer.
//!
//! With its automatic checkpoint SQLite copies the log into the database file inside the
//! commit that fills it, so now and then one `Send` waited for thousands of pages to be
//! written and synced. The writer turns that off ([`WRITER_PRAGMAS`]) and this task runs a
//! passive checkpoint on a read connection every [`EVERY`]: it copies what no reader still
//! needs, never waits for the writer and never makes the writer wait.
//!
//! Under steady load a passive checkpoint never catches up with the writer exactly, and the
//! log only starts again from its beginning when one has; a restarting checkpoint from this
//! connection would wait for a gap between the writer's transactions that never comes. So
//! once the log holds more than [`RESTART_FRAMES`] this task catches up first — passive
//! checkpoints back to back until one finds fewer than [`CAUGHT_UP_FRAMES`] new frames —
//! and then tells the writer ([`WalUpkeep`]), which restarts the log between two of its
//! transactions, copying only those last frames itself. The log file is then reused (and
//! cut back to 320 MiB) instead of growing for as long as the load lasts.
//!
//! Without the catching up the writer's restart copied what the last tick had left, and
//! every `Send` in flight waited for it: on a store of a million signals 50–70 ms with the
//! log restarted at 32 MiB, 200 ms at 256 MiB; caught up, 7 ms on average.
//!
//! After a transaction that forgot signals or erased copies the writer also truncates the
//! log ([`WalUpkeep::truncate`]) before it answers, so erased bytes do not linger there. It
//! asks this task to catch up first and goes on committing meanwhile: truncating straight
//! away copied back everything since the last tick with every `Send` in flight waiting, once
//! a minute (the retention job forgets every minute).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use sqlx::AnyPool;
use tokio::sync::Notify;

use super::{columns::Fields, db::Sql, link::Link};

/// How often the log is copied back.
const EVERY: Duration = Duration::from_millis(200);

/// Frames (pages) in the log beyond which it is restarted: 256 MiB of 4 KiB pages. Under
/// `ketenpoort bench` the writer adds some 13,000 frames a second, so this is a restart
/// every five seconds or so; at 32 MiB it was twice a second, and on a store of a million
/// signals each cost every `Send` in flight its stop (BENCHMARKS.md).
const RESTART_FRAMES: i64 = 65_536;

/// New frames a passive checkpoint may find and still count as caught up with the writer:
/// what is left for the writer to copy when it restarts the log (a few of its commits).
const CAUGHT_UP_FRAMES: i64 = 512;
/// Passive checkpoints run back to back at most while catching up.
const CATCH_UP_PASSES: u32 = 8;

/// Set on the writer's own connection: no checkpoints inside its commits, a restarted log
/// file cut back to at most 320 MiB (above [`RESTART_FRAMES`], so that it is written over
/// in place rather than cut and grown again), and its temporary files in memory. (Its page
/// cache is fitted to the store by the writer.)
///
/// Every statement of a batch writes many rows and calls functions (`->>` over its JSON
/// rows), and a function may fail half-way, so SQLite keeps a statement journal for each: a
/// copy of every page the statement changes, to undo it. By default that journal spills to a
/// temporary file past 64 KiB, and under `ketenpoort bench` writing it there took a tenth of
/// the writer's thread. In memory it holds at most the pages of one statement (of a batch of
/// at most 256 jobs; forgetting and pruning go in bounded chunks).
pub(super) const WRITER_PRAGMAS: &str = "PRAGMA wal_autocheckpoint = 0; \
     PRAGMA journal_size_limit = 335544320; PRAGMA temp_store = MEMORY;";

/// The writer's upkeep of the log: restarting it once it has grown long, and truncating it
/// after a forgetting, each once the checkpointing task has caught up with the writer.
#[derive(Debug, Default)]
pub(super) struct WalUpkeep {
    /// The log is long and caught up: the writer restarts it.
    restart: AtomicBool,
    /// The writer holds a forgetting's answer until the log is truncated.
    truncate: AtomicBool,
    /// Wakes the checkpointing task when a truncation is asked.
    asked: Notify,
    /// Caught up for that truncation: wakes the writer (or lets its next wait return).
    ready: Notify,
}

// === impl WalUpkeep ===

impl WalUpkeep {
    /// Restarts the log on the writer's connection if it has grown long; called by the
    /// writer between transactions.
    pub async fn restart_if_long(&self, link: &mut Link) {
        if self.restart.swap(false, Ordering::Relaxed) {
            let mut restart = Sql::new(link.backend(), "PRAGMA wal_checkpoint(RESTART)");
            if let Err(e) = link.fetch_all(&mut restart).await {
                tracing::warn!(error = %e, "restarting the WAL failed; retrying later");
            }
        }
    }

    /// Asks the checkpointing task to catch up for a truncation ([`Self::caught_up`]).
    pub fn ask_truncate(&self) {
        self.truncate.store(true, Ordering::Relaxed);
        self.asked.notify_one();
    }

    /// Returns once the checkpointing task has caught up for the truncation asked, or after
    /// [`CATCH_UP_WAIT`] (the writer then copies what is left itself, as it had to before).
    pub async fn caught_up(&self) {
        let _ = tokio::time::timeout(CATCH_UP_WAIT, self.ready.notified()).await;
    }

    /// Copies the whole log back and truncates its file, so that what was erased in the
    /// database is not left in the log either; called by the writer between transactions,
    /// where no other writer can keep it from completing. A passive checkpoint of the
    /// checkpointing task may hold the log at that moment: then it is tried again, up to
    /// [`TRUNCATE_TRIES`] times. SQLite only: PostgreSQL keeps no such log.
    pub async fn truncate(&self, link: &mut Link) {
        for _ in 0..TRUNCATE_TRIES {
            let mut truncate = Sql::new(link.backend(), "PRAGMA wal_checkpoint(TRUNCATE)");
            let busy = link
                .fetch_all(&mut truncate)
                .await
                .and_then(|rows| rows.first().map_or(Ok(1), |row| row.field::<i64>("busy")));
            match busy {
                Ok(0) => {
                    self.restart.store(false, Ordering::Relaxed);
                    return;
                }
                Ok(_) => tracing::debug!("the WAL is held by a reader; truncating it again"),
                Err(e) => tracing::debug!(error = %e, "truncating the WAL failed; trying again"),
            }
            tokio::time::sleep(TRUNCATE_PAUSE).await;
        }
        tracing::warn!("the WAL could not be truncated after a forgetting; it will be reused");
    }
}

/// How often a truncation is tried before the writer goes on without it.
const TRUNCATE_TRIES: u32 = 50;
/// The pause between two tries: a passive checkpoint takes milliseconds.
const TRUNCATE_PAUSE: Duration = Duration::from_millis(10);
/// Longest the writer waits for the checkpointing task to catch up for a truncation.
const CATCH_UP_WAIT: Duration = Duration::from_secs(2);

/// Starts the checkpointing task on `pool`.
pub(super) fn spawn(pool: AnyPool, wal_upkeep: Arc<WalUpkeep>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = wal_upkeep.asked.notified() => {}
            }
            match checkpoint(&pool, RESTART_FRAMES, &wal_upkeep).await {
                // A whole pause before the next one: the writer's restart should not find
                // the log held by a passive checkpoint, and wait for it.
                Ok(true) => tick.reset(),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; retrying"),
            }
        }
    })
}

/// One passive checkpoint; when the writer asks for a truncation, or the log holds more than
/// `restart_frames`, catches up with the writer and tells it to truncate or restart the
/// log. Tells whether it did.
pub(super) async fn checkpoint(
    pool: &AnyPool,
    restart_frames: i64,
    wal_upkeep: &WalUpkeep,
) -> Result<bool, sqlx::Error> {
    let mut frames = passive(pool).await?;
    if frames <= restart_frames && !wal_upkeep.truncate.load(Ordering::Relaxed) {
        return Ok(false);
    }
    for _ in 0..CATCH_UP_PASSES {
        let now = passive(pool).await?;
        let new = now - frames;
        frames = now;
        if new < CAUGHT_UP_FRAMES {
            break;
        }
    }
    if wal_upkeep.truncate.swap(false, Ordering::Relaxed) {
        wal_upkeep.ready.notify_one();
    } else {
        wal_upkeep.restart.store(true, Ordering::Relaxed);
    }
    Ok(true)
}

/// A passive checkpoint: copies back what no reader still needs; returns the frames in the
/// log (-1 when another checkpoint held it).
async fn passive(pool: &AnyPool) -> Result<i64, sqlx::Error> {
    // (busy, frames in the log, frames copied back)
    let (_, frames, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(pool)
        .await?;
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use std::{path::Path, sync::atomic::Ordering};

    use super::{CATCH_UP_WAIT, checkpoint, passive};
    use crate::{
        audit::{AuditEvent, EventKind, Outcome},
        store::{Store, testing::test_store},
    };

    /// Eight tasks each appending `records` audit records of about 4 KiB, without pause.
    fn steady_writes(store: &Store, records: usize) -> Vec<tokio::task::JoinHandle<()>> {
        let detail = "x".repeat(4000);
        (0..8)
            .map(|_| {
                let store = store.clone();
                let detail = detail.clone();
                tokio::spawn(async move {
                    for _ in 0..records {
                        let mut event = AuditEvent::new(EventKind::AuditRead, Outcome::Ok);
                        event.detail = serde_json::json!({ "note": detail });
                        store.audit(vec![event]).await.unwrap();
                    }
                })
            })
            .collect()
    }

    fn log_size(dir: &Path) -> u64 {
        std::fs::metadata(dir.join("store.db-wal")).unwrap().len()
    }

    /// Under writes that never pause, the log is restarted and its file stays far smaller
    /// than what was written; without the restart it holds every page written.
    #[tokio::test]
    async fn the_log_is_restarted_under_steady_writes() {
        let (dir, store) = test_store().await;
        let pool = store.pool.clone();
        let upkeep = store.wal_upkeep.clone();
        let checkpoints = tokio::spawn(async move {
            loop {
                checkpoint(&pool, 64, &upkeep).await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        });
        // 2,000 records of about 4 KiB: some 8 MiB of log.
        for writer in steady_writes(&store, 250) {
            writer.await.unwrap();
        }
        checkpoints.abort();
        let log = log_size(dir.path());
        assert!(log < 3 << 20, "the log file grew to {log} bytes");
        store.close().await;
    }

    /// Past the mark the checkpoint catches up and asks for a restart, which the writer makes
    /// after its next transaction; below the mark nothing is asked.
    #[tokio::test]
    async fn a_long_log_is_caught_up_then_restarted_by_the_writer() {
        let (_dir, store) = test_store().await;
        // 80 records of about 4 KiB: more than 64 frames of log.
        for writer in steady_writes(&store, 10) {
            writer.await.unwrap();
        }
        let upkeep = &store.wal_upkeep;
        assert!(!checkpoint(&store.pool, 1_000_000, upkeep).await.unwrap());
        assert!(
            !upkeep.restart.load(Ordering::Relaxed),
            "a restart asked below the mark"
        );
        let before = passive(&store.pool).await.unwrap();
        assert!(before > 64, "only {before} frames in the log");
        assert!(checkpoint(&store.pool, 64, upkeep).await.unwrap());
        assert!(
            upkeep.restart.load(Ordering::Relaxed),
            "no restart asked past the mark"
        );
        for writer in steady_writes(&store, 1) {
            writer.await.unwrap();
        }
        let asked = std::time::Instant::now();
        while upkeep.restart.load(Ordering::Relaxed) {
            assert!(
                asked.elapsed().as_secs() < 5,
                "the writer did not restart the log"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let after = passive(&store.pool).await.unwrap();
        assert!(
            after < before,
            "{after} frames after the restart, {before} before"
        );
        store.close().await;
    }

    /// A forgetting truncates the log before it answers, even while others write without
    /// pause: a truncation from another connection would wait for a gap that never comes.
    /// The checkpointing task catches up for it first: the writer does not wait out
    /// [`CATCH_UP_WAIT`] and copy everything back itself.
    #[tokio::test]
    async fn forgetting_truncates_the_log_under_steady_writes() {
        let (dir, store) = test_store().await;
        let writers = steady_writes(&store, 400);
        while log_size(dir.path()) < 2 << 20 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let before = log_size(dir.path());
        let asked = std::time::Instant::now();
        store.forget(None, 0).await.unwrap();
        let waited = asked.elapsed();
        assert!(
            waited < CATCH_UP_WAIT,
            "no catching up: answered after {waited:?}"
        );
        let after = log_size(dir.path());
        assert!(
            after < before / 2,
            "the log held {before} bytes before forgetting and {after} after"
        );
        for writer in writers {
            writer.await.unwrap();
        }
        store.close().await;
    }
}
