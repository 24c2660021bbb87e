//! Values go through [`JsonRows`] into SQLite as they were: text with quotes, escapes,
//! control characters and non-ASCII letters, NULLs, the extreme integers, every byte value,
//! in the order the rows were added, whether written in the row or beforehand, in rows longer
//! than one of their nested arrays; and the same when bound row by row, as the SQLite writer
//! writes them.

use sqlx::{AnyConnection, Row as _, any::AnyRow};

use super::{Json, JsonRow, JsonRows};
use crate::{
    database::Backend,
    store::{db::Sql, link::Link},
};

/// A connection to a new database file in `dir`.
async fn database(dir: &tempfile::TempDir) -> AnyConnection {
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    Backend::Sqlite.connect(&url).await.unwrap()
}

/// How many times a row repeats its text, integer and bytes: more values than one nested
/// array holds, so that rows span several.
const REPEATS: usize = 3;

#[tokio::test]
async fn values_arrive_as_they_were_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = database(&dir).await;
    let backend = Backend::Sqlite;
    let names: Vec<String> = (0..REPEATS)
        .flat_map(|k| [format!("s{k}"), format!("i{k}"), format!("b{k}")])
        .collect();
    let table = format!(
        "CREATE TABLE t (n INTEGER PRIMARY KEY, {})",
        names.join(", ")
    );
    Sql::new(backend, &table).execute(&mut conn).await.unwrap();
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
        // A row's values after its first; in every other row they are written beforehand
        // and placed from the second column on, across the nested arrays' bounds.
        let rest = |r: &mut JsonRow<'_>| {
            r.opt_int(ints[i]).blob(&blobs[i]);
            for _ in 1..REPEATS {
                r.opt_text(texts[i]).opt_int(ints[i]).blob(&blobs[i]);
            }
        };
        let written = JsonRows::values(rest);
        rows.row(|r| {
            r.opt_text(texts[i]);
            match i % 2 {
                0 => rest(r),
                _ => {
                    r.values(written.clone());
                }
            }
        });
    }
    let columns: Vec<(&str, Json)> = names
        .iter()
        .zip([Json::Text, Json::Int, Json::Blob].into_iter().cycle())
        .map(|(name, kind)| (name.as_str(), kind))
        .collect();
    // The same rows bound one by one, as the SQLite writer writes them, into a copy of `t`.
    let copy = table.replacen("TABLE t", "TABLE u", 1);
    Sql::new(backend, &copy).execute(&mut conn).await.unwrap();
    let places: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
    let bound = format!(
        "INSERT INTO u ({}) VALUES ({})",
        names.join(", "),
        places.join(", ")
    );
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let mut link = Link::open(backend, &url).await.unwrap();
    link.execute_each(&bound, rows.each()).await.unwrap();

    let mut insert = Sql::new(backend, &format!("INSERT INTO t ({}) ", names.join(", ")));
    insert
        .json_rows(&columns, rows)
        .push(" WHERE true ORDER BY key");
    insert.execute(&mut conn).await.unwrap();

    for table in ["t", "u"] {
        let select = format!("SELECT {} FROM {table} ORDER BY n", names.join(", "));
        let stored = Sql::new(backend, &select)
            .fetch_all(&mut conn)
            .await
            .unwrap();
        check(&stored, &texts, &ints, &blobs);
    }
}

/// The rows `stored` hold the values of row `i` at row `i`.
fn check(stored: &[AnyRow], texts: &[Option<&str>], ints: &[Option<i64>], blobs: &[Vec<u8>]) {
    assert_eq!(stored.len(), texts.len());
    for (i, row) in stored.iter().enumerate() {
        for k in 0..REPEATS {
            let (s, n, b) = (format!("s{k}"), format!("i{k}"), format!("b{k}"));
            assert_eq!(
                row.get::<Option<String>, _>(s.as_str()).as_deref(),
                texts[i],
                "row {i}, {s}"
            );
            assert_eq!(
                row.get::<Option<i64>, _>(n.as_str()),
                ints[i],
                "row {i}, {n}"
            );
            assert_eq!(row.get::<Vec<u8>, _>(b.as_str()), blobs[i], "row {i}, {b}");
        }
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
