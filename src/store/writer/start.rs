//! Starting the writer: its own connection, and its task on the gateway's runtime.
//!
//! A thread of its own with a single-threaded runtime, as the durable floor's writer has, was
//! measured and was slower here (0.25–0.31× the floor in four rounds, against 0.36–0.41× on
//! the runtime in three of the same rounds): every statement's answer then wakes a parked
//! thread, which waits for one of the two cores the requests keep busy, where a runtime
//! worker that is awake anyway picks the writer's task up.

use std::sync::Arc;

use tokio::{sync::mpsc, task::JoinHandle};

use super::{QUEUE, Queued, Writer};
use crate::{
    database::Backend,
    store::{StoreError, WriterSettings, wakeups::Notifier, wal::WalUpkeep},
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
    let conn = backend.connect_writer(url).await?;
    let mut writer = Writer::new(backend, conn, notifier, settings);
    writer.wal_upkeep = wal_upkeep;
    let (jobs, rx) = mpsc::channel(QUEUE);
    let task = tokio::spawn(writer.run(rx));
    Ok(Running { jobs, task })
}
