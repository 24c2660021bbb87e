//! Values go through [`JsonRows`] into SQLite as they were: text with quotes, escapes,
//! control characters and non-ASCII letters, NULLs, the extreme integers, every byte value,
//! in the order the rows were added, whether written in the row or beforehand.

use sqlx::{AnyConnection, Row as _};

use super::{Json, JsonRows};
use crate::{database::Backend, store::db::Sql};

/// A connection to a new database file in `dir`.
async fn database(dir: &tempfile::TempDir) -> AnyConnection {
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    Backend::Sqlite.connect(&url).await.unwrap()
}

#[tokio::test]
async fn values_arrive_as_they_were_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = database(&dir).await;
    let backend = Backend::Sqlite;
    Sql::new(
        backend,
        "CREATE TABLE t (n INTEGER PRIMARY KEY, s TEXT, i INTEGER, b BLOB)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let texts = [
        Some("plain"),
        Some("quote \" backslash \\ slash / newline \n tab \t nul \u{0} bell \u{7}"),
        Some("Ĳsselmonde — 𝄞 ünïcödé"),
        Some(""),
        None,
    ];
    let ints = [Some(i64::MAX), Some(i64::MIN), Some(0), Some(-1), None];
    let all_bytes: Vec<u8> = (0..=255).collect();
    let blobs = [
        all_bytes.clone(),
        Vec::new(),
        vec![0],
        vec![255, 0, 1],
        all_bytes,
    ];
    let mut rows = JsonRows::default();
    for i in 0..texts.len() {
        // Every other row's first values are written beforehand and spliced in.
        let written = JsonRows::values(|v| {
            v.opt_text(texts[i]).opt_int(ints[i]);
        });
        rows.row(|r| {
            match i % 2 {
                0 => r.opt_text(texts[i]).opt_int(ints[i]),
                _ => r.values(&written),
            }
            .blob(&blobs[i]);
        });
    }
    let columns = [("s", Json::Text), ("i", Json::Int), ("b", Json::Blob)];
    let mut insert = Sql::new(backend, "INSERT INTO t (s, i, b) ");
    insert
        .json_rows(&columns, rows)
        .push(" WHERE true ORDER BY key");
    insert.execute(&mut conn).await.unwrap();

    let stored = Sql::new(backend, "SELECT s, i, b FROM t ORDER BY n")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(stored.len(), texts.len());
    for (i, row) in stored.iter().enumerate() {
        assert_eq!(
            row.get::<Option<String>, _>("s").as_deref(),
            texts[i],
            "row {i}"
        );
        assert_eq!(row.get::<Option<i64>, _>("i"), ints[i], "row {i}");
        assert_eq!(row.get::<Vec<u8>, _>("b"), blobs[i], "row {i}");
    }
}

#[tokio::test]
async fn no_rows_is_a_statement_that_does_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = database(&dir).await;
    let backend = Backend::Sqlite;
    let mut select = Sql::new(backend, "");
    select.json_rows(&[("s", Json::Text)], JsonRows::default());
    assert!(select.fetch_all(&mut conn).await.unwrap().is_empty());
}
