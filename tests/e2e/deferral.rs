//! Deferred disclosure as the policy marks it, in every report to the data subject: a police
//! safety signal is left out of `AuditService.SubjectReport` over mutual TLS, of `ketenpoort
//! audit report` and of the Logboek read API's answer by data subject, until the officer
//! releases it; the officer's own view shows it, with its date and legal ground.

use ketenpoort::api::proto::{SubjectReportRequest, audit_service_client::AuditServiceClient};
use serde_json::{Value, json};

use crate::{
    console::{console_port, exchanges, gateway},
    logboek::{call, https, https_full},
    support::Harness,
};

const CASE: &str = "LVV-TEST-0001";
const SAFETY: &str = r#"{"factsDescription": "test facts", "personOrientedApproach": true}"#;
const BIN: &str = env!("CARGO_BIN_EXE_ketenpoort");
const FORM: &str = "application/x-www-form-urlencoded";

/// Utrecht's intakes, and a police safety signal to Utrecht's public order system.
async fn with_police_item(h: &Harness) {
    exchanges(h).await;
    let mut police = h.client("politie-avim").await;
    let request = h.request(
        "safety",
        "PUBLIC_ORDER",
        &["gemeente-utrecht-oov"],
        "SafetySignal",
        SAFETY,
    );
    police.send(request).await.unwrap();
}

async fn report(
    h: &Harness,
    include_held_back: bool,
) -> ketenpoort::api::proto::SubjectReportResponse {
    let mut audit = AuditServiceClient::new(h.channel("gemeente-utrecht-fg").await);
    let request = SubjectReportRequest {
        case_ref: CASE.into(),
        include_held_back,
        ..Default::default()
    };
    audit
        .subject_report(h.with_token("gemeente-utrecht-fg", "fg@utrecht.example", request))
        .await
        .unwrap()
        .into_inner()
}

/// `ketenpoort audit report` as Utrecht's officer, one JSON object per entry; run beside the
/// gateway's runtime, which must go on answering it.
async fn cli_report(h: &Harness) -> Vec<Value> {
    let (endpoint, pki) = (h.endpoint(), h.pki().display().to_string());
    tokio::task::spawn_blocking(move || cli_report_blocking(&endpoint, &pki))
        .await
        .unwrap()
}

