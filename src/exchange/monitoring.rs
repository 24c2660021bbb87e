//! The programme monitor's use cases: the counter keys each accepted signal adds to (written
//! by the store in the transaction that accepts it), and the report for the monitor role —
//! certificate and a JWT naming the person, like the officers' services, or a console session
//! opened with such a JWT — which is itself an audit record, whichever way it was asked.
//!
//! Only quarters that have ended are reported: their counters no longer change, so two
//! reports of one quarter are the same, and no difference between them reveals a signal.

use std::sync::Arc;

use prost_reflect::DynamicMessage;
use serde_json::json;

use super::{Exchange, ExchangeError, callers::Credentials};
use crate::{
    audit::{Actor, EventKind, Outcome},
    monitor::{CounterKey, Quarter, Report, TREND_QUARTERS},
    policy::Permit,
    registry::{Partner, Role},
};

/// A person of the monitor role, authenticated: the organisation and the person its token
/// named. Only the monitor role reads the figures (the officers read the audit log instead).
#[derive(Debug)]
pub struct Monitor {
    partner: Arc<Partner>,
    actor: Actor,
}

// === impl Monitor ===

impl Monitor {
    /// The monitor `actor` of `partner`, whose role was checked.
    pub(super) fn new(partner: Arc<Partner>, actor: Actor) -> Self {
        Monitor { partner, actor }
    }

    /// The organisation the person acts for.
    pub fn partner(&self) -> &Partner {
        &self.partner
    }

    /// The person the token named.
    pub fn person(&self) -> &str {
        self.actor.person.as_deref().unwrap_or_default()
    }

    /// The same person in a new request, with a trace of its own.
    pub fn in_new_request(&self) -> Monitor {
        Monitor {
            partner: self.partner.clone(),
            actor: self.actor.in_new_request(),
        }
    }
}

// === impl Exchange ===

impl Exchange {
    /// The counters a signal from `sender` along `permit`, accepted at `accepted_at`, adds to.
    pub(super) fn monitor_counters(
        &self,
        accepted_at: i64,
        sender: &Partner,
        permit: &Permit,
        payload: &DynamicMessage,
    ) -> Vec<CounterKey> {
        let recipients: Vec<&str> = permit
            .grants()
            .iter()
            .map(|g| g.recipient.id.as_str())
            .collect();
        self.policy
            .load()
            .monitor()
            .counter_keys(accepted_at, &sender.id, &recipients, payload)
    }

    /// The monitor report for `quarter` (e.g. `2026Q3`) and the three quarters before it,
    /// for a caller in the monitor role (certificate and token); recorded in the audit log.
    pub async fn monitor_report(
        &self,
        credentials: &Credentials<'_>,
        quarter: &str,
    ) -> Result<Report, ExchangeError> {
        let (partner, actor) = self
            .person_in_role(
                credentials,
                Role::Monitor,
                EventKind::MonitorRefused,
                "Report",
            )
            .await?;
        self.quarter_report(&Monitor::new(partner, actor), quarter, "Report")
            .await
    }

    /// The report of [`Self::monitor_report`] for a monitor already authenticated (a console
    /// session); `method` names the way it was asked in the audit record.
    pub async fn quarter_report(
        &self,
        monitor: &Monitor,
        quarter: &str,
        method: &str,
    ) -> Result<Report, ExchangeError> {
        let quarter: Quarter = quarter
            .parse()
            .map_err(|e: crate::monitor::InvalidQuarter| ExchangeError::Invalid(e.to_string()))?;
        if quarter.end_unix_ms() > self.clock.now_ms() {
            return Err(ExchangeError::Invalid(format!(
                "quarter {quarter} has not ended: the monitor reports only quarters that have ended, whose figures no longer change"
            )));
        }
        let policy = self.policy.load_full();
        let counts = self
            .store
            .monitor_counts(&quarter.trend(TREND_QUARTERS))
            .await?;
        let report = Report::build(policy.monitor(), quarter, &counts);
        let mut event = monitor.actor.event(EventKind::MonitorReport, Outcome::Ok);
        event.detail = json!({
            "method": method,
            "quarter": quarter.to_string(),
            "quarters": report.quarters.iter().map(|q| q.quarter.to_string()).collect::<Vec<_>>(),
            "threshold": report.threshold,
            "suppressed_cells": report.suppressed(),
            "policy_version": policy.version(),
        });
        self.store.audit(vec![event]).await?;
        tracing::info!(quarter = %quarter, "monitor report");
        Ok(report)
    }
}
