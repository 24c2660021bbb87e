//! What the writer removes: acknowledged copies past their grace period and settled signals
//! (the gateway forgets), and audit records past their retention, each after a signed
//! checkpoint at the cut keeps the rest of the chain verifiable.

use super::Writer;
use crate::{
    audit::Checkpoint,
    clock::now_ms,
    store::{FORGET_BATCH, Forgotten, PRUNE_CHUNK, Pruned, StoreError, columns::Fields, db::Sql},
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
                let mut cut = Sql::new(
                    self.backend,
                    "SELECT seq, hash FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log WHERE at < $1)",
                );
                let cut = self.link.fetch_all(cut.arg(cutoff)).await?;
                let Some(row) = cut.first() else {
                    return Ok(None);
                };
                let seq = row.field("seq")?;
                self.sign_checkpoint(seq, &row.field::<String>("hash")?)
                    .await?;
                seq
            }
        };
        let mut delete = Sql::new(
            self.backend,
            "DELETE FROM audit_log WHERE seq IN (SELECT seq FROM audit_log WHERE seq <= $1 ORDER BY seq LIMIT $2)",
        );
        let records = self
            .link
            .execute(delete.arg(through_seq).arg(PRUNE_CHUNK))
            .await?;
        Ok(Some(Pruned {
            through_seq,
            records,
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
            let mut erase = Sql::new(
                self.backend,
                "UPDATE deliveries SET payload = COALESCE(substr(payload, 1, 0), payload) WHERE id IN (
                     SELECT id FROM deliveries
                     WHERE acked_at IS NOT NULL AND acked_at < $1 AND length(payload) > 0
                     LIMIT $2)",
            );
            forgotten.erased = self
                .link
                .execute(erase.arg(cutoff).arg(FORGET_BATCH))
                .await?;
        }
        let mut settled = Sql::new(
            self.backend,
            "SELECT s.id FROM signals s WHERE s.accepted_at < $1 AND NOT EXISTS (
                 SELECT 1 FROM deliveries d
                 WHERE d.signal_id = s.id AND d.acked_at IS NULL AND d.expired_at IS NULL)
             ORDER BY s.accepted_at LIMIT $2",
        );
        let settled = self
            .link
            .fetch_all(settled.arg(settled_before).arg(FORGET_BATCH))
            .await?
            .iter()
            .map(|row| row.field("id"))
            .collect::<Result<Vec<String>, _>>()?;
        if !settled.is_empty() {
            let ids = || settled.iter().map(String::as_str);
            let mut deliveries =
                Sql::new(self.backend, "DELETE FROM deliveries WHERE signal_id IN ");
            self.link.execute(deliveries.bind_list(ids())).await?;
            let mut signals = Sql::new(self.backend, "DELETE FROM signals WHERE id IN ");
            self.link.execute(signals.bind_list(ids())).await?;
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
        let mut insert = Sql::new(
            self.backend,
            "INSERT INTO audit_checkpoints (seq, at, head_hash, key_id, signature) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (seq) DO NOTHING",
        );
        insert
            .arg(seq)
            .arg(now)
            .arg(hash)
            .arg(signer.key_id())
            .arg(hex::encode(signature));
        self.link.execute(&mut insert).await?;
        Ok(())
    }
}