fn cli_report_blocking(endpoint: &str, pki: &str) -> Vec<Value> {
    let args = [
        "audit",
        "report",
        "--gateway",
        endpoint,
        "--as",
        "gemeente-utrecht-fg",
        "--pki",
        pki,
        "--case-ref",
        CASE,
        "--json",
    ];
    let out = std::process::Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The Logboek read API's records about the case, as the programme's officer asks them.
async fn logboek(h: &Harness) -> Vec<Value> {
    let body = json!({ "data_subject_id": CASE, "data_subject_id_type": "case_ref" });
    let path = "/logboek/v1/records/by-data-subject";
    let (status, answer) = call(h, "POST", path, Some(("programma-fg", "fg")), Some(body)).await;
    assert_eq!(status, 200, "{answer}");
    answer["records"].as_array().unwrap().clone()
}

fn police(signal_types: impl IntoIterator<Item = String>) -> usize {
    signal_types
        .into_iter()
        .filter(|t| t == "SafetySignal")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_back_police_item_is_absent_from_every_subject_report_until_released() {
    let h = gateway().await;
    assert!(console_port(&h) > 0);
    with_police_item(&h).await;

    // The officer's view: every item, the police ones marked with date and ground.
    let officer = report(&h, true).await;
    assert_eq!(officer.held_back_count, 0);
    let held: Vec<_> = officer
        .entries
        .iter()
        .filter(|e| e.signal_type == "SafetySignal")
        .collect();
    assert!(!held.is_empty());
    for e in &held {
        assert_eq!(
            e.held_back_reason,
            "SafetySignal signals are held back (Wpg art. 27)"
        );
        let until = e.held_back_until.as_ref().unwrap();
        let at = e.at.as_ref().unwrap();
        assert!(
            (until.seconds - at.seconds - 365 * 86_400).abs() < 5,
            "365 days"
        );
    }
    assert!(officer.entries.iter().any(|e| e.signal_type == "Intake"));

    // For the data subject: left out over gRPC, the CLI and the Logboek read API.
    let subject = report(&h, false).await;
    assert_eq!(
        police(subject.entries.iter().map(|e| e.signal_type.clone())),
        0
    );
    assert_eq!(subject.held_back_count as usize, held.len());
    assert_eq!(subject.entries.len() + held.len(), officer.entries.len());
    assert!(
        subject
            .entries
            .iter()
            .all(|e| e.held_back_reason.is_empty())
    );
    let cli = cli_report(&h).await;
    assert!(!cli.is_empty());
    assert_eq!(
        police(
            cli.iter()
                .map(|e| e["signal_type"].as_str().unwrap().to_string())
        ),
        0
    );
    let type_of = |r: &Value| {
        r["attributes"]["ketenpoort.signal_type"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let ldv = logboek(&h).await;
    assert!(!ldv.is_empty());
    assert_eq!(police(ldv.iter().map(type_of)), 0);

    // The officer releases one police item through the console's form; every report then
    // holds it.
    let released = held[0].seq;
    release(&h, released).await;
    let subject = report(&h, false).await;
    assert!(subject.entries.iter().any(|e| e.seq == released));
    assert_eq!(subject.held_back_count as usize, held.len() - 1);
    assert!(cli_report(&h).await.iter().any(|e| e["seq"] == released));
    let ldv = logboek(&h).await;
    assert!(
        ldv.iter()
            .any(|r| r["attributes"]["ketenpoort.audit_seq"] == released),
        "{ldv:#?}"
    );
    let officer = report(&h, true).await;
    let now = officer.entries.iter().find(|e| e.seq == released).unwrap();
    assert!(now.held_back_until.is_none() && now.held_back_reason.is_empty());
}

/// Signs in to the console as `sub` of the officers' partner `id` through the sign-in form;
/// the `Cookie` header of the session.
pub async fn console_session(h: &Harness, id: &str, sub: &str) -> (&'static str, String) {
    let (_, page) = https(h, "GET", "/sign-in", &[], "").await;
    let token = hidden(&page, "csrf");
    let jwt = crate::console::token(h, id, sub);
    let headers = [
        ("Cookie", format!("__Host-ketenpoort-sign-in={token}")),
        ("Content-Type", FORM.to_string()),
    ];
    let body = format!("organisation={id}&token={jwt}&csrf={token}");
    let (status, head, page) = https_full(h, "POST", "/sign-in", &headers, &body).await;
    assert_eq!(status, 303, "{page}");
    let session = cookie(&head, "__Host-ketenpoort-session");
    ("Cookie", format!("__Host-ketenpoort-session={session}"))
}

/// Releases record `seq` as Utrecht's officer through the console's release form.
async fn release(h: &Harness, seq: u64) {
    let cookie = console_session(h, "gemeente-utrecht-fg", "fg@utrecht.example").await;
    let (_, timeline) = https(h, "GET", "/timeline", std::slice::from_ref(&cookie), "").await;
    let csrf = hidden(&timeline, "csrf");
    let body = format!("seq={seq}&csrf={csrf}");
    let headers = [cookie, ("Content-Type", FORM.to_string())];
    let (status, page) = https(h, "POST", "/timeline/release", &headers, &body).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("is released"), "{page}");
}

/// The value of the hidden input `name` of a page.
pub fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_string()
}

/// The value of the cookie `name` a response's head sets.
pub fn cookie(head: &str, name: &str) -> String {
    let marker = format!("{name}=");
    head.lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .find_map(|l| {
            l.split_once(&marker)
                .map(|(_, rest)| rest.split(';').next().unwrap().to_string())
        })
        .unwrap_or_else(|| panic!("no cookie {name} in {head}"))
}
