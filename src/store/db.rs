//! The two databases the store runs on, behind sqlx's `Any` driver: SQLite for one gateway
//! (the default, a file), PostgreSQL for several replicas sharing one database.
//!
//! This module owns what differs between them: how a connection is opened and set up, which
//! migrations apply, how the writer takes the audit chain for itself, and how other replicas
//! hear of new deliveries. Everything else is written once, in SQL both understand; statements
//! built at run time go through [`Sql`], which writes each database's own placeholders
//! (sqlx's `QueryBuilder` would write `?` for `Any`, which PostgreSQL does not take).

use std::{path::Path, str::FromStr};

use sqlx::{
    Any, AnyConnection, AnyPool, Arguments, ConnectOptions, Executor,
    any::{AnyArguments, AnyConnectOptions, AnyPoolOptions, AnyRow},
    query::Query,
    sqlite::SqliteConnectOptions,
};

use super::StoreError;
use crate::database::Backend;

/// The channel on which a PostgreSQL writer announces the recipients of committed deliveries
/// to every replica; the payload is their OINs, comma separated.
pub(super) const DELIVERY_CHANNEL: &str = "ketenpoort_deliveries";

/// Every SQLite connection's settings: WAL, so readers run beside the writer; a full fsync
/// per commit, so a committed `Send` survives a power cut; foreign keys checked; a wait for
/// locks instead of an error; and `secure_delete`: erased copies and removed rows are
/// overwritten with zeros in the file, not only unlinked from the b-tree (`Store::forget`
/// truncates the WAL).
pub(super) const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA secure_delete = ON;";

/// Key of the transaction-scoped advisory lock under which a PostgreSQL writer extends the
/// audit chain ("ktnp"): one writer at a time across all replicas.
const CHAIN_LOCK: i64 = 0x6b74_6e70;

// === impl Backend ===

impl Backend {
    /// Opens a pool of `connections` reading connections, creating the SQLite file (and its
    /// directory) if needed, and applies the migrations.
    pub(super) async fn open_pool(
        self,
        url: &str,
        connections: u32,
    ) -> Result<AnyPool, StoreError> {
        sqlx::any::install_default_drivers();
        let options = self.connect_options(url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(connections)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    self.set_up(conn).await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        match self {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("migrations/postgres").run(&pool).await?,
        }
        Ok(pool)
    }

    /// Opens one connection of its own, for the writer.
    pub(super) async fn connect(self, url: &str) -> Result<AnyConnection, StoreError> {
        let mut conn = self.connect_options(url)?.connect().await?;
        self.set_up(&mut conn).await?;
        Ok(conn)
    }

    /// The file an SQLite URL names.
    pub(super) fn sqlite_file(url: &str) -> Result<std::path::PathBuf, StoreError> {
        Ok(SqliteConnectOptions::from_str(url)?
            .get_filename()
            .to_path_buf())
    }

    fn connect_options(self, url: &str) -> Result<AnyConnectOptions, StoreError> {
        match self {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)?;
                let file = Path::new(options.get_filename());
                if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                        path: dir.display().to_string(),
                        source,
                    })?;
                }
                if file != Path::new(":memory:") {
                    create_private(file)?;
                }
                let create = options.create_if_missing(true);
                Ok(AnyConnectOptions::from_str(create.to_url_lossy().as_str())?)
            }
            Backend::Postgres => Ok(AnyConnectOptions::from_str(url)?),
        }
    }

    /// Per-connection settings ([`SQLITE_PRAGMAS`]); PostgreSQL's defaults (synchronous
    /// commit) are already so.
    async fn set_up(self, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
        if self == Backend::Sqlite {
            conn.execute(SQLITE_PRAGMAS).await?;
        }
        Ok(())
    }

    /// The statements that start the writer's transaction with the audit chain to itself:
    /// SQLite takes the database's write lock at once; PostgreSQL takes an advisory lock that
    /// every replica's writer takes, so chain records, delivery order and idempotency checks
    /// are serialised across replicas. Both locks end with the transaction.
    pub(super) fn begin_writing(self) -> Vec<Sql> {
        match self {
            Backend::Sqlite => vec![Sql::new(self, "BEGIN IMMEDIATE")],
            Backend::Postgres => {
                let mut lock = Sql::new(self, "SELECT pg_advisory_xact_lock(");
                lock.bind(CHAIN_LOCK).push(")");
                vec![Sql::new(self, "BEGIN"), lock]
            }
        }
    }

    /// The statement that tells the other replicas, at commit, that `recipients` have new
    /// deliveries (the writer wakes its own subscribers itself); none for SQLite: one process.
    pub(super) fn announcement(self, recipients: &[&str]) -> Option<Sql> {
        if self != Backend::Postgres || recipients.is_empty() {
            return None;
        }
        let mut sql = Sql::new(self, "SELECT pg_notify(");
        sql.bind(DELIVERY_CHANNEL)
            .push(", ")
            .bind(recipients.join(","))
            .push(")");
        Some(sql)
    }
}

