//! The programme monitor: the figures the LVV programme council steers on, counted without
//! personal data. What is counted is named in the policy ([`MonitorPlan`]); a signal adds to
//! counters keyed by [`Quarter`], region, signal type and coded field values ([`CounterKey`]);
//! a [`Report`] shows the last four quarters with small cells suppressed ([`disclosure`]),
//! with their [`Trend`]s, and reads as text, CSV or JSON the same wherever it is shown.
//!
//! Pure: no I/O. The counters are written by the store in the transaction that accepts the
//! signal, and the report is read and audited by `exchange::monitoring`.

pub mod disclosure;
mod export;
mod plan;
mod quarter;
mod report;
#[cfg(test)]
mod tests;
mod trend;

pub use disclosure::Suppression;
pub use plan::{
    CounterKey, DEFAULT_THRESHOLD, MonitorDef, MonitorPlan, MonitoredField, MonitoredSignal,
    SIGNALS, UNASSIGNED,
};
pub use quarter::{InvalidQuarter, Quarter};
pub use report::{Cell, NATIONAL, QuarterFigures, Report, Row, TREND_QUARTERS, Table};
pub use trend::{Figure, Trend, TrendRow};
