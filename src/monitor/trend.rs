//! The trend of a report: per signal type the signals per region in each quarter, and per
//! bool field the share true, read from the report's own tables (no second computation), so
//! that the CLI and the console show the same trend.

use super::{Cell, Report};

/// One trend: per region and nationally, a figure per quarter of the report, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Trend {
    /// The title of the table it follows (`Signal signals`, `Signal.field`).
    pub title: String,
    /// Whether the figures are shares true, in percent, rather than counts.
    pub percent: bool,
    /// One row per region, then the national row.
    pub rows: Vec<TrendRow>,
}

/// One region's figures across the quarters.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendRow {
    /// Region name, or [`super::NATIONAL`].
    pub region: String,
    /// One per quarter.
    pub figures: Vec<Figure>,
}

/// One figure of a trend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Figure {
    /// The region's signals in the quarter, shown or hidden as in the quarter's table.
    Count(Cell),
    /// The share true, where the quarter's table shows one.
    Percent(Option<f64>),
}

// === impl Figure ===

impl Figure {
    /// The figure as shown: a count as [`Cell::text`], a share with one decimal, `-` where
    /// none is shown.
    pub fn text(&self, threshold: u64) -> String {
        match self {
            Figure::Count(cell) => cell.text(threshold),
            Figure::Percent(Some(p)) => format!("{p:.1}"),
            Figure::Percent(None) => "-".to_string(),
        }
    }
}

// === impl Report ===

impl Report {
    /// The trends: of each signal type's count table, and of each bool field's share true.
    pub fn trends(&self) -> Vec<Trend> {
        let Some(first) = self.quarters.first() else {
            return Vec::new();
        };
        first
            .tables
            .iter()
            .enumerate()
            .filter(|(_, t)| t.field.is_empty() || t.is_bool())
            .map(|(i, table)| {
                let percent = table.is_bool();
                let national = std::iter::once(&table.national);
                let rows = table
                    .rows
                    .iter()
                    .chain(national)
                    .enumerate()
                    .map(|(r, row)| TrendRow {
                        region: row.region.clone(),
                        figures: self
                            .quarters
                            .iter()
                            .map(|q| {
                                let same = q.tables.get(i).and_then(|t| {
                                    t.rows.iter().chain(std::iter::once(&t.national)).nth(r)
                                });
                                match (same, percent) {
                                    (Some(row), true) => Figure::Percent(row.percent_true),
                                    (Some(row), false) => Figure::Count(row.total),
                                    (None, _) => Figure::Percent(None),
                                }
                            })
                            .collect(),
                    })
                    .collect();
                Trend {
                    title: table.title(),
                    percent,
                    rows,
                }
            })
            .collect()
    }
}
