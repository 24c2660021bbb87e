//! `MonitorService`: the programme monitor's quarter report. Proto ⇄ domain only (both ways:
//! the CLI reads an answer back into a [`Report`] to print it); the role check, the reading of
//! the counters and the auditing of every report are in [`crate::exchange::monitoring`], the
//! disclosure control in [`crate::monitor`].

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    credentials,
    proto::{
        self, MonitorCell, MonitorQuarter, MonitorRow, MonitorTable, QuarterReportRequest,
        QuarterReportResponse, monitor_cell::Content, monitor_service_server::MonitorService,
    },
};
use crate::{
    exchange::Exchange,
    monitor::{Cell, InvalidQuarter, QuarterFigures, Report, Row, Suppression, Table},
};

/// The `MonitorService` implementation.
#[derive(Clone)]
pub struct MonitorApi {
    exchange: Arc<Exchange>,
}

impl MonitorApi {
    /// The service over the gateway's use cases.
    pub fn new(exchange: Arc<Exchange>) -> Self {
        Self { exchange }
    }
}

#[tonic::async_trait]
impl MonitorService for MonitorApi {
    async fn quarter_report(
        &self,
        request: Request<QuarterReportRequest>,
    ) -> Result<Response<QuarterReportResponse>, Status> {
        let report = self
            .exchange
            .monitor_report(&credentials(&request), &request.get_ref().quarter)
            .await?;
        Ok(Response::new(to_proto(report)))
    }
}

/// A report in its wire form.
fn to_proto(report: Report) -> QuarterReportResponse {
    QuarterReportResponse {
        quarter: report.quarter.to_string(),
        threshold: report.threshold,
        quarters: report.quarters.into_iter().map(quarter).collect(),
    }
}

fn quarter(q: QuarterFigures) -> MonitorQuarter {
    MonitorQuarter {
        quarter: q.quarter.to_string(),
        tables: q.tables.into_iter().map(table).collect(),
    }
}

fn table(t: Table) -> MonitorTable {
    MonitorTable {
        signal_type: t.signal_type,
        field: t.field,
        values: t.values,
        rows: t.rows.into_iter().map(row).collect(),
        national: Some(row(t.national)),
    }
}

fn row(r: Row) -> MonitorRow {
    MonitorRow {
        region: r.region,
        cells: r.cells.into_iter().map(cell).collect(),
        total: Some(cell(r.total)),
        percent_true: r.percent_true,
    }
}

fn cell(c: Cell) -> MonitorCell {
    let content = match c {
        Cell::Count(n) => Content::Count(n),
        Cell::Hidden(Suppression::Primary) => {
            Content::Suppressed(proto::Suppression::Primary.into())
        }
        Cell::Hidden(Suppression::Secondary) => {
            Content::Suppressed(proto::Suppression::Secondary.into())
        }
    };
    MonitorCell {
        content: Some(content),
    }
}

/// A report read back from its wire form; a cell without content reads as hidden, so that no
/// figure is printed that the gateway did not send.
pub fn from_proto(response: QuarterReportResponse) -> Result<Report, InvalidQuarter> {
    let quarters = response
        .quarters
        .into_iter()
        .map(|q| {
            Ok(QuarterFigures {
                quarter: q.quarter.parse()?,
                tables: q.tables.into_iter().map(table_from).collect(),
            })
        })
        .collect::<Result<_, InvalidQuarter>>()?;
    Ok(Report {
        quarter: response.quarter.parse()?,
        threshold: response.threshold,
        quarters,
    })
}

fn table_from(t: MonitorTable) -> Table {
    Table {
        signal_type: t.signal_type,
        field: t.field,
        values: t.values,
        rows: t.rows.into_iter().map(row_from).collect(),
        national: row_from(t.national.unwrap_or_default()),
    }
}

fn row_from(r: MonitorRow) -> Row {
    Row {
        region: r.region,
        cells: r.cells.into_iter().map(cell_from).collect(),
        total: cell_from(r.total.unwrap_or_default()),
        percent_true: r.percent_true,
    }
}

fn cell_from(c: MonitorCell) -> Cell {
    match c.content {
        Some(Content::Suppressed(kind)) if kind == proto::Suppression::Primary as i32 => {
            Cell::Hidden(Suppression::Primary)
        }
        Some(Content::Count(n)) => Cell::Count(n),
        Some(Content::Suppressed(_)) | None => Cell::Hidden(Suppression::Secondary),
    }
}
