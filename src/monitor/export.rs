//! A report as people and programs read it: each cell as text (the count, `< 5` for fewer
//! than the threshold, `x` for a cell hidden to protect such a cell), table titles and column
//! labels, and the whole report as CSV or JSON. The CLI and the console print through these,
//! so a report reads the same wherever it is shown.

use serde_json::{Value, json};

use super::{Cell, Report, Suppression, Table};

// === impl Cell ===

impl Cell {
    /// The cell as shown: the count, `< threshold`, or `x`.
    pub fn text(&self, threshold: u64) -> String {
        match self {
            Cell::Count(n) => n.to_string(),
            Cell::Hidden(Suppression::Primary) => format!("< {threshold}"),
            Cell::Hidden(Suppression::Secondary) => "x".to_string(),
        }
    }

    /// The cell in JSON: the count as a number, else its text.
    fn json(&self, threshold: u64) -> Value {
        match self {
            Cell::Count(n) => json!(n),
            hidden => json!(hidden.text(threshold)),
        }
    }
}

// === impl Table ===

impl Table {
    /// `Signal signals` for the count table, else `Signal.field`.
    pub fn title(&self) -> String {
        if self.field.is_empty() {
            format!("{} signals", self.signal_type)
        } else {
            format!("{}.{}", self.signal_type, self.field)
        }
    }

    /// Whether the field is a bool (columns `false`, `true`), whose share true is shown.
    pub fn is_bool(&self) -> bool {
        self.values == ["false", "true"]
    }

    /// The values without their common prefix (`ESCALATION_LEVEL_LSO` → `LSO`).
    pub fn labels(&self) -> Vec<String> {
        let values = &self.values;
        let prefix = values.first().map_or(String::new(), |first| {
            let mut end = 0;
            for (i, _) in first.match_indices('_') {
                if values.iter().all(|v| v.starts_with(&first[..=i])) {
                    end = i + 1;
                }
            }
            first[..end].to_string()
        });
        values
            .iter()
            .map(|v| v[prefix.len()..].to_string())
            .collect()
    }
}

// === impl Report ===

impl Report {
    /// Every cell of every quarter as a CSV line: quarter, signal type, field, region, value
    /// (or `total`), count; with a header line.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("quarter,signal_type,field,region,value,count\n");
        for q in &self.quarters {
            for table in &q.tables {
                for row in table.rows.iter().chain(std::iter::once(&table.national)) {
                    let cells = table.values.iter().map(String::as_str).zip(&row.cells);
                    for (value, cell) in cells.chain(std::iter::once(("total", &row.total))) {
                        out.push_str(&format!(
                            "{},{},{},{},{value},{}\n",
                            q.quarter,
                            table.signal_type,
                            table.field,
                            csv_field(&row.region),
                            cell.text(self.threshold)
                        ));
                    }
                }
            }
        }
        out
    }

    /// The whole report as one JSON object.
    pub fn to_json(&self) -> Value {
        let t = self.threshold;
        let quarters: Vec<Value> = self
            .quarters
            .iter()
            .map(|q| {
                let tables: Vec<Value> = q
                    .tables
                    .iter()
                    .map(|table| {
                        let rows: Vec<Value> = table
                            .rows
                            .iter()
                            .chain(std::iter::once(&table.national))
                            .map(|r| {
                                let cells: serde_json::Map<String, Value> = table
                                    .values
                                    .iter()
                                    .zip(&r.cells)
                                    .map(|(v, c)| (v.clone(), c.json(t)))
                                    .collect();
                                json!({
                                    "region": r.region, "cells": cells,
                                    "total": r.total.json(t), "percent_true": r.percent_true,
                                })
                            })
                            .collect();
                        json!({ "signal_type": table.signal_type, "field": table.field, "rows": rows })
                    })
                    .collect();
                json!({ "quarter": q.quarter.to_string(), "tables": tables })
            })
            .collect();
        json!({ "quarter": self.quarter.to_string(), "threshold": t, "quarters": quarters })
    }
}

/// Quotes a CSV field when it needs it.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}
