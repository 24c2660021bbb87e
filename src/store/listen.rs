//! Wake-ups from other replicas: with PostgreSQL, every writer announces the recipients of
//! the deliveries it commits on [`DELIVERY_CHANNEL`] (`NOTIFY`, sent at commit), and every
//! gateway listens, waking its own subscribers of those recipients. A lost connection is
//! reopened; what is announced meanwhile is found by the subscribers' poll.

use std::{sync::Arc, time::Duration};

use sqlx::postgres::PgListener;

use super::wakeups::Notifier;
use super::{StoreError, db::DELIVERY_CHANNEL};
use crate::ids::Oin;

/// Wait before listening again after the connection failed.
const RETRY: Duration = Duration::from_secs(1);

/// Starts listening on `url`'s database; fails if the first connection fails.
pub(super) async fn spawn(
    url: &str,
    notifier: Arc<Notifier>,
) -> Result<tokio::task::JoinHandle<()>, StoreError> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(DELIVERY_CHANNEL).await?;
    Ok(tokio::spawn(async move {
        loop {
            match listener.recv().await {
                Ok(notification) => {
                    for oin in notification.payload().split(',') {
                        if let Ok(oin) = oin.parse::<Oin>() {
                            notifier.wake(&oin);
                        }
                    }
                }
                Err(e) => {
                    // `recv` reconnects on its next call; do not spin while the database is away.
                    tracing::warn!(error = %e, "lost the delivery announcements; listening again");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }))
}
