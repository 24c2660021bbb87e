//! How SQLite takes a batch of audit rows, measured on a copy of a gateway's store: as the
//! writer passes them (one JSON parameter of nested arrays of six, read with `jsonb_each` and
//! `->>`, `src/store/json_rows.rs`), as one prepared `INSERT` with 22 bound values per row
//! (what a writer on its own connection could do without a round trip per statement), or as
//! `VALUES` lists of a fixed number of rows (one statement text whatever the batch).
//!
//! Usage: `cargo run --release --manifest-path bench/rows/Cargo.toml -- STORE [ROWS]`, where
//! STORE is the SQLite file of a stopped gateway that has been under `ketenpoort bench` (its
//! audit log supplies realistic rows) and ROWS the rows per transaction (default 220: what a
//! commit of ~30 jobs writes under `ketenpoort bench`). The store is copied first and left
//! as it was. Prints the median time of the insert and of the commit (fsync) for each way,
//! over 50 transactions each, the ways taking turns.

use std::{path::PathBuf, time::Instant};

use rusqlite::{Connection, params_from_iter, types::Value};

/// The columns of `audit_log`, in the writer's order.
const COLUMNS: [&str; 22] = [
    "seq",
    "id",
    "at",
    "event",
    "outcome",
    "actor_oin",
    "actor_person",
    "counterparty_oin",
    "purpose",
    "legal_basis",
    "signal_id",
    "signal_type",
    "delivery_id",
    "case_ref_hash",
    "subject_type",
    "subject_hash",
    "subject_key_id",
    "trace_id",
    "span_id",
    "detail",
    "prev_hash",
    "hash",
];
/// Values per nested array, as `src/store/json_rows.rs` writes them.
const CHUNK: usize = 6;
/// Transactions measured per way, after as many to warm up.
const ROUNDS: usize = 50;

type Row = Vec<Value>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let store = PathBuf::from(
        args.next()
            .ok_or("usage: ketenpoort-bench-rows STORE [ROWS]")?,
    );
    let rows: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(220);
    let dir = std::env::temp_dir().join(format!("ketenpoort-bench-rows-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let copy = dir.join("store.db");
    std::fs::copy(&store, &copy)?;
    let result = run(&copy, rows);
    std::fs::remove_dir_all(&dir)?;
    println!(
        "{rows} audit rows per transaction (SQLite {}), medians of {ROUNDS}:",
        rusqlite::version()
    );
    for (way, times) in WAYS.iter().zip(result?) {
        let (insert, commit) = times.medians();
        println!("  {way:<44} insert {insert:>5.2} ms, commit {commit:>5.2} ms");
    }
    Ok(())
}

/// The ways measured, in the order of [`run`]'s times.
const WAYS: [&str; 3] = [
    "one JSON parameter (the writer's statement)",
    "one prepared INSERT per row, values bound",
    "INSERT of VALUES lists of 64 rows, bound",
];
/// Rows per `VALUES` list; the last list of a batch is filled up with NULL rows.
const LIST: usize = 64;

/// Insert and commit times of each way in [`WAYS`].
fn run(copy: &PathBuf, rows: usize) -> rusqlite::Result<Vec<Times>> {
    let conn = Connection::open(copy)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY; \
         PRAGMA wal_autocheckpoint = 0;",
    )?;
    let sample = sample_rows(&conn, rows)?;
    let mut next: i64 = conn.query_row("SELECT max(seq) FROM audit_log", [], |r| r.get(0))?;
    let json_sql = json_insert();
    let row = format!("({})", vec!["?"; COLUMNS.len()].join(", "));
    let bound_sql = format!(
        "INSERT INTO audit_log ({}) VALUES {row}",
        COLUMNS.join(", ")
    );
    let list_sql = format!(
        "INSERT INTO audit_log ({}) SELECT * FROM (VALUES {}) WHERE column1 IS NOT NULL",
        COLUMNS.join(", "),
        vec![row.as_str(); LIST].join(", ")
    );
    let mut times: Vec<Times> = WAYS.iter().map(|_| Times::default()).collect();
    for round in 0..2 * ROUNDS {
        for way in (0..WAYS.len()).map(|w| (w + round) % WAYS.len()) {
            let batch = renumbered(&sample, &mut next);
            let text = as_json(&batch);
            conn.execute_batch("BEGIN IMMEDIATE")?;
            let started = Instant::now();
            match way {
                0 => {
                    conn.prepare_cached(&json_sql)?.execute([&text])?;
                }
                1 => {
                    let mut insert = conn.prepare_cached(&bound_sql)?;
                    for row in &batch {
                        insert.execute(params_from_iter(row.iter()))?;
                    }
                }
                _ => {
                    let mut insert = conn.prepare_cached(&list_sql)?;
                    for list in batch.chunks(LIST) {
                        let values = list.iter().flatten().cloned();
                        let padding = (list.len()..LIST).flat_map(|_| COLUMNS.map(|_| Value::Null));
                        insert.execute(params_from_iter(values.chain(padding)))?;
                    }
                }
            }
            let inserted = Instant::now();
            conn.execute_batch("COMMIT")?;
            if round >= ROUNDS {
                times[way].insert.push(ms(inserted - started));
                times[way].commit.push(ms(inserted.elapsed()));
            }
        }
    }
    Ok(times)
}

