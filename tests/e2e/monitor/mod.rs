//! The programme monitor end to end: a scripted quarter of exchanges across several LVV
//! regions, then the next; the reports (gRPC and `ketenpoort monitor report` in all three
//! formats) hold exactly the expected figures, suppress small cells so that none can be
//! recomputed from the totals or between quarters, and neither the counters nor any report
//! holds a case reference or a payload value the test sent.

pub mod attacker;
pub mod checks;
pub mod client;
pub mod script;

use ketenpoort::{
    api::proto::{
        QuarterReportRequest, QueryRequest, audit_service_client::AuditServiceClient,
        monitor_service_client::MonitorServiceClient,
    },
    monitor::Quarter,
};
use tonic::Code;

use crate::support::Harness;
use client::{cli_report, next_quarter, quarter_now, report, token};
use script::Script;

#[tokio::test]
async fn a_scripted_quarter_is_reported_exactly_with_small_cells_protected() {
    let h = Harness::start().await;
    monitor_scenario(&h).await;
}

/// The scenario, on whatever store `h` runs.
pub async fn monitor_scenario(h: &Harness) {
    let mut s = Script::default();
    let first = quarter_now(h);
    s.first_quarter(h).await;
    // The quarter has not ended: no report of it yet, so two reports of it never differ.
    let refusal = report(h, &first.to_string()).await.unwrap_err();
    assert_eq!(
        refusal.code(),
        Code::InvalidArgument,
        "{}",
        refusal.message()
    );
    let refusal = report(h, "Q3-2026<script>").await.unwrap_err();
    assert_eq!(refusal.code(), Code::InvalidArgument);
    assert!(
        !refusal.message().contains("script"),
        "{}",
        refusal.message()
    );
    next_quarter(h);
    let second = quarter_now(h);
    s.second_quarter(h).await;
    let of_first = report(h, &first.to_string()).await.unwrap();
    next_quarter(h);
    let of_second = report(h, &second.to_string()).await.unwrap();
    checks::check_figures(&of_first, &of_second, &s);
    check_outputs(h, second, &of_second, &s).await;
    check_access(h, first).await;
}

/// The CLI's three formats show the same figures and, like the counters, nothing sent.
async fn check_outputs(
    h: &Harness,
    second: Quarter,
    of_second: &ketenpoort::api::proto::QuarterReportResponse,
    s: &Script,
) {
    let table = cli_report(h, &second.to_string(), &[]).await;
    let json = cli_report(h, &second.to_string(), &["--json"]).await;
    let csv = cli_report(h, &second.to_string(), &["--csv"]).await;
    assert!(
        table.contains("< 5") && json.contains("\"< 5\"") && csv.contains(",< 5\n"),
        "{table}"
    );
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    checks::same_cells(of_second, &csv, &parsed);
    let quarters: Vec<Quarter> = second.trend(12);
    let counters = format!("{:?}", h.store().monitor_counts(&quarters).await.unwrap());
    let mut secrets = s.secrets.clone();
    secrets.extend(
        [
            "2031-02-17",
            "2031-03-09",
            "geboorteakte",
            "3141592653",
            "Zenobia",
            "Quaestor",
            "STUCK_REASON",
            "MEDICAL",
            "CARE_URGENCY",
            "CARE_CATEGORY",
            "xenodiagnose",
            "LVV-MON",
        ]
        .map(String::from),
    );
    for (name, text) in [
        ("counters", &counters),
        ("table", &table),
        ("json", &json),
        ("csv", &csv),
    ] {
        assert!(
            attacker::found(text, &secrets).is_empty(),
            "{name} holds {:?}",
            attacker::found(text, &secrets)
        );
    }
    assert!(
        counters.contains("Rotterdam"),
        "the counters were read: {counters}"
    );
}

/// Every report is an audit record; another role is refused, and that too is recorded.
async fn check_access(h: &Harness, first: Quarter) {
    let mut fg = AuditServiceClient::new(h.channel("programma-fg").await);
    let mut officer = MonitorServiceClient::new(h.channel("programma-fg").await);
    let mut asked = tonic::Request::new(QuarterReportRequest {
        quarter: first.to_string(),
    });
    let bearer = format!("Bearer {}", token(h, "programma-fg", "fg@example.invalid"));
    asked
        .metadata_mut()
        .insert("authorization", bearer.parse().unwrap());
    assert_eq!(
        officer.quarter_report(asked).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let no_token = MonitorServiceClient::new(h.channel("programma-monitor").await)
        .quarter_report(QuarterReportRequest {
            quarter: first.to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(no_token.code(), Code::Unauthenticated);
    for (event, n) in [("monitor_report", 5), ("monitor_refused", 2)] {
        let mut query = tonic::Request::new(QueryRequest {
            event: event.into(),
            ..Default::default()
        });
        let bearer = format!("Bearer {}", token(h, "programma-fg", "fg@example.invalid"));
        query
            .metadata_mut()
            .insert("authorization", bearer.parse().unwrap());
        let records = fg.query(query).await.unwrap().into_inner().records;
        assert_eq!(records.len(), n, "{event}");
    }
}
