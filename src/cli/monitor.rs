//! `ketenpoort monitor report`: the programme monitor's figures of one quarter that has ended,
//! with the three quarters before it as a trend — as readable tables, `--json` or `--csv`.
//! A suppressed cell prints as `< 5` (fewer than the threshold) or `x` (hidden to protect
//! such a cell).

use std::process::ExitCode;

use ketenpoort::{
    api::{
        monitor_report_from_proto,
        proto::{QuarterReportRequest, monitor_service_client::MonitorServiceClient},
    },
    monitor::{Report, Table},
};

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
    let report = monitor_report_from_proto(report)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report.to_json())?)?;
    } else if args.csv {
        outln!("{}", report.to_csv().trim_end())?;
    } else {
        print_tables(&report)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_tables(report: &Report) -> anyhow::Result<()> {
    outln!(
        "Programme monitor LVV, {} (cells under {} shown as \"< {}\"; x: hidden to protect them)",
        report.quarter,
        report.threshold,
        report.threshold
    )?;
    if let Some(current) = report.quarters.last() {
        for table in &current.tables {
            outln!()?;
            outln!("{}", table.title())?;
            print_table(table, report.threshold)?;
        }
    }
    print_trend(report)
}

fn print_table(table: &Table, threshold: u64) -> anyhow::Result<()> {
    let labels = table.labels();
    let is_bool = table.is_bool();
    let mut header = format!("{:<26}", "region");
    for label in &labels {
        header.push_str(&format!(" {:>width$}", label, width = label.len().max(6)));
    }
    header.push_str(&format!(" {:>6}", "total"));
    if is_bool {
        header.push_str(&format!(" {:>7}", "% true"));
    }
    outln!("{header}")?;
    for row in table.rows.iter().chain(std::iter::once(&table.national)) {
        let mut line = format!("{:<26}", row.region);
        for (label, cell) in labels.iter().zip(&row.cells) {
            let text = cell.text(threshold);
            line.push_str(&format!(" {:>width$}", text, width = label.len().max(6)));
        }
        line.push_str(&format!(" {:>6}", row.total.text(threshold)));
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

/// The trends: per signal type the signals per region and quarter, and per bool field the
/// share true.
fn print_trend(report: &Report) -> anyhow::Result<()> {
    for trend in report.trends() {
        outln!()?;
        let what = if trend.percent { ", % true" } else { "" };
        outln!("Trend: {}{what}", trend.title)?;
        let mut header = format!("{:<26}", "region");
        for q in &report.quarters {
            header.push_str(&format!(" {:>7}", q.quarter.to_string()));
        }
        outln!("{header}")?;
        for row in &trend.rows {
            let mut line = format!("{:<26}", row.region);
            for figure in &row.figures {
                line.push_str(&format!(" {:>7}", figure.text(report.threshold)));
            }
            outln!("{line}")?;
        }
    }
    Ok(())
}