/// The last `rows` audit records of the store (registry changes left out).
fn sample_rows(conn: &Connection, rows: usize) -> rusqlite::Result<Vec<Row>> {
    let sql = format!(
        "SELECT {} FROM audit_log WHERE event <> 'registry_changed' ORDER BY seq DESC LIMIT {rows}",
        COLUMNS.join(", ")
    );
    let mut statement = conn.prepare(&sql)?;
    let sample = statement
        .query_map([], |r| {
            (0..COLUMNS.len()).map(|i| r.get::<_, Value>(i)).collect()
        })?
        .collect::<rusqlite::Result<Vec<Row>>>()?;
    Ok(sample.into_iter().rev().collect())
}

/// The writer's statement: `INSERT … SELECT` over the rows of one JSON parameter.
fn json_insert() -> String {
    let values: Vec<String> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, name)| format!("value ->> '$[{}][{}]' AS {name}", i / CHUNK, i % CHUNK))
        .collect();
    format!(
        "INSERT INTO audit_log ({}) WITH r AS MATERIALIZED (SELECT key, value FROM \
         jsonb_each(?1)) SELECT {} FROM r WHERE true ORDER BY key",
        COLUMNS.join(", "),
        values.join(", ")
    )
}

/// The sample with new sequence numbers and ids, after `next`.
fn renumbered(sample: &[Row], next: &mut i64) -> Vec<Row> {
    let mut batch = sample.to_vec();
    for row in &mut batch {
        *next += 1;
        row[0] = Value::Integer(*next);
        row[1] = Value::Text(format!("bench-{next:030}"));
    }
    batch
}

/// The rows as the writer passes them: `[[v0..v5],[v6..v11],…]` per row.
fn as_json(batch: &[Row]) -> String {
    let value = |v: &Value| match v {
        Value::Integer(i) => serde_json::Value::from(*i),
        Value::Text(t) => serde_json::Value::from(t.as_str()),
        _ => serde_json::Value::Null,
    };
    let rows = batch
        .iter()
        .map(|row| {
            row.chunks(CHUNK)
                .map(|c| c.iter().map(value).collect())
                .collect()
        })
        .collect::<Vec<Vec<Vec<serde_json::Value>>>>();
    serde_json::to_string(&rows).unwrap_or_default()
}

/// Measured times of one way (ms).
#[derive(Default)]
struct Times {
    insert: Vec<f64>,
    commit: Vec<f64>,
}

impl Times {
    fn medians(mut self) -> (f64, f64) {
        (median(&mut self.insert), median(&mut self.commit))
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
