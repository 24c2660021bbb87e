//! A statement's rows ([`JsonRows`]): on SQLite bound row by row to one prepared statement
//! (the writer's statements are calls there, `super::link`); on PostgreSQL, where each
//! statement is a round trip, as one JSON parameter, a JSON array of rows that the statement
//! reads as a table ([`Sql::json_rows`]). The statement's text is then the same whatever the
//! number of rows, so it is prepared once and kept, where a `VALUES` list with a placeholder
//! per value is a new text, parsed and planned anew, for every number of rows. The writer's
//! reads at the start of a transaction take their keys this way on both databases.
//!
//! A row's values are held in arrays of [`CHUNK`]: SQLite finds an array's n-th value by
//! stepping over the n before it, so the 22 values of an audit row, read one by one from one
//! array, took 231 steps, and those steps were a tenth of its thread under
//! `ketenpoort bench`; in arrays of six they take 81.

use std::fmt::Write as _;

use super::db::{Sql, Value};
use crate::database::Backend;

/// Values per nested array of a row.
const CHUNK: usize = 6;

// === impl Sql ===

impl Sql {
    /// Appends `WITH r AS (<rows>) SELECT <column>, … FROM r`: the rows of a JSON array,
    /// bound as one parameter, each row's values (in arrays of [`CHUNK`]) typed and named by
    /// `columns`, with the row's index as `key`. The text is the same whatever the number of
    /// rows, so it stays prepared. Each row is taken out of the array once (`MATERIALIZED`),
    /// not once per column, and in binary form on both backends: SQLite's `jsonb_each` and
    /// PostgreSQL's `jsonb`, so no `->>` parses the row's text again (with `json_each`
    /// SQLite's thread spent a fifth more per `Send`; PostgreSQL's `json` ran 20–30% slower
    /// than `VALUES`).
    pub fn json_rows(&mut self, columns: &[(&str, Json)], rows: JsonRows) -> &mut Self {
        match self.backend() {
            Backend::Sqlite => {
                self.push("WITH r AS MATERIALIZED (SELECT key, value FROM jsonb_each(")
            }
            Backend::Postgres => {
                self.push("WITH r AS MATERIALIZED (SELECT key, value FROM jsonb_array_elements(")
            }
        };
        self.bind(rows.finish());
        match self.backend() {
            Backend::Sqlite => self.push(")) SELECT "),
            Backend::Postgres => self.push("::jsonb) WITH ORDINALITY AS e (value, key)) SELECT "),
        };
        for (i, (name, kind)) in columns.iter().enumerate() {
            let (chunk, at) = (i / CHUNK, i % CHUNK);
            let value = match self.backend() {
                Backend::Sqlite => format!("value ->> '$[{chunk}][{at}]'"),
                Backend::Postgres => format!("value -> {chunk} ->> {at}"),
            };
            let expr = match (self.backend(), kind) {
                (_, Json::Text) => value,
                (Backend::Sqlite, Json::Int) => value,
                (Backend::Postgres, Json::Int) => format!("({value})::bigint"),
                (Backend::Sqlite, Json::Blob) => format!("unhex({value})"),
                (Backend::Postgres, Json::Blob) => format!("decode({value}, 'hex')"),
            };
            if i > 0 {
                self.push(", ");
            }
            self.push(&expr).push(" AS ").push(name);
        }
        self.push(" FROM r")
    }
}

/// How a value of [`JsonRows`] is typed in SQL.
#[derive(Debug, Clone, Copy)]
pub(super) enum Json {
    /// Text, or NULL.
    Text,
    /// A 64-bit integer, or NULL.
    Int,
    /// Bytes (carried as hex).
    Blob,
}

/// Rows of values for one statement: on PostgreSQL bound as one JSON array of rows
/// ([`Sql::json_rows`]); on SQLite, whose writer's statements are calls, bound row by row to
/// a prepared statement ([`JsonRows::each`]), which cost SQLite half the work of reading them
/// from JSON (`bench/rows`).
#[derive(Debug, Default)]
pub(super) struct JsonRows {
    /// The rows' values, one row after another.
    values: Vec<Value>,
    rows: usize,
}

