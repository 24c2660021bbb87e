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
    Any, AnyConnection, AnyPool, Arguments, ConnectOptions, Encode, Executor, Type,
    any::{AnyArguments, AnyConnectOptions, AnyPoolOptions, AnyRow},
    query::Query,
    sqlite::SqliteConnectOptions,
};

use super::StoreError;
use crate::database::Backend;

/// The channel on which a PostgreSQL writer announces the recipients of committed deliveries
/// to every replica; the payload is their OINs, comma separated.
pub(super) const DELIVERY_CHANNEL: &str = "ketenpoort_deliveries";

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

    /// Opens the writer's connection: as [`Backend::connect`], and with SQLite without
    /// checkpoints inside its commits ([`super::wal`] runs them beside it).
    pub(super) async fn connect_writer(self, url: &str) -> Result<AnyConnection, StoreError> {
        let mut conn = self.connect(url).await?;
        if self == Backend::Sqlite {
            conn.execute(super::wal::WRITER_PRAGMAS).await?;
        }
        Ok(conn)
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

    /// Per-connection settings. SQLite: WAL, so readers run beside the writer; a full fsync
    /// per commit, so a committed `Send` survives a power cut; foreign keys checked; a wait for
    /// locks instead of an error. PostgreSQL's defaults (synchronous commit) are already so.
    async fn set_up(self, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
        if self == Backend::Sqlite {
            // secure_delete: erased copies and removed rows are overwritten with zeros in the
            // file, not only unlinked from the b-tree; `Store::forget` truncates the WAL.
            conn.execute(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                 PRAGMA secure_delete = ON;",
            )
            .await?;
        }
        Ok(())
    }

    /// The statement that starts the writer's transaction: SQLite takes the database's
    /// write lock at once; on PostgreSQL [`Backend::begin_writing`] adds the chain's lock.
    pub(super) fn begin_writing_sql(self) -> &'static str {
        match self {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        }
    }

    /// Starts the writer's transaction with the audit chain to itself: SQLite takes the
    /// database's write lock at once; PostgreSQL takes an advisory lock that every replica's
    /// writer takes, so chain records, delivery order and idempotency checks are serialised
    /// across replicas. Both locks end with the transaction. (The SQLite writer sends its
    /// `BEGIN IMMEDIATE` with its first reads, in one round trip.)
    pub(super) async fn begin_writing(self, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
        conn.execute(self.begin_writing_sql()).await?;
        if self == Backend::Postgres {
            Sql::new(self, "SELECT pg_advisory_xact_lock(")
                .bind(CHAIN_LOCK)
                .push(")")
                .execute(conn)
                .await?;
        }
        Ok(())
    }

    /// Tells the other replicas, at commit, that `recipients` have new deliveries (the
    /// writer wakes its own subscribers itself). Nothing to do for SQLite: one process.
    pub(super) async fn announce(
        self,
        conn: &mut AnyConnection,
        recipients: &[&str],
    ) -> Result<(), sqlx::Error> {
        if self == Backend::Postgres && !recipients.is_empty() {
            Sql::new(self, "SELECT pg_notify(")
                .bind(DELIVERY_CHANNEL.to_string())
                .push(", ")
                .bind(recipients.join(","))
                .push(")")
                .execute(conn)
                .await?;
        }
        Ok(())
    }
}

/// A statement built piece by piece, with the placeholders of its database: `$1, $2, …` for
/// PostgreSQL; plain `?` for SQLite, which looks up every named or numbered placeholder
/// among those before it, so a multi-row statement with thousands of `$n` would take
/// quadratic time to prepare.
pub(super) struct Sql {
    backend: Backend,
    text: String,
    args: AnyArguments,
    error: Option<sqlx::error::BoxDynError>,
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
            args: AnyArguments::default(),
            error: None,
            kept: false,
        }
    }

    /// Keeps the statement prepared on its connection (sqlx's statement cache), for a text
    /// that is run again and again; others are prepared anew each time.
    pub fn kept(&mut self) -> &mut Self {
        self.kept = true;
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
    pub fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: for<'q> Encode<'q, Any> + Type<Any> + Send,
    {
        if let Err(e) = self.args.add(value) {
            self.error.get_or_insert(e);
        }
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
            self.bind(value.to_string());
        }
        if first {
            self.push("NULL");
        }
        self.push(")")
    }

    /// The statement, ready to run; the first value that could not be encoded fails it.
    pub fn build(&mut self) -> Result<Query<'static, Any, AnyArguments>, sqlx::Error> {
        if let Some(e) = self.error.take() {
            return Err(sqlx::Error::Encode(e));
        }
        let args = std::mem::take(&mut self.args);
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
