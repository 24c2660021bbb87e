//! Why a store operation failed.

use crate::database::UnknownDatabase;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The SQLite writer's own connection failed.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database URL names no database this gateway supports.
    #[error(transparent)]
    Url(#[from] UnknownDatabase),
    /// A migration failed.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database directory could not be created.
    #[error("cannot create {path}: {source}")]
    CreateDir {
        /// The directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The writer task has stopped (the gateway is shutting down).
    #[error("the store is closed")]
    Closed,
    /// Another job of the same writer transaction failed; this one is retried alone.
    #[error("the batch this job was committed with failed")]
    BatchFailed,
    /// A value cannot be stored (checked before the writer's transaction).
    #[error("the {0} cannot be stored: it holds a NUL character or is too long")]
    Invalid(&'static str),
    /// A registry change was made against a version of the partner that is no longer the
    /// stored one; nothing was changed.
    #[error(
        "partner {partner} was changed since version {version} (by another operator or replica); \
         read it again and make the change against its current version"
    )]
    Stale {
        /// The partner's id.
        partner: String,
        /// The version the change was made against.
        version: i64,
    },
    /// A stored value does not decode.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// A delivery id is not addressed to this recipient.
    #[error("delivery {0} is not addressed to you")]
    UnknownDelivery(String),
    /// A delivery expired before it was acknowledged.
    #[error("delivery {0} has expired")]
    Expired(String),
}
