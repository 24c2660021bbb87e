//! `ketenpoort monitor report`: the programme monitor's figures of one quarter that has ended,
//! with the three quarters before it as a trend — as readable tables, `--json` or `--csv`.
//! A suppressed cell prints as `< 5` (fewer than the threshold) or `x` (hidden to protect
//! such a cell).

use std::process::ExitCode;

use ketenpoort::api::proto::{
    MonitorCell, MonitorRow, MonitorTable, QuarterReportRequest, QuarterReportResponse,
    Suppression, monitor_cell::Content, monitor_service_client::MonitorServiceClient,
};
use serde_json::{Value, json};

use crate::cli::{args::PersonArgs, output::outln};

/// `ketenpoort monitor …`
#[derive(clap::Subcommand)]
pub enum MonitorCommand {
    /// The figures of one quarter that has ended, per LVV region, with the three quarters
    /// before it as a trend (monitor role).
    Report(ReportArgs),
}

/// Arguments of `ketenpoort monitor report`.
#[derive(clap::Args)]
pub struct ReportArgs {
    #[command(flatten)]
    monitor: PersonArgs,
    /// The quarter, e.g. 2026Q3; it must have ended.
    #[arg(long)]
    quarter: String,
    /// The whole report as one JSON object.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Every cell of every quarter as a CSV line: quarter, signal type, field, region,
    /// value (or `total`), count.
    #[arg(long)]
    csv: bool,
}

/// Runs a `monitor` command.
pub async fn run(command: MonitorCommand) -> anyhow::Result<ExitCode> {
    let MonitorCommand::Report(args) = command;
    let request = QuarterReportRequest {
        quarter: args.quarter.clone(),
    };
    let report = args
        .monitor
        .connect(MonitorServiceClient::new)
        .await?
        .call(request, MonitorServiceClient::quarter_report)
        .await?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&to_json(&report))?)?;
    } else if args.csv {
        print_csv(&report)?;
    } else {
        print_tables(&report)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A cell as printed: the count, `< threshold`, or `x`.
fn cell_text(cell: Option<&MonitorCell>, threshold: u64) -> String {
    match cell.and_then(|c| c.content) {
        Some(Content::Count(n)) => n.to_string(),
        Some(Content::Suppressed(s)) if s == Suppression::Primary as i32 => {
            format!("< {threshold}")
        }
        Some(Content::Suppressed(_)) => "x".to_string(),
        None => String::new(),
    }
}

/// A cell in JSON: the count as a number, else the printed text.
fn cell_json(cell: Option<&MonitorCell>, threshold: u64) -> Value {
    match cell.and_then(|c| c.content) {
        Some(Content::Count(n)) => json!(n),
        _ => json!(cell_text(cell, threshold)),
    }
}

fn to_json(report: &QuarterReportResponse) -> Value {
    let t = report.threshold;
    let row = |r: &MonitorRow, values: &[String]| {
        let cells: serde_json::Map<String, Value> = values
            .iter()
            .zip(&r.cells)
            .map(|(v, c)| (v.clone(), cell_json(Some(c), t)))
            .collect();
        json!({
            "region": r.region, "cells": cells, "total": cell_json(r.total.as_ref(), t),
            "percent_true": r.percent_true,
        })
    };
    let quarters: Vec<Value> = report
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
                        .chain(table.national.as_ref())
                        .map(|r| row(r, &table.values))
                        .collect();
                    json!({ "signal_type": table.signal_type, "field": table.field, "rows": rows })
                })
                .collect();
            json!({ "quarter": q.quarter, "tables": tables })
        })
        .collect();
    json!({ "quarter": report.quarter, "threshold": t, "quarters": quarters })
}

