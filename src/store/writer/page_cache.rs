//! The size of the SQLite writer's page cache, fitted to the store now and then.
//!
//! On a store of a million signals (6.6 GB) the pages of the random indexes the writer
//! inserts into were read from the file again and again with SQLite's default cache of
//! 2 MiB (`pread` 14% of the gateway's CPU); 64 MiB kept them (`Send` 1,228/1,407 against
//! 1,541/1,386 req/s, send → delivered p99 1.6 s against 0.15 s). On a store under 1 GiB the
//! same cache cost a tenth of the gateway's CPU instead: when SQLite rebalances a b-tree
//! over reused pages it renumbers them through the page at 1 GiB, and each commit then
//! searches the whole cache for pages past the end of the file (`pcache1TruncateUnsafe`,
//! 13.6% of the gateway's CPU in `ketenpoort bench`; 1,674 against 1,881 req/s). Past 1 GiB
//! that page lies inside the file and the search does not happen. So the writer keeps the
//! default cache until the store has passed 1 GiB and the large one after
//! (BENCHMARKS.md).

use std::time::Duration;

use tokio::time::Instant;

use crate::{
    database::Backend,
    store::{StoreError, columns::Fields, db::Sql, link::Link},
};

/// How often the store's size is looked at.
const EVERY: Duration = Duration::from_secs(30);

/// SQLite's default: 2,000 KiB.
const SMALL_KIB: i64 = 2_000;
/// The cache of a store past 1 GiB: 64 MiB.
const LARGE_KIB: i64 = 65_536;

/// SQLite's lock byte, at 1 GiB: the page that holds it is never used for data.
const PENDING_BYTE: i64 = 0x4000_0000;

/// The writer's page cache size as last set.
pub(super) struct PageCache {
    /// The size set, in KiB; none before the first look.
    kib: Option<i64>,
    looked_at: Instant,
}

// === impl PageCache ===

impl PageCache {
    /// Not yet fitted: the first [`PageCache::fit`] looks.
    pub fn new() -> Self {
        PageCache {
            kib: None,
            looked_at: Instant::now(),
        }
    }

    /// Sets the cache on the writer's connection for the store's size, when it was not set
    /// yet or [`EVERY`] has passed; nothing on PostgreSQL. A failure only keeps the old size.
    pub async fn fit(&mut self, link: &mut Link) {
        let backend = link.backend();
        if backend != Backend::Sqlite || (self.kib.is_some() && self.looked_at.elapsed() < EVERY) {
            return;
        }
        self.looked_at = Instant::now();
        let kib = match store_size(link).await {
            Ok((pages, page_size)) => cache_kib(pages, page_size),
            Err(e) => {
                tracing::warn!(error = %e, "the store's size could not be read; cache kept");
                return;
            }
        };
        if self.kib == Some(kib) {
            return;
        }
        // A number this module chose, not a caller's text.
        let mut pragma = Sql::new(backend, &format!("PRAGMA cache_size = -{kib}"));
        match link.execute(&mut pragma).await {
            Ok(_) => {
                tracing::debug!(kib, "writer page cache set");
                self.kib = Some(kib);
            }
            Err(e) => tracing::warn!(error = %e, "the writer's page cache could not be set"),
        }
    }
}

/// The store's pages and their size.
async fn store_size(link: &mut Link) -> Result<(i64, i64), StoreError> {
    let mut size = Sql::new(
        link.backend(),
        "SELECT page_count, page_size FROM pragma_page_count(), pragma_page_size()",
    );
    let rows = link.fetch_all(&mut size).await?;
    let row = rows
        .first()
        .ok_or_else(|| StoreError::Corrupt("no page count".into()))?;
    Ok((row.field("page_count")?, row.field("page_size")?))
}

/// The cache for a store of `pages` pages of `page_size` bytes: large once the page holding
/// the lock byte lies inside the file.
fn cache_kib(pages: i64, page_size: i64) -> i64 {
    let lock_page = PENDING_BYTE / page_size.max(1) + 1;
    if pages > lock_page {
        LARGE_KIB
    } else {
        SMALL_KIB
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_grows_once_the_store_passes_the_lock_page() {
        assert_eq!(cache_kib(1, 4096), SMALL_KIB);
        assert_eq!(cache_kib(262_145, 4096), SMALL_KIB);
        assert_eq!(cache_kib(262_146, 4096), LARGE_KIB);
        assert_eq!(cache_kib(65_537, 16_384), SMALL_KIB);
        assert_eq!(cache_kib(65_538, 16_384), LARGE_KIB);
    }

    #[tokio::test]
    async fn a_small_store_keeps_the_default_cache() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("c.db").display());
        let mut link = Link::open(Backend::Sqlite, &url).await.expect("connect");
        let pragma = |text: &str| Sql::new(Backend::Sqlite, text);
        link.execute(&mut pragma("PRAGMA cache_size = -65536"))
            .await
            .expect("pragma");
        let mut cache = PageCache::new();
        cache.fit(&mut link).await;
        let rows = link
            .fetch_all(&mut pragma("PRAGMA cache_size"))
            .await
            .expect("cache size");
        let kib: i64 = rows[0].field("cache_size").expect("cache size");
        assert_eq!(kib, -SMALL_KIB);
        assert_eq!(cache.kib, Some(SMALL_KIB));
    }
}
