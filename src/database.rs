//! Which database a store URL names. The settings check it before anything opens; the store
//! opens it (`store::db`).

/// The databases the gateway runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite://path`: one gateway process per database file.
    Sqlite,
    /// `postgres://…`: any number of gateway replicas.
    Postgres,
}

/// A URL that names no database the gateway supports.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("store.url must start with \"sqlite:\" or \"postgres://\"")]
pub struct UnknownDatabase;

// === impl Backend ===

impl Backend {
    /// The database `url` names, or why it names none.
    pub fn of_url(url: &str) -> Result<Self, UnknownDatabase> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(UnknownDatabase)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_names_its_database() {
        assert_eq!(
            Backend::of_url("sqlite://var/k.db").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::of_url("postgresql://h/db").ok(),
            Some(Backend::Postgres)
        );
        assert!(Backend::of_url("mysql://h/db").is_err());
    }
}
