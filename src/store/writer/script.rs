//! How a batch's transaction opens (its reads) and where its writes go, up to its commit.
//!
//! Every statement is run as it comes, and only when it has rows: on SQLite the writer's
//! connection is its own ([`Link`]), so a statement costs SQLite's work and no round trip.
//! Each takes its rows as one JSON parameter ([`Sql::json_rows`]), so its text is the same
//! from batch to batch and stays prepared (preparing statements anew for every mix of rows
//! cost a sixth of the gateway's CPU under a mixed load; BENCHMARKS.md).

use crate::database::Backend;
use crate::store::{
    StoreError,
    db::Sql,
    json_rows::JsonRows,
    link::{Link, Row},
};

/// The reads a transaction begins with.
pub(super) struct Opening {
    backend: Backend,
    reads: Vec<Sql>,
}

// === impl Opening ===

impl Opening {
    /// No reads yet.
    pub fn new(backend: Backend) -> Self {
        Opening {
            backend,
            reads: Vec::new(),
        }
    }

    /// Adds the query `build` writes; its rows must name their `source`.
    pub fn read(&mut self, build: impl FnOnce(&mut Sql)) {
        let mut sql = Sql::new(self.backend, "");
        build(&mut sql);
        self.reads.push(sql);
    }

    /// Adds the query `build` writes over `rows`, when there are rows.
    pub fn read_over(&mut self, rows: JsonRows, build: impl FnOnce(&mut Sql, JsonRows)) {
        if rows.is_empty() {
            return;
        }
        self.read(|sql| build(sql, rows));
    }

    /// Begins the transaction with the audit chain to itself ([`Backend::begin_writing`])
    /// and returns the rows of every read.
    pub async fn begin(self, link: &mut Link) -> Result<Vec<Row>, StoreError> {
        for mut sql in self.backend.begin_writing() {
            link.execute(sql.kept()).await?;
        }
        let mut rows = Vec::new();
        for mut read in self.reads {
            rows.extend(link.fetch_all(read.kept()).await?);
        }
        Ok(rows)
    }
}

/// The statements of one transaction, up to its `COMMIT`.
pub(super) struct Script<'c> {
    link: &'c mut Link,
    backend: Backend,
}

// === impl Script ===

impl<'c> Script<'c> {
    /// The writes of a transaction open on `link`.
    pub fn new(link: &'c mut Link, backend: Backend) -> Self {
        Script { link, backend }
    }

    /// Runs the statement `build` writes over `rows`, when there are rows.
    pub async fn run_over(
        &mut self,
        rows: JsonRows,
        build: impl FnOnce(&mut Sql, JsonRows),
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut sql = Sql::new(self.backend, "");
        build(&mut sql, rows);
        self.link.execute(sql.kept()).await?;
        Ok(())
    }

    /// Runs `text` once per row of `rows`, each row's values bound to its placeholders
    /// ([`Link::execute_each`]), when there are rows.
    pub async fn run_each(&mut self, text: &str, rows: &JsonRows) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        self.link.execute_each(text, rows.each()).await?;
        Ok(())
    }

    /// The database the transaction is on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Commits the transaction.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.link
            .execute(Sql::new(self.backend, "COMMIT").kept())
            .await?;
        Ok(())
    }
}