// === impl JsonRows ===

impl JsonRows {
    /// True when no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Adds a row whose values `fill` writes, in the order of the statement's columns.
    pub fn row(&mut self, fill: impl FnOnce(&mut JsonRow<'_>)) {
        self.rows += 1;
        fill(&mut JsonRow {
            values: &mut self.values,
        });
    }

    /// Values that `fill` writes, to be added to a row later with [`JsonRow::values`]: so that
    /// a row's values can be written in the caller's task and only placed by the writer.
    pub fn values(fill: impl FnOnce(&mut JsonRow<'_>)) -> Values {
        let mut values = Vec::new();
        fill(&mut JsonRow {
            values: &mut values,
        });
        Values(values)
    }

    /// Each row's values.
    pub fn each(&self) -> impl Iterator<Item = &[Value]> {
        let width = self.values.len() / self.rows.max(1);
        self.values.chunks(width.max(1))
    }

    /// The rows as a JSON array of rows, each row's values in arrays of [`CHUNK`].
    fn finish(self) -> String {
        let mut text = String::from("[");
        for (i, row) in self.each().enumerate() {
            text.push_str(if i == 0 { "[[" } else { ",[[" });
            for (column, value) in row.iter().enumerate() {
                match column {
                    0 => {}
                    c if c % CHUNK == 0 => text.push_str("],["),
                    _ => text.push(','),
                }
                push_json(&mut text, value);
            }
            text.push_str("]]");
        }
        text.push(']');
        text
    }
}

/// Writes `value` as JSON: bytes as hex text. Most texts (ids, hashes, OINs, names) need no
/// escape and are copied as they are.
fn push_json(text: &mut String, value: &Value) {
    match value {
        Value::Int(Some(n)) => {
            // Writing into a `String` cannot fail.
            let _ = write!(text, "{n}");
        }
        Value::Text(Some(s)) if s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') => {
            // Serialising a `str` into a `String` cannot fail.
            if let Ok(json) = serde_json::to_string(s) {
                text.push_str(&json);
            }
        }
        Value::Text(Some(s)) => {
            text.push('"');
            text.push_str(s);
            text.push('"');
        }
        Value::Blob(Some(b)) => {
            text.push('"');
            text.push_str(&hex::encode(b));
            text.push('"');
        }
        Value::Int(None) | Value::Text(None) | Value::Blob(None) => text.push_str("null"),
    }
}

/// Values written beforehand ([`JsonRows::values`]), to be placed at any column of a row.
#[derive(Debug, Clone)]
pub(super) struct Values(Vec<Value>);

/// The values of one row of [`JsonRows`].
pub(super) struct JsonRow<'r> {
    values: &'r mut Vec<Value>,
}

// === impl JsonRow ===

impl JsonRow<'_> {
    /// A text value.
    pub fn text(&mut self, value: &str) -> &mut Self {
        self.values.push(value.into());
        self
    }

    /// A text value or NULL.
    pub fn opt_text(&mut self, value: Option<&str>) -> &mut Self {
        self.values.push(value.into());
        self
    }

    /// A text value or NULL, taken as it is.
    pub fn owned(&mut self, value: Option<String>) -> &mut Self {
        self.values.push(Value::Text(value));
        self
    }

    /// An integer.
    pub fn int(&mut self, value: i64) -> &mut Self {
        self.values.push(value.into());
        self
    }

    /// An integer or NULL.
    pub fn opt_int(&mut self, value: Option<i64>) -> &mut Self {
        self.values.push(value.into());
        self
    }

    /// Values written beforehand ([`JsonRows::values`]), in the order of their columns.
    pub fn values(&mut self, values: Values) -> &mut Self {
        self.values.extend(values.0);
        self
    }

    /// Bytes.
    pub fn blob(&mut self, value: &[u8]) -> &mut Self {
        self.values.push(value.to_vec().into());
        self
    }
}

#[cfg(test)]
mod tests;
