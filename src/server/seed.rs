//! The partner registry at start-up: read from the database, or, on the first start, seeded
//! into it from `partners.toml`.

use std::path::Path;

use super::StartError;
use crate::{
    audit::{AuditEvent, EventKind, Outcome},
    registry::{self, Registry},
    store::{Store, StoreError},
};

/// The registry from the database; on first start, the database is seeded from
/// `partners.toml`, and after that `partners.toml` is not read for the registry.
pub(super) async fn registry_from_store(
    store: &Store,
    partners_file: &Path,
    defs: Vec<registry::PartnerDef>,
) -> Result<Registry, StartError> {
    let mut records = store.registry_records().await?;
    if records.is_empty() {
        records = registry::records_from_definitions(partners_file, defs, crate::clock::now_ms())?;
        Registry::assemble(partners_file, records.clone())?;
        let mut seeded = AuditEvent::new(EventKind::RegistryChanged, Outcome::Ok);
        seeded.detail = serde_json::json!({
            "action": "registry_seeded",
            "source": partners_file.display().to_string(),
            "partners": records.len(),
        });
        match store.save_records(records.clone(), vec![seeded]).await {
            // Another replica seeded the same database first: its records stand.
            Ok(()) | Err(StoreError::Stale { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        tracing::info!(partners = records.len(), file = %partners_file.display(), "registry seeded into the database");
        // As stored, at their first version.
        records = store.registry_records().await?;
    } else {
        tracing::info!(
            partners = records.len(),
            "registry read from the database ({} is only read to seed an empty database)",
            partners_file.display()
        );
    }
    Ok(Registry::assemble(Path::new("database"), records)?)
}
