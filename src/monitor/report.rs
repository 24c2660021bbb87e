//! A monitor report: for the asked quarter and the three before it, per signal type the
//! count of signals per region, and per monitored field a table of regions × values with the
//! region totals and national totals, each quarter suppressed on its own ([`super::disclosure`]).

use std::collections::HashMap;

use super::{
    CounterKey, MonitorPlan, Quarter,
    disclosure::{Grid, Suppression},
    plan::SIGNALS,
};

/// Quarters a report shows: the asked one and the three before it.
pub const TREND_QUARTERS: usize = 4;
/// The name of the national row.
pub const NATIONAL: &str = "total";

/// The report for one quarter, with the quarters before it as a trend.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The quarter asked for.
    pub quarter: Quarter,
    /// Cells counting more than zero and fewer than this are suppressed.
    pub threshold: u64,
    /// The trend, oldest quarter first, ending with the one asked for.
    pub quarters: Vec<QuarterFigures>,
}

/// The figures of one quarter.
#[derive(Debug, Clone, PartialEq)]
pub struct QuarterFigures {
    /// The quarter.
    pub quarter: Quarter,
    /// Per signal type its count table, then one table per monitored field.
    pub tables: Vec<Table>,
}

/// One table: regions × values, with each region's total and the national row.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Catalogue message name.
    pub signal_type: String,
    /// The monitored field; empty for the table of signal counts (which has no values).
    pub field: String,
    /// The field's values, one column each.
    pub values: Vec<String>,
    /// One row per region, in the policy's order, then the region `unassigned`.
    pub rows: Vec<Row>,
    /// The national row ([`NATIONAL`]).
    pub national: Row,
}

/// One row of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Region name, or [`NATIONAL`].
    pub region: String,
    /// One cell per value.
    pub cells: Vec<Cell>,
    /// Signals of the type in the region: the row's sum.
    pub total: Cell,
    /// For a bool field: the share of signals with the field true, in percent, when both
    /// the cell and the total are shown and the total is not zero.
    pub percent_true: Option<f64>,
}

/// A count, or why it is not shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// The count.
    Count(u64),
    /// Not shown.
    Hidden(Suppression),
}

// === impl Report ===

impl Report {
    /// The report for `quarter` from the counters of it and the quarters before it.
    pub fn build(plan: &MonitorPlan, quarter: Quarter, counts: &[(CounterKey, u64)]) -> Self {
        let counts: HashMap<&CounterKey, u64> = counts.iter().map(|(k, n)| (k, *n)).collect();
        let quarters = quarter
            .trend(TREND_QUARTERS)
            .into_iter()
            .map(|q| figures(plan, q, &counts))
            .collect();
        Self {
            quarter,
            threshold: plan.threshold(),
            quarters,
        }
    }

    /// How many cells of the report are suppressed.
    pub fn suppressed(&self) -> usize {
        self.quarters
            .iter()
            .flat_map(|q| &q.tables)
            .flat_map(|t| t.rows.iter().chain(std::iter::once(&t.national)))
            .flat_map(|r| r.cells.iter().chain(std::iter::once(&r.total)))
            .filter(|c| matches!(c, Cell::Hidden(_)))
            .count()
    }
}

/// One quarter's tables as cell indexes in one grid, suppressed together.
fn figures(
    plan: &MonitorPlan,
    quarter: Quarter,
    counts: &HashMap<&CounterKey, u64>,
) -> QuarterFigures {
    let regions: Vec<&str> = plan.regions().collect();
    let mut grid = Grid::default();
    let mut layout = Vec::new();
    for signal in plan.signals() {
        let count = |region: &str, field: &str, value: &str| {
            let key = CounterKey {
                quarter,
                region: region.to_string(),
                signal_type: signal.signal.clone(),
                field: field.to_string(),
                value: value.to_string(),
            };
            counts.get(&key).copied().unwrap_or(0)
        };
        let region_totals: Vec<usize> = regions
            .iter()
            .map(|r| grid.cell(count(r, SIGNALS, ""), true))
            .collect();
        let national = grid.cell(region_totals.iter().map(|c| grid.value(*c)).sum(), true);
        grid.sum(national, region_totals.clone());
        layout.push(Layout {
            signal: signal.signal.clone(),
            field: String::new(),
            values: Vec::new(),
            inner: vec![Vec::new(); regions.len()],
            region_totals: region_totals.clone(),
            value_totals: Vec::new(),
            national,
        });
        for field in &signal.fields {
            let inner: Vec<Vec<usize>> = regions
                .iter()
                .map(|r| {
                    field
                        .values
                        .iter()
                        .map(|v| grid.cell(count(r, &field.name, v), false))
                        .collect()
                })
                .collect();
            for (total, cells) in region_totals.iter().zip(&inner) {
                grid.sum(*total, cells.clone());
            }
            let value_totals: Vec<usize> = (0..field.values.len())
                .map(|v| {
                    let total = grid.cell(inner.iter().map(|r| grid.value(r[v])).sum(), true);
                    grid.sum(total, inner.iter().map(|r| r[v]));
                    total
                })
                .collect();
            grid.sum(national, value_totals.clone());
            layout.push(Layout {
                signal: signal.signal.clone(),
                field: field.name.clone(),
                values: field.values.clone(),
                inner,
                region_totals: region_totals.clone(),
                value_totals,
                national,
            });
        }
    }
    let hidden = grid.suppress(plan.threshold());
    let cell = |i: usize| hidden[i].map_or(Cell::Count(grid.value(i)), Cell::Hidden);
    let row = |region: &str, cells: &[usize], total: usize, bool_field: bool| {
        let cells: Vec<Cell> = cells.iter().map(|c| cell(*c)).collect();
        let total = cell(total);
        let percent_true = match (bool_field, cells.get(1), total) {
            (true, Some(Cell::Count(yes)), Cell::Count(all)) if all > 0 => {
                Some((*yes as f64 * 1000.0 / all as f64).round() / 10.0)
            }
            _ => None,
        };
        Row {
            region: region.to_string(),
            cells,
            total,
            percent_true,
        }
    };
    let tables = layout
        .into_iter()
        .map(|l| {
            let is_bool = l.values == ["false", "true"];
            Table {
                rows: regions
                    .iter()
                    .zip(&l.inner)
                    .zip(&l.region_totals)
                    .map(|((r, cells), total)| row(r, cells, *total, is_bool))
                    .collect(),
                national: row(NATIONAL, &l.value_totals, l.national, is_bool),
                signal_type: l.signal,
                field: l.field,
                values: l.values,
            }
        })
        .collect();
    QuarterFigures { quarter, tables }
}

/// Where one table's cells are in the quarter's grid.
struct Layout {
    signal: String,
    field: String,
    values: Vec<String>,
    inner: Vec<Vec<usize>>,
    region_totals: Vec<usize>,
    value_totals: Vec<usize>,
    national: usize,
}
