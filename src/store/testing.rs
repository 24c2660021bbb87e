//! A store for unit tests: a fresh SQLite file in a directory of its own.

use std::{sync::Arc, time::Duration};

use super::{Store, WriterSettings, wakeups};
use crate::audit::keys::{self, Signer};

/// A store on a fresh SQLite file, `store.db` in a directory of its own, with a signing key
/// made for it; checkpoints every million records or hour.
pub(crate) async fn test_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("signing.key");
    std::fs::write(&key, keys::generate_signing_key().unwrap()).unwrap();
    let settings = WriterSettings {
        erase_on_ack: true,
        signer: Arc::new(Signer::load(&key).unwrap()),
        checkpoint_every_records: 1_000_000,
        checkpoint_every: Duration::from_secs(3600),
    };
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = Store::open(&url, Arc::new(wakeups::Notifier::default()), settings)
        .await
        .unwrap();
    (dir, store)
}
