//! The writer's own thread: started with its own connection and a single-threaded runtime.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{QUEUE, Queued, Writer};
use crate::{
    database::Backend,
    store::{StoreError, WriterSettings, wakeups::Notifier, wal::LongLog},
};

/// The writer when it runs: where its jobs go, and what ends when it has stopped.
pub(in crate::store) struct Running {
    pub jobs: mpsc::Sender<Queued>,
    pub stopped: oneshot::Receiver<()>,
}

/// Starts the writer on a thread of its own, with its own connection to `url`.
///
/// The writer awaits the database once per statement; on the gateway's runtime each of those
/// awaits queued it behind the requests being decoded and answered, so a transaction took
/// several times its own work. On its own single-threaded runtime it is never queued (as the
/// durable floor's writer thread is not), and the requests keep both cores.
pub(in crate::store) async fn spawn(
    backend: Backend,
    url: &str,
    notifier: Arc<Notifier>,
    settings: WriterSettings,
    long_log: Arc<LongLog>,
) -> Result<Running, StoreError> {
    let (tx, rx) = mpsc::channel(QUEUE);
    let (started_tx, started) = oneshot::channel();
    let (stopped_tx, stopped) = oneshot::channel();
    let url = url.to_string();
    std::thread::Builder::new()
        .name("ketenpoort-writer".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = started_tx.send(Err(StoreError::WriterThread(e)));
                    return;
                }
            };
            runtime.block_on(async move {
                let conn = match backend.connect_writer(&url).await {
                    Ok(conn) => conn,
                    Err(e) => {
                        let _ = started_tx.send(Err(e));
                        return;
                    }
                };
                let _ = started_tx.send(Ok(()));
                let mut writer = Writer::new(backend, conn, notifier, settings);
                writer.long_log = long_log;
                writer.run(rx).await;
            });
            let _ = stopped_tx.send(());
        })
        .map_err(StoreError::WriterThread)?;
    started.await.map_err(|_| StoreError::Closed)??;
    Ok(Running { jobs: tx, stopped })
}
