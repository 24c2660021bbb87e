//! The writer's part in the upkeep of SQLite's log ([`crate::store::wal`]): a forgetting is
//! answered only once the log is truncated, so that what it erased is not left in the log.
//! The truncation waits for the checkpointing task to catch up with the writer, which goes
//! on committing meanwhile, and then copies back only the last few frames.

use super::{Answer, Writer};
use crate::database::Backend;

impl Writer {
    /// Holds a forgetting's `answer` until the log is truncated and asks the checkpointing
    /// task to catch up for it; answers it now on PostgreSQL, which keeps no such log.
    pub(super) fn hold_until_truncated(&mut self, answer: Answer) {
        if self.backend != Backend::Sqlite {
            answer.send();
            return;
        }
        self.forgotten.push(answer);
        self.wal_upkeep.ask_truncate();
    }

    /// Truncates the log, then answers the forgettings held; nothing to do without any.
    pub(super) async fn truncate_log(&mut self) {
        if self.forgotten.is_empty() {
            return;
        }
        self.wal_upkeep.truncate(&mut self.link).await;
        for answer in self.forgotten.drain(..) {
            answer.send();
        }
    }
}
