//! What the writer removes: acknowledged copies past their grace period and settled signals
//! (the gateway forgets), and audit records past their retention, each after a signed
//! checkpoint at the cut keeps the rest of the chain verifiable.

use super::Writer;
use crate::{
    audit::Checkpoint,
    clock::now_ms,
    store::{FORGET_BATCH, Forgotten, PRUNE_CHUNK, Pruned, StoreError, db::Sql},
};

// === impl Writer ===

impl Writer {
    /// Removes audit records past their retention, at most [`PRUNE_CHUNK`] per job. The first
    /// job (`through` is `None`) finds the last record accepted before `cutoff` and signs a
    /// checkpoint over it, so that the first record kept links to a signed anchor; later jobs
    /// remove further records up to that same cut. `None` when nothing is old enough.
    pub(super) async fn prune(
        &mut self,
        cutoff: i64,
        through: Option<i64>,
    ) -> Result<Option<Pruned>, StoreError> {
        let through_seq = match through {
            Some(seq) => seq,
            None => {
                let cut: Option<(i64, String)> = sqlx::query_as(
                    "SELECT seq, hash FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log WHERE at < $1)",
                )
                .bind(cutoff)
                .fetch_optional(&mut self.conn)
                .await?;
                let Some((seq, hash)) = cut else {
                    return Ok(None);
                };
                self.sign_checkpoint(seq, &hash).await?;
                seq
            }
        };
        let done = sqlx::query(
            "DELETE FROM audit_log WHERE seq IN (SELECT seq FROM audit_log WHERE seq <= $1 ORDER BY seq LIMIT $2)",
        )
        .bind(through_seq)
        .bind(PRUNE_CHUNK)
        .execute(&mut self.conn)
        .await?;
        Ok(Some(Pruned {
            through_seq,
            records: done.rows_affected(),
        }))
    }

    /// Forgets what the gateway no longer needs, at most [`FORGET_BATCH`] of each per job:
    /// erases the copies acknowledged before `erase_acked_before` (when a grace period is set),
    /// and removes the signals accepted before `settled_before` none of whose deliveries is
    /// still pending, with their deliveries (and so their clear case reference).
    pub(super) async fn forget(
        &mut self,
        erase_acked_before: Option<i64>,
        settled_before: i64,
    ) -> Result<Forgotten, StoreError> {
        let mut forgotten = Forgotten::default();
        if let Some(cutoff) = erase_acked_before {
            let erased = sqlx::query(
                "UPDATE deliveries SET payload = COALESCE(substr(payload, 1, 0), payload) WHERE id IN (
                     SELECT id FROM deliveries
                     WHERE acked_at IS NOT NULL AND acked_at < $1 AND length(payload) > 0
                     LIMIT $2)",
            )
            .bind(cutoff)
            .bind(FORGET_BATCH)
            .execute(&mut self.conn)
            .await?;
            forgotten.erased = erased.rows_affected();
        }
        let settled: Vec<String> = sqlx::query_scalar(
            "SELECT s.id FROM signals s WHERE s.accepted_at < $1 AND NOT EXISTS (
                 SELECT 1 FROM deliveries d
                 WHERE d.signal_id = s.id AND d.acked_at IS NULL AND d.expired_at IS NULL)
             ORDER BY s.accepted_at LIMIT $2",
        )
        .bind(settled_before)
        .bind(FORGET_BATCH)
        .fetch_all(&mut self.conn)
        .await?;
        if !settled.is_empty() {
            let ids = || settled.iter().map(String::as_str);
            Sql::new(self.backend, "DELETE FROM deliveries WHERE signal_id IN ")
                .bind_list(ids())
                .execute(&mut self.conn)
                .await?;
            Sql::new(self.backend, "DELETE FROM signals WHERE id IN ")
                .bind_list(ids())
                .execute(&mut self.conn)
                .await?;
            forgotten.signals = settled.len() as u64;
        }
        Ok(forgotten)
    }

    /// Writes a signed checkpoint over record `seq` with hash `hash`, unless one is there
    /// already (a pruning and the writer's own rhythm may sign the same record).
    pub(super) async fn sign_checkpoint(&mut self, seq: i64, hash: &str) -> Result<(), StoreError> {
        let now = now_ms();
        let signer = &self.settings.signer;
        let signature = signer.sign(&Checkpoint::message(seq, now, hash));
        sqlx::query(
            "INSERT INTO audit_checkpoints (seq, at, head_hash, key_id, signature) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (seq) DO NOTHING",
        )
        .bind(seq)
        .bind(now)
        .bind(hash)
        .bind(signer.key_id())
        .bind(hex::encode(signature))
        .execute(&mut self.conn)
        .await?;
        Ok(())
    }
}
