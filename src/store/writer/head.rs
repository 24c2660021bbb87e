//! The head of the audit chain as each transaction reads it, and the signed checkpoints the
//! writer adds over it now and then.

use super::Writer;
use crate::{
    audit::ChainHead,
    store::{StoreError, columns::Fields, link::Row},
};

/// The last record of the chain and the last checkpoint, each tagged with its `source`.
pub(super) const READ_HEAD: &str = "SELECT 'log' AS source, seq, hash FROM \
     (SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1) AS l \
     UNION ALL SELECT 'checkpoint' AS source, seq, head_hash AS hash FROM \
     (SELECT seq, head_hash FROM audit_checkpoints ORDER BY seq DESC LIMIT 1) AS c";

// === impl Writer ===

impl Writer {
    /// Takes the head of the chain and the last checkpoint from the opening's rows. After a
    /// pruning that removed every record the head is the checkpoint over the last one removed.
    pub(super) fn found_head(&mut self, rows: &[Row]) -> Result<(), StoreError> {
        let mut last = None;
        let mut checkpoint = None;
        for row in rows {
            let source: String = row.field("source")?;
            if source != "log" && source != "checkpoint" {
                continue;
            }
            let head = ChainHead {
                seq: row.field("seq")?,
                hash: row.field("hash")?,
            };
            if source == "checkpoint" {
                checkpoint = Some(head);
            } else {
                last = Some(head);
            }
        }
        self.checkpointed = checkpoint.as_ref().map_or(0, |c| c.seq);
        self.head = [last, checkpoint]
            .into_iter()
            .flatten()
            .max_by_key(|head| head.seq)
            .unwrap_or_else(ChainHead::genesis);
        Ok(())
    }

    /// Writes a signed checkpoint of the head, in the open transaction, when enough records
    /// or time have passed; tells whether it did.
    pub(super) async fn checkpoint_if_due(&mut self) -> Result<bool, StoreError> {
        let pending = self.head.seq - self.checkpointed;
        let due = pending >= self.settings.checkpoint_every_records as i64
            || (pending > 0 && self.checkpointed_at.elapsed() >= self.settings.checkpoint_every);
        if !due {
            return Ok(false);
        }
        let head = self.head.clone();
        self.sign_checkpoint(head.seq, &head.hash).await?;
        Ok(true)
    }
}