fn print_csv(report: &QuarterReportResponse) -> anyhow::Result<()> {
    outln!("quarter,signal_type,field,region,value,count")?;
    for q in &report.quarters {
        for table in &q.tables {
            for row in table.rows.iter().chain(table.national.as_ref()) {
                let cells = table.values.iter().zip(row.cells.iter().map(Some));
                let total = std::iter::once(("total", row.total.as_ref()));
                for (value, cell) in cells.map(|(v, c)| (v.as_str(), c)).chain(total) {
                    outln!(
                        "{},{},{},{},{},{}",
                        q.quarter,
                        table.signal_type,
                        table.field,
                        csv_field(&row.region),
                        value,
                        cell_text(cell, report.threshold)
                    )?;
                }
            }
        }
    }
    Ok(())
}

/// Quotes a CSV field when it needs it.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn print_tables(report: &QuarterReportResponse) -> anyhow::Result<()> {
    outln!(
        "Programme monitor LVV, {} (cells under {} shown as \"< {}\"; x: hidden to protect them)",
        report.quarter,
        report.threshold,
        report.threshold
    )?;
    if let Some(current) = report.quarters.last() {
        for table in &current.tables {
            outln!()?;
            outln!("{}", title(table))?;
            print_table(table, report.threshold)?;
        }
    }
    print_trend(report)
}

fn title(table: &MonitorTable) -> String {
    if table.field.is_empty() {
        format!("{} signals", table.signal_type)
    } else {
        format!("{}.{}", table.signal_type, table.field)
    }
}

fn print_table(table: &MonitorTable, threshold: u64) -> anyhow::Result<()> {
    let labels = short_labels(&table.values);
    let is_bool = table.values == ["false", "true"];
    let mut header = format!("{:<26}", "region");
    for label in &labels {
        header.push_str(&format!(" {:>width$}", label, width = label.len().max(6)));
    }
    header.push_str(&format!(" {:>6}", "total"));
    if is_bool {
        header.push_str(&format!(" {:>7}", "% true"));
    }
    outln!("{header}")?;
    for row in table.rows.iter().chain(table.national.as_ref()) {
        let mut line = format!("{:<26}", row.region);
        for (label, cell) in labels.iter().zip(&row.cells) {
            let text = cell_text(Some(cell), threshold);
            line.push_str(&format!(" {:>width$}", text, width = label.len().max(6)));
        }
        line.push_str(&format!(" {:>6}", cell_text(row.total.as_ref(), threshold)));
        if is_bool {
            let share = row
                .percent_true
                .map_or("-".to_string(), |p| format!("{p:.1}"));
            line.push_str(&format!(" {share:>7}"));
        }
        outln!("{line}")?;
    }
    Ok(())
}

/// The trend: per signal type the signals per region and quarter, and per bool field the
/// share true.
fn print_trend(report: &QuarterReportResponse) -> anyhow::Result<()> {
    let Some(first) = report.quarters.first() else {
        return Ok(());
    };
    for (i, table) in first.tables.iter().enumerate() {
        let is_bool = table.values == ["false", "true"];
        if !table.field.is_empty() && !is_bool {
            continue;
        }
        outln!()?;
        let what = if is_bool { ", % true" } else { "" };
        outln!("Trend: {}{what}", title(table))?;
        let mut header = format!("{:<26}", "region");
        for q in &report.quarters {
            header.push_str(&format!(" {:>7}", q.quarter));
        }
        outln!("{header}")?;
        for (r, row) in table.rows.iter().chain(table.national.as_ref()).enumerate() {
            let mut line = format!("{:<26}", row.region);
            for q in &report.quarters {
                let same = q
                    .tables
                    .get(i)
                    .and_then(|t| t.rows.iter().chain(t.national.as_ref()).nth(r));
                let text = match (same, is_bool) {
                    (Some(row), true) => row.percent_true.map_or("-".into(), |p| format!("{p:.1}")),
                    (Some(row), false) => cell_text(row.total.as_ref(), report.threshold),
                    (None, _) => String::new(),
                };
                line.push_str(&format!(" {text:>7}"));
            }
            outln!("{line}")?;
        }
    }
    Ok(())
}

/// Enum value names without their common prefix (`ESCALATION_LEVEL_LSO` → `LSO`).
fn short_labels(values: &[String]) -> Vec<String> {
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
