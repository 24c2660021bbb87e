//! The writer's connection. On SQLite it is a `rusqlite` connection of its own, used on the
//! writer's own thread ([`super::writer::spawn`]): a statement is then a call, where with
//! sqlx it was a round trip to the connection's worker thread, and on two busy cores each
//! such round trip waited for a core (BENCHMARKS.md). On PostgreSQL it is sqlx's
//! connection, as for every reader. Statements come as [`Sql`] either way, and rows go back
//! as [`Row`]s read by column name ([`Fields`]).

use std::sync::Arc;

use rusqlite::{
    Connection, Statement,
    types::{ToSqlOutput, ValueRef},
};
use sqlx::{AnyConnection, Connection as _, any::AnyRow};

use super::{
    StoreError,
    columns::{Field, Fields},
    db::{SQLITE_PRAGMAS, Sql, Value},
    wal::WRITER_PRAGMAS,
};
use crate::database::Backend;

/// Statements kept prepared on the SQLite connection: every text the writer runs again and
/// again, with room to spare.
const KEPT_STATEMENTS: usize = 64;

/// The writer's connection.
pub(super) enum Link {
    Sqlite(Connection),
    Postgres(AnyConnection),
}

/// A row the writer read.
pub(super) enum Row {
    Sqlite {
        /// The statement's column names, shared by its rows.
        names: Arc<[String]>,
        values: Vec<rusqlite::types::Value>,
    },
    Postgres(AnyRow),
}

// === impl Link ===

impl Link {
    /// Opens the writer's connection to `url`, whose database is already set up and migrated:
    /// on SQLite with every connection's settings and without checkpoints inside its commits
    /// ([`WRITER_PRAGMAS`]).
    pub async fn open(backend: Backend, url: &str) -> Result<Link, StoreError> {
        match backend {
            Backend::Sqlite => {
                let conn = Connection::open(Backend::sqlite_file(url)?)?;
                conn.execute_batch(SQLITE_PRAGMAS)?;
                conn.execute_batch(WRITER_PRAGMAS)?;
                conn.set_prepared_statement_cache_capacity(KEPT_STATEMENTS);
                Ok(Link::Sqlite(conn))
            }
            Backend::Postgres => Ok(Link::Postgres(backend.connect(url).await?)),
        }
    }

    /// The database it is connected to.
    pub fn backend(&self) -> Backend {
        match self {
            Link::Sqlite(_) => Backend::Sqlite,
            Link::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs the query and returns its rows.
    pub async fn fetch_all(&mut self, sql: &mut Sql) -> Result<Vec<Row>, StoreError> {
        match self {
            Link::Sqlite(conn) => on_statement(conn, sql, |stmt| {
                let names: Arc<[String]> =
                    stmt.column_names().into_iter().map(String::from).collect();
                let mut found = Vec::new();
                let mut rows = stmt.raw_query();
                while let Some(row) = rows.next()? {
                    let values = (0..names.len())
                        .map(|i| row.get(i))
                        .collect::<Result<_, _>>()?;
                    found.push(Row::Sqlite {
                        names: names.clone(),
                        values,
                    });
                }
                Ok(found)
            }),
            Link::Postgres(conn) => {
                let rows = sql.fetch_all(conn).await?;
                Ok(rows.into_iter().map(Row::Postgres).collect())
            }
        }
    }

    /// Runs the statement and returns the number of rows it changed.
    pub async fn execute(&mut self, sql: &mut Sql) -> Result<u64, StoreError> {
        match self {
            Link::Sqlite(conn) => on_statement(conn, sql, |stmt| Ok(stmt.raw_execute()? as u64)),
            Link::Postgres(conn) => Ok(sql.execute(conn).await?.rows_affected()),
        }
    }

    /// Runs the statement `text` once per row of `rows`, each row's values bound to its
    /// placeholders (in the database's own form: `?1`, `?2`, … on SQLite, `$1`, `$2`, … on
    /// PostgreSQL), and returns the number of rows changed; prepared once.
    pub async fn execute_each<'v>(
        &mut self,
        text: &str,
        rows: impl Iterator<Item = &'v [Value]>,
    ) -> Result<u64, StoreError> {
        let mut changed = 0;
        match self {
            Link::Sqlite(conn) => {
                let mut stmt = conn.prepare_cached(text)?;
                for row in rows {
                    for (i, value) in row.iter().enumerate() {
                        stmt.raw_bind_parameter(i + 1, value)?;
                    }
                    changed += stmt.raw_execute()? as u64;
                }
            }
            Link::Postgres(conn) => {
                for row in rows {
                    let mut sql = Sql::new(Backend::Postgres, text);
                    for value in row {
                        sql.arg(value.clone());
                    }
                    changed += sql.kept().execute(conn).await?.rows_affected();
                }
            }
        }
        Ok(changed)
    }

    /// Closes the connection; a failure only loses the connection, which is closing anyway.
    pub async fn close(self) {
        match self {
            Link::Sqlite(conn) => {
                if let Err((_, e)) = conn.close() {
                    tracing::warn!(error = %e, "closing the writer's connection failed");
                }
            }
            Link::Postgres(conn) => {
                let _ = conn.close().await;
            }
        }
    }
}

/// Prepares `sql` on `conn` (from the kept statements when it is kept), binds its values and
/// runs `step` over it.
fn on_statement<T>(
    conn: &Connection,
    sql: &Sql,
    step: impl FnOnce(&mut Statement<'_>) -> rusqlite::Result<T>,
) -> Result<T, StoreError> {
    let bind = |stmt: &mut Statement<'_>| {
        for (i, value) in sql.args().iter().enumerate() {
            stmt.raw_bind_parameter(i + 1, value)?;
        }
        step(stmt)
    };
    if sql.is_kept() {
        Ok(bind(&mut *conn.prepare_cached(sql.text())?)?)
    } else {
        Ok(bind(&mut conn.prepare(sql.text())?)?)
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Int(v) => v
                .as_ref()
                .map_or(ToSqlOutput::from(rusqlite::types::Null), |v| {
                    ToSqlOutput::from(*v)
                }),
            Value::Text(v) => v
                .as_deref()
                .map_or(ToSqlOutput::from(rusqlite::types::Null), |v| {
                    ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes()))
                }),
            Value::Blob(v) => v
                .as_deref()
                .map_or(ToSqlOutput::from(rusqlite::types::Null), |v| {
                    ToSqlOutput::Borrowed(ValueRef::Blob(v))
                }),
        })
    }
}

// === impl Row ===

impl Fields for Row {
    fn field<T: Field>(&self, name: &str) -> Result<T, StoreError> {
        match self {
            Row::Sqlite { names, values } => {
                let value = names
                    .iter()
                    .position(|n| n == name)
                    .and_then(|i| values.get(i))
                    .ok_or_else(|| StoreError::Corrupt(format!("no column {name}")))?;
                T::column_result(ValueRef::from(value))
                    .map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))
            }
            Row::Postgres(row) => row.field(name),
        }
    }
}