/// A value bound to a statement, typed even when NULL, as PostgreSQL types its parameters.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Blob(Option<Vec<u8>>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(Some(v))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(Some(v.to_string()))
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(Some(v.clone()))
    }
}

impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        Value::Text(v.map(str::to_string))
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(Some(v))
    }
}

/// A statement built piece by piece, with the placeholders of its database: `$1, $2, …` for
/// PostgreSQL; plain `?` for SQLite, which looks up every named or numbered placeholder
/// among those before it, so a multi-row statement with thousands of `$n` would take
/// quadratic time to prepare.
pub(super) struct Sql {
    backend: Backend,
    text: String,
    args: Vec<Value>,
    /// Keep the statement prepared on its connection, for the next time its text is run.
    kept: bool,
}

// === impl Sql ===

impl Sql {
    /// A statement for `backend` starting with `text`.
    pub fn new(backend: Backend, text: &str) -> Self {
        Sql {
            backend,
            text: text.to_string(),
            args: Vec::new(),
            kept: false,
        }
    }

    /// Keeps the statement prepared on its connection (its statement cache), for a text
    /// that is run again and again; others are prepared anew each time.
    pub fn kept(&mut self) -> &mut Self {
        self.kept = true;
        self
    }

    /// Whether the statement is kept prepared.
    pub fn is_kept(&self) -> bool {
        self.kept
    }

    /// The statement's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The values bound, in the order of their placeholders.
    pub fn args(&self) -> &[Value] {
        &self.args
    }

    /// Binds `value` to the next placeholder the text already holds (`$1`, `$2`, … in order).
    pub fn arg(&mut self, value: impl Into<Value>) -> &mut Self {
        self.args.push(value.into());
        self
    }

    /// The database the statement is written for.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Appends SQL text.
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder and binds `value` to it.
    pub fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.args.push(value.into());
        match self.backend {
            Backend::Sqlite => self.text.push('?'),
            Backend::Postgres => {
                self.text.push('$');
                self.text.push_str(&self.args.len().to_string());
            }
        }
        self
    }

    /// Appends `(…)` with one placeholder per value; `(NULL)` when there are none, which
    /// matches nothing.
    pub fn bind_list<'v>(&mut self, values: impl IntoIterator<Item = &'v str>) -> &mut Self {
        self.push("(");
        let mut first = true;
        for value in values {
            if !first {
                self.push(", ");
            }
            first = false;
            self.bind(value);
        }
        if first {
            self.push("NULL");
        }
        self.push(")")
    }

    /// The statement, ready to run on sqlx; the first value that could not be encoded fails
    /// it.
    pub fn build(&mut self) -> Result<Query<'static, Any, AnyArguments>, sqlx::Error> {
        let mut args = AnyArguments::default();
        for value in std::mem::take(&mut self.args) {
            let added = match value {
                Value::Int(v) => args.add(v),
                Value::Text(v) => args.add(v),
                Value::Blob(v) => args.add(v),
            };
            added.map_err(sqlx::Error::Encode)?;
        }
        Ok(
            sqlx::query_with(sqlx::AssertSqlSafe(std::mem::take(&mut self.text)), args)
                .persistent(self.kept),
        )
    }

    /// Runs the query on `conn` and returns its rows.
    pub async fn fetch_all(
        &mut self,
        conn: &mut AnyConnection,
    ) -> Result<Vec<AnyRow>, sqlx::Error> {
        self.build()?.fetch_all(conn).await
    }

    /// Runs the statement on `conn`.
    pub async fn execute(
        &mut self,
        conn: &mut AnyConnection,
    ) -> Result<sqlx::any::AnyQueryResult, sqlx::Error> {
        self.build()?.execute(conn).await
    }
}

/// Creates the SQLite database file readable and writable by its owner only (0600), when it
/// does not exist yet; SQLite gives its WAL and shared-memory files the same mode.
fn create_private(file: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(file) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::CreateDir {
            path: file.display().to_string(),
            source,
        }),
    }
}
