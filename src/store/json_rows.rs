//! Rows for one statement as one JSON parameter: a JSON array of rows that the statement
//! reads as a table ([`Sql::json_rows`]). The statement's text is then the same whatever the
//! number of rows, so it is prepared once and kept, where a `VALUES` list with a placeholder
//! per value is a new text, parsed and planned anew, for every number of rows.
//!
//! A row's values are held in arrays of [`CHUNK`]: SQLite finds an array's n-th value by
//! stepping over the n before it, so the 22 values of an audit row, read one by one from one
//! array, took 231 steps, and those steps were a tenth of its thread under
//! `ketenpoort bench`; in arrays of six they take 81.

use std::fmt::Write as _;

use super::db::Sql;
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

/// Rows of values for one statement, as a JSON array of rows ([`Sql::json_rows`]).
#[derive(Debug, Default)]
pub(super) struct JsonRows {
    text: String,
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
        self.text
            .push_str(if self.rows == 0 { "[[[" } else { "]],[[" });
        self.rows += 1;
        fill(&mut JsonRow {
            text: &mut self.text,
            column: 0,
            starts: None,
        });
    }

    /// Values that `fill` writes, to be added to a row later with [`JsonRow::values`]: so that
    /// a row's values can be written in the caller's task and only placed by the writer.
    pub fn values(fill: impl FnOnce(&mut JsonRow<'_>)) -> Values {
        let (mut text, mut starts) = (String::new(), Vec::new());
        fill(&mut JsonRow {
            text: &mut text,
            column: 0,
            starts: Some(&mut starts),
        });
        Values { text, starts }
    }

    fn finish(self) -> String {
        match self.rows {
            0 => "[]".to_string(),
            _ => self.text + "]]]",
        }
    }
}

/// Values written beforehand ([`JsonRows::values`]): one after another, unseparated, with
/// where each starts, so that they can be placed at any column of a row.
#[derive(Debug, Clone)]
pub(super) struct Values {
    text: String,
    starts: Vec<usize>,
}

/// The values of one row of [`JsonRows`].
pub(super) struct JsonRow<'r> {
    text: &'r mut String,
    /// Values written so far.
    column: usize,
    /// Writing [`Values`]: where each value starts in `text`.
    starts: Option<&'r mut Vec<usize>>,
}

// === impl JsonRow ===

impl JsonRow<'_> {
    /// Where the next value goes, after its separator.
    fn next(&mut self) -> &mut String {
        match self.starts.as_deref_mut() {
            Some(starts) => starts.push(self.text.len()),
            None if self.column == 0 => {}
            None if self.column % CHUNK == 0 => self.text.push_str("],["),
            None => self.text.push(','),
        }
        self.column += 1;
        self.text
    }

    /// A text value (JSON-escaped). Most values (ids, hashes, OINs, names) need no escape
    /// and are copied as they are, without a string of their own.
    pub fn text(&mut self, value: &str) -> &mut Self {
        let text = self.next();
        if value.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
            // Serialising a `str` into a `String` cannot fail.
            if let Ok(json) = serde_json::to_string(value) {
                text.push_str(&json);
            }
        } else {
            text.push('"');
            text.push_str(value);
            text.push('"');
        }
        self
    }

    /// A text value or NULL.
    pub fn opt_text(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(value) => self.text(value),
            None => {
                self.next().push_str("null");
                self
            }
        }
    }

    /// An integer.
    pub fn int(&mut self, value: i64) -> &mut Self {
        // Writing into a `String` cannot fail.
        let _ = write!(self.next(), "{value}");
        self
    }

    /// An integer or NULL.
    pub fn opt_int(&mut self, value: Option<i64>) -> &mut Self {
        match value {
            Some(value) => self.int(value),
            None => {
                self.next().push_str("null");
                self
            }
        }
    }

    /// Values written beforehand ([`JsonRows::values`]), in the order of their columns.
    pub fn values(&mut self, values: &Values) -> &mut Self {
        let ends = values.starts.iter().skip(1).copied();
        for (&start, end) in values.starts.iter().zip(ends.chain([values.text.len()])) {
            let value = values.text.get(start..end).unwrap_or_default();
            self.next().push_str(value);
        }
        self
    }

    /// Bytes, as hex.
    pub fn blob(&mut self, value: &[u8]) -> &mut Self {
        let text = self.next();
        text.push('"');
        text.push_str(&hex::encode(value));
        text.push('"');
        self
    }
}

#[cfg(test)]
mod tests;
