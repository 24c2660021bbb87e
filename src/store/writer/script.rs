//! Where a batch's writes go, and how the batch commits.
//!
//! With sqlx every statement is a round trip to the connection's worker thread, and on this
//! 2-core machine, with the requests keeping both cores busy, a round trip costs 0.2–0.3 ms
//! whatever the statement does: about as much as SQLite's own work for a batch's rows. So on
//! SQLite the batch's statements are gathered into one text (`INSERT …; INSERT …; COMMIT`)
//! and run in a single round trip, which SQLite prepares as a whole and sqlx keeps prepared.
//! PostgreSQL prepares one statement at a time, so there each runs as it comes.

use sqlx::AnyConnection;

use crate::{database::Backend, store::db::Sql};

/// The statements of one transaction, up to its `COMMIT`.
pub(super) struct Script<'c> {
    conn: &'c mut AnyConnection,
    backend: Backend,
    /// SQLite: the statements so far, run with the `COMMIT`.
    gathered: Option<Sql>,
}

// === impl Script ===

impl<'c> Script<'c> {
    /// The writes of a transaction open on `conn`.
    pub fn new(conn: &'c mut AnyConnection, backend: Backend) -> Self {
        let gathered = (backend == Backend::Sqlite).then(|| Sql::new(backend, ""));
        Script {
            conn,
            backend,
            gathered,
        }
    }

    /// Adds the statement `build` writes: run now on PostgreSQL, with the commit on SQLite.
    pub async fn run(&mut self, build: impl FnOnce(&mut Sql)) -> Result<(), sqlx::Error> {
        match &mut self.gathered {
            Some(all) => {
                build(all);
                all.push(";\n");
                Ok(())
            }
            None => {
                let mut sql = Sql::new(self.backend, "");
                build(&mut sql);
                sql.kept().execute(self.conn).await?;
                Ok(())
            }
        }
    }

    /// Runs what is gathered and commits the transaction.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let mut sql = self.gathered.unwrap_or_else(|| Sql::new(self.backend, ""));
        sql.push("COMMIT").kept().execute(self.conn).await?;
        Ok(())
    }
}
