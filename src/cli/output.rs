//! Everything the commands print to standard output goes through [`write`] (or the [`outln!`]
//! macro over it), which returns the error instead of panicking, so that a closed pipe
//! (`ketenpoort audit query | head -1`) ends the command quietly; and listings print as JSON
//! lines with `--json`, or as text, through [`print_rows`].

use std::{
    fmt,
    io::{self, Write as _},
};

/// Writes `text` to standard output: the one place the commands print there.
pub fn write(text: fmt::Arguments<'_>) -> io::Result<()> {
    io::stdout().lock().write_fmt(text)
}

/// Like `println!`, but through [`write`]: returns an `io::Result` to pass on with `?`.
macro_rules! outln {
    () => {
        $crate::cli::output::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use outln;

/// One entry of a listing: a JSON object under `--json`, else a line (or a few) of text.
pub trait Row {
    /// The entry as one JSON object, for `--json`.
    fn json(&self) -> serde_json::Value;
    /// The entry as text: one line, or a few joined with `\n`.
    fn text(&self) -> String;
}

/// Prints `rows` as one JSON object per line when `json`; else as text, below `heading` and
/// above what `footer` makes of the number of rows.
pub fn print_rows<R: Row>(
    rows: &[R],
    json: bool,
    heading: Option<&str>,
    footer: impl FnOnce(usize) -> Option<String>,
) -> io::Result<()> {
    if json {
        for row in rows {
            outln!("{}", row.json())?;
        }
        return Ok(());
    }
    if let Some(heading) = heading {
        outln!("{heading}")?;
    }
    for row in rows {
        outln!("{}", row.text())?;
    }
    match footer(rows.len()) {
        Some(footer) => outln!("{footer}"),
        None => Ok(()),
    }
}
