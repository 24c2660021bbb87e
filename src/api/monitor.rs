//! `MonitorService`: the programme monitor's quarter report. Proto ⇄ domain only; the role
//! check, the reading of the counters and the auditing of every report are in
//! [`crate::exchange::monitoring`], the disclosure control in [`crate::monitor`].

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
    monitor::{Cell, QuarterFigures, Report, Row, Suppression, Table},
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
