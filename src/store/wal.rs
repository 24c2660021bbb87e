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
//! once the log holds more than [`RESTART_FRAMES`] this task tells the writer
//! ([`LongLog`]), which restarts the log between two of its transactions: a short stop, as
//! the passive checkpoints have copied nearly every frame already. The log file is then
//! reused (and cut back to 64 MiB) instead of growing for as long as the load lasts.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use sqlx::{AnyConnection, AnyPool, Executor};

/// How often the log is copied back.
const EVERY: Duration = Duration::from_millis(200);

/// Frames (pages) in the log beyond which it is restarted: 32 MiB of 4 KiB pages.
const RESTART_FRAMES: i64 = 8192;

/// Set on the writer's own connection: no checkpoints inside its commits, and a restarted
/// log file cut back to at most 64 MiB.
pub(super) const WRITER_PRAGMAS: &str =
    "PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864;";

/// Whether the log has grown long enough for the writer to restart it.
#[derive(Debug, Default)]
pub(super) struct LongLog(AtomicBool);

// === impl LongLog ===

impl LongLog {
    /// Restarts the log on the writer's connection if it has grown long; called by the
    /// writer between transactions.
    pub async fn restart_if_long(&self, conn: &mut AnyConnection) {
        if self.0.swap(false, Ordering::Relaxed) {
            if let Err(e) = conn.execute("PRAGMA wal_checkpoint(RESTART)").await {
                tracing::warn!(error = %e, "restarting the WAL failed; retrying later");
            }
        }
    }
}

/// Starts the checkpointing task on `pool`.
pub(super) fn spawn(pool: AnyPool, long_log: Arc<LongLog>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = checkpoint(&pool, RESTART_FRAMES, &long_log).await {
                tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
            }
        }
    })
}

/// One passive checkpoint; tells the writer to restart the log when it holds more than
/// `restart_frames`.
pub(super) async fn checkpoint(
    pool: &AnyPool,
    restart_frames: i64,
    long_log: &LongLog,
) -> Result<(), sqlx::Error> {
    // (busy, frames in the log, frames copied back)
    let (_, frames, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(pool)
        .await?;
    if frames > restart_frames {
        long_log.0.store(true, Ordering::Relaxed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::checkpoint;
    use crate::{
        audit::{
            AuditEvent, EventKind, Outcome,
            keys::{self, Signer},
        },
        store::{Store, WriterSettings, wakeups::Notifier},
    };

    /// Under writes that never pause, the log is restarted and its file stays far smaller
    /// than what was written; without the restart it holds every page written.
    #[tokio::test]
    async fn the_log_is_restarted_under_steady_writes() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("signing.key");
        std::fs::write(&key, keys::generate_signing_key().unwrap()).unwrap();
        let settings = WriterSettings {
            erase_on_ack: true,
            signer: Arc::new(Signer::load(&key).unwrap()),
            checkpoint_every_records: 1_000_000,
            checkpoint_every: std::time::Duration::from_secs(3600),
        };
        let db = dir.path().join("wal.db");
        let url = format!("sqlite://{}", db.display());
        let store = Store::open(&url, Arc::new(Notifier::default()), settings)
            .await
            .unwrap();
        let pool = store.pool.clone();
        let long_log = store.long_log.clone();
        let checkpoints = tokio::spawn(async move {
            loop {
                checkpoint(&pool, 64, &long_log).await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        });
        // 2,000 records of about 4 KiB: some 8 MiB of log.
        let detail = "x".repeat(4000);
        let writers: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                let detail = detail.clone();
                tokio::spawn(async move {
                    for _ in 0..250 {
                        let mut event = AuditEvent::new(EventKind::AuditRead, Outcome::Ok);
                        event.detail = serde_json::json!({ "note": detail });
                        store.audit(vec![event]).await.unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap();
        }
        checkpoints.abort();
        let log = std::fs::metadata(dir.path().join("wal.db-wal"))
            .unwrap()
            .len();
        assert!(log < 3 << 20, "the log file grew to {log} bytes");
        store.close().await;
    }
}
