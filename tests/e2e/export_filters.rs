//! The console's export follows the exchange list's filters: a download with a time range,
//! partner, signal type, purpose and outcome holds exactly the records the list selects (all
//! of its pages), no more and no fewer.

use std::collections::BTreeSet;

use ketenpoort::store::AuditFilter;
use serde_json::Value;

use crate::{
    console::{exchanges, gateway},
    deferral::console_session,
    logboek::https,
    support::Harness,
};

/// The `ketenpoort.audit_seq` of each LDV line of an export.
fn seqs(export: &str) -> BTreeSet<i64> {
    export
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| v["attributes"]["ketenpoort.audit_seq"].as_i64().unwrap())
        .collect()
}

/// The records in the programme officer's scope (all) the store selects with `filter`.
async fn expected(h: &Harness, filter: AuditFilter) -> BTreeSet<i64> {
    let filter = AuditFilter {
        limit: 10_000,
        ..filter
    };
    let records = h.store().audit_records(&filter).await.unwrap();
    records.iter().map(|r| r.record.seq).collect()
}

#[tokio::test]
async fn a_filtered_export_holds_exactly_the_filtered_records() {
    let h = gateway().await;
    exchanges(&h).await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    for i in 0..3 {
        h.send_intake(&mut utrecht, &format!("export-{i}"), &["ngo-begeleiding"])
            .await;
    }
    // A refused send: Utrecht may not send an intake for RETURN.
    let refused = h.request(
        "export-refused",
        "RETURN",
        &["dtv"],
        "Intake",
        crate::support::INTAKE,
    );
    assert!(utrecht.send(refused).await.is_err());
    let cookie = console_session(&h, "programma-fg", "fg@programma.example").await;
    let today = &ketenpoort::clock::rfc3339(h.clock.now_ms())[..10];
    let dtv = h.oin("dtv");
    let cases = [
        (
            format!("partner={dtv}&signal_type=Intake&outcome=ok"),
            AuditFilter {
                partner: Some(dtv.parse().unwrap()),
                signal_type: Some("Intake".into()),
                outcome: Some("ok".into()),
                ..AuditFilter::default()
            },
        ),
        (
            format!("purpose=GUIDANCE&from={today}&to={today}"),
            AuditFilter {
                purpose: Some("GUIDANCE".into()),
                ..AuditFilter::default()
            },
        ),
        (
            "outcome=refused".to_string(),
            AuditFilter {
                outcome: Some("refused".into()),
                ..AuditFilter::default()
            },
        ),
    ];
    for (params, filter) in cases {
        let want = expected(&h, filter).await;
        let path = format!("/export/download?format=ldv&{params}");
        let (status, export) = https(&h, "GET", &path, std::slice::from_ref(&cookie), "").await;
        assert_eq!(status, 200, "{export}");
        let got = seqs(&export);
        assert!(!want.is_empty(), "{params}: the test selects something");
        assert_eq!(got, want, "{params}");
    }
    // A day range that holds nothing exports nothing.
    let (status, export) = https(
        &h,
        "GET",
        "/export/download?format=ldv&from=2001-01-01&to=2001-01-02",
        std::slice::from_ref(&cookie),
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert!(seqs(&export).is_empty());
    // The exchange list offers the download with its filters.
    let (_, page) = https(&h, "GET", "/exchanges?signal_type=Intake", &[cookie], "").await;
    assert!(page.contains("id=\"export-filtered\""), "{page}");
    assert!(
        page.contains("name=\"signal_type\" value=\"Intake\""),
        "{page}"
    );
}
