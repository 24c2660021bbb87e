//! Starting the writer: its own connection, and where it runs.
//!
//! On SQLite the writer runs on a thread of its own (from the runtime's blocking pool, so the
//! runtime waits for it when it shuts down) and calls SQLite there, as the durable floor's
//! writer does: each statement is then a call on that thread, and the runtime's timers and
//! channels reach it through [`Handle::block_on`]. (With sqlx's connection, whose statements are each a round trip to a worker
//! thread, a thread of its own was slower: every answer woke a parked thread that waited for
//! one of the two cores the requests keep busy.) On PostgreSQL, whose statements are network
//! round trips anyway, it is a task on the gateway's runtime.

use std::sync::Arc;

use tokio::{runtime::Handle, sync::mpsc, task::JoinHandle};

use super::{QUEUE, Queued, Writer};
use crate::{
    database::Backend,
    store::{StoreError, WriterSettings, link::Link, wakeups::Notifier, wal::WalUpkeep},
};

/// The writer when it runs: where its jobs go, and its task.
pub(in crate::store) struct Running {
    pub jobs: mpsc::Sender<Queued>,
    pub task: JoinHandle<()>,
}

/// Starts the writer with its own connection to `url`.
pub(in crate::store) async fn spawn(
    backend: Backend,
    url: &str,
    notifier: Arc<Notifier>,
    settings: WriterSettings,
    wal_upkeep: Arc<WalUpkeep>,
) -> Result<Running, StoreError> {
    let link = Link::open(backend, url).await?;
    let mut writer = Writer::new(backend, link, notifier, settings);
    writer.wal_upkeep = wal_upkeep;
    let (jobs, rx) = mpsc::channel(QUEUE);
    let task = match backend {
        Backend::Sqlite => {
            let runtime = Handle::current();
            tokio::task::spawn_blocking(move || runtime.block_on(writer.run(rx)))
        }
        Backend::Postgres => tokio::spawn(writer.run(rx)),
    };
    Ok(Running { jobs, task })
}
