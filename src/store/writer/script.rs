//! How a batch's transaction opens (its reads) and where its writes go, up to its commit.
//!
//! With sqlx every statement is a round trip to the connection's worker thread, and on this
//! 2-core machine, with the requests keeping both cores busy, a round trip costs 0.2–0.3 ms
//! whatever the statement does: about as much as SQLite's own work for a batch's rows. So on
//! SQLite a transaction takes two: `BEGIN IMMEDIATE` with the reads the batch needs
//! ([`Opening`]), each tagged with a `source` column so their rows can be told apart, then
//! the batch's statements gathered into one text with its `COMMIT` ([`Script`]). Every
//! statement takes its rows as one JSON parameter ([`Sql::json_rows`]) and each is written
//! even when it has none, so both texts are the same from batch to batch and stay prepared
//! (preparing them anew for every mix of rows cost a sixth of the gateway's CPU under a mixed
//! load; README, "Benchmarks"). PostgreSQL prepares one statement at a time, so there each
//! runs as it comes, and only when it has rows.

use sqlx::{AnyConnection, any::AnyRow};

use crate::{
    database::Backend,
    store::{db::Sql, json_rows::JsonRows},
};

/// The reads a transaction begins with.
pub(super) struct Opening {
    backend: Backend,
    /// SQLite: one text, from `BEGIN IMMEDIATE`; PostgreSQL: the queries, run once it began.
    reads: Vec<Sql>,
}

// === impl Opening ===

impl Opening {
    /// No reads yet.
    pub fn new(backend: Backend) -> Self {
        let reads = match backend {
            Backend::Sqlite => vec![Sql::new(backend, backend.begin_writing_sql())],
            Backend::Postgres => Vec::new(),
        };
        Opening { backend, reads }
    }

    /// Adds the query `build` writes; its rows must name their `source`.
    pub fn read(&mut self, build: impl FnOnce(&mut Sql)) {
        match (self.backend, self.reads.last_mut()) {
            (Backend::Sqlite, Some(all)) => {
                all.push(";\n");
                build(all);
            }
            _ => {
                let mut sql = Sql::new(self.backend, "");
                build(&mut sql);
                self.reads.push(sql);
            }
        }
    }

    /// Adds the query `build` writes over `rows`: on SQLite even over no rows, so that the
    /// opening's text does not change; on PostgreSQL when there are rows.
    pub fn read_over(&mut self, rows: JsonRows, build: impl FnOnce(&mut Sql, JsonRows)) {
        if self.backend == Backend::Postgres && rows.is_empty() {
            return;
        }
        self.read(|sql| build(sql, rows));
    }

    /// Begins the transaction with the audit chain to itself ([`Backend::begin_writing`])
    /// and returns the rows of every read.
    pub async fn begin(self, conn: &mut AnyConnection) -> Result<Vec<AnyRow>, sqlx::Error> {
        let mut rows = Vec::new();
        if self.backend == Backend::Sqlite {
            for mut all in self.reads {
                rows.extend(all.kept().fetch_all(&mut *conn).await?);
            }
            return Ok(rows);
        }
        self.backend.begin_writing(&mut *conn).await?;
        for mut read in self.reads {
            rows.extend(read.kept().fetch_all(&mut *conn).await?);
        }
        Ok(rows)
    }
}

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

    /// Adds the statement `build` writes over `rows`: with the commit on SQLite, even over no
    /// rows, so that the script's text does not change; run now on PostgreSQL, when there are
    /// rows.
    pub async fn run_over(
        &mut self,
        rows: JsonRows,
        build: impl FnOnce(&mut Sql, JsonRows),
    ) -> Result<(), sqlx::Error> {
        match &mut self.gathered {
            Some(all) => {
                build(all, rows);
                all.push(";\n");
                Ok(())
            }
            None if rows.is_empty() => Ok(()),
            None => {
                let mut sql = Sql::new(self.backend, "");
                build(&mut sql, rows);
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
