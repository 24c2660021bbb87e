//! The Logboek Dataverwerkingen read API over TLS on the console's listener: by trace id, by
//! data subject (in the body, hashed by the gateway), refused without authentication, capped
//! and paginated, scoped like `AuditService`, each record in the LDV shape.

use std::sync::Arc;

use ketenpoort::certificate::read_certificates;
use rustls::{ClientConfig, RootCertStore, pki_types::ServerName};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_rustls::TlsConnector;

use crate::{
    console::{console_port, exchanges, gateway, records_of},
    support::{Harness, INTAKE},
};

/// A trace id the test's first send continues.
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// The V-nummer of the intake fixture, the subject its records are about.
const V_NUMMER: &str = "1234567890";

/// One HTTPS request to the console with `headers`; the status and the body.
pub async fn https(
    h: &Harness,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> (u16, String) {
    let (status, _, body) = https_full(h, method, path, headers, body).await;
    (status, body)
}

/// One HTTPS request to the console with `headers`; the status, the head and the body.
pub async fn https_full(
    h: &Harness,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> (u16, String, String) {
    ketenpoort::identity::install_crypto_provider();
    let mut roots = RootCertStore::empty();
    for ca in read_certificates(&h.pki().join("ca.pem")).unwrap() {
        roots.add(ca).unwrap();
    }
    let config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(("127.0.0.1", console_port(h)))
        .await
        .unwrap();
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
    {
        request.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response).await;
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string())
}

/// One request to the read API as officer `auth` (partner id, person); the JSON answer.
pub async fn call(
    h: &Harness,
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut headers = Vec::new();
    if let Some((id, sub)) = auth {
        let key = h.pki().join(format!("{id}-jwt.key"));
        let token = ketenpoort::identity::person::mint(&key, sub, "ketenpoort", 5).unwrap();
        headers.push(("Authorization", format!("Bearer {token}")));
        headers.push(("Ketenpoort-Organisation", id.to_string()));
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let (status, answer) = https(h, method, path, &headers, &body).await;
    (status, serde_json::from_str(&answer).unwrap_or(Value::Null))
}

/// Utrecht's intake to DT&V and the NGO, continuing [`TRACE`].
async fn traced_send(h: &Harness) {
    let mut utrecht = h.client("gemeente-utrecht").await;
    let mut request = tonic::Request::new(h.request(
        "traced",
        "INTAKE",
        &["dtv", "ngo-begeleiding"],
        "Intake",
        INTAKE,
    ));
    let parent = format!("00-{TRACE}-00f067aa0ba902b7-01");
    request
        .metadata_mut()
        .insert("traceparent", parent.parse().unwrap());
    utrecht.send(request).await.unwrap();
}

/// Every field the LDV export shape has, on every record.
fn assert_ldv(record: &Value) {
    for key in [
        "trace_id",
        "span_id",
        "name",
        "start_time",
        "end_time",
        "status_code",
        "resource",
    ] {
        assert!(record.get(key).is_some(), "{key} missing in {record}");
    }
    let attributes = &record["attributes"];
    for key in [
        "dpl.core.processing_activity_id",
        "dpl.core.data_subject_id",
        "dpl.core.data_subject_id_type",
        "dpl.core.organisation.oin",
    ] {
        assert!(attributes.get(key).is_some(), "{key} missing in {record}");
    }
    assert!(record["status_code"] == "OK" || record["status_code"] == "ERROR");
}

#[tokio::test]
async fn records_by_trace_id_in_the_ldv_shape_and_scoped() {
    let h = gateway().await;
    traced_send(&h).await;
    exchanges(&h).await;
    let path = format!("/logboek/v1/records?trace_id={TRACE}");
    let (status, answer) = call(
        &h,
        "GET",
        &path,
        Some(("gemeente-utrecht-fg", "fg@utrecht.example")),
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let records = answer["records"].as_array().unwrap();
    let names: Vec<&str> = records
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["signal_accepted", "delivery_created", "delivery_created"]
    );
    for record in records {
        assert_ldv(record);
        assert_eq!(record["trace_id"], TRACE);
    }
    assert_eq!(
        records[1]["attributes"]["dpl.core.processing_activity_id"],
        "RETURN"
    );
    // The read is audited, by the officer.
    let reads = records_of(&h, "audit_read").await;
    assert_eq!(
        reads.last().unwrap().record.event.actor_person.as_deref(),
        Some("fg@utrecht.example")
    );

    // Amsterdam's trace is not Utrecht's officer's to read; the programme's officer reads it.
    let amsterdam = records_of(&h, "signal_accepted")
        .await
        .into_iter()
        .find(|r| r.record.event.actor.as_ref().unwrap().to_string() == h.oin("gemeente-amsterdam"))
        .unwrap();
    let other = amsterdam.record.event.trace.trace_id.clone().unwrap();
    let path = format!("/logboek/v1/records?trace_id={other}");
    let (_, utrecht) = call(&h, "GET", &path, Some(("gemeente-utrecht-fg", "fg")), None).await;
    assert_eq!(utrecht["records"].as_array().unwrap().len(), 0);
    let (_, programme) = call(&h, "GET", &path, Some(("programma-fg", "fg")), None).await;
    assert_eq!(programme["records"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn records_by_data_subject_hashed_by_the_gateway() {
    let h = gateway().await;
    traced_send(&h).await;
    let body = json!({ "data_subject_id": V_NUMMER, "data_subject_id_type": "v_nummer" });
    let (status, answer) = call(
        &h,
        "POST",
        "/logboek/v1/records/by-data-subject",
        Some(("programma-fg", "fg")),
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let records = answer["records"].as_array().unwrap();
    assert!(!records.is_empty());
    for record in records {
        assert_ldv(record);
        let subject = record["attributes"]["dpl.core.data_subject_id"]
            .as_str()
            .unwrap();
        assert_ne!(subject, V_NUMMER);
        assert_eq!(subject.len(), 64, "a keyed hash");
    }
    assert!(
        !answer.to_string().contains(V_NUMMER),
        "the V-nummer is never answered in clear"
    );
    // The read names the subject only by its hash.
    let read = records_of(&h, "audit_read").await.pop().unwrap();
    assert!(
        !serde_json::to_string(&read.record)
            .unwrap()
            .contains(V_NUMMER)
    );
    assert!(read.record.event.subject.case_ref_hash.is_some());
}

#[tokio::test]
async fn the_read_api_refuses_without_authentication() {
    let h = gateway().await;
    traced_send(&h).await;
    let path = format!("/logboek/v1/records?trace_id={TRACE}");
    let (status, answer) = call(&h, "GET", &path, None, None).await;
    assert_eq!(status, 401, "{answer}");
    assert!(answer.get("records").is_none());
    let body = json!({ "data_subject_id": V_NUMMER });
    let (status, _) = call(
        &h,
        "POST",
        "/logboek/v1/records/by-data-subject",
        None,
        Some(body),
    )
    .await;
    assert_eq!(status, 401);
    // An operator is not a privacy officer: refused, and the refusal is audited.
    let (status, answer) = call(&h, "GET", &path, Some(("beheer", "someone")), None).await;
    assert_eq!(status, 403, "{answer}");
    let refusals = records_of(&h, "audit_refused").await;
    assert!(
        refusals
            .iter()
            .any(|r| r.record.event.detail["method"] == "LogboekRead")
    );
}

#[tokio::test]
async fn the_read_api_is_capped_and_paginated() {
    let h = gateway().await;
    traced_send(&h).await;
    let auth = Some(("programma-fg", "fg"));
    let first = format!("/logboek/v1/records?trace_id={TRACE}&page_size=2");
    let (_, page) = call(&h, "GET", &first, auth, None).await;
    assert_eq!(page["records"].as_array().unwrap().len(), 2);
    let token = page["next_page_token"].as_str().unwrap();
    assert!(!token.is_empty());
    let next = format!("{first}&page_token={token}");
    let (_, rest) = call(&h, "GET", &next, auth, None).await;
    let rest = rest["records"].as_array().unwrap();
    assert_eq!(rest.len(), 1, "three records in all");
    assert_eq!(rest[0]["name"], "delivery_created");
    let huge = "/logboek/v1/records?processing_activity_id=INTAKE&page_size=100000";
    let (status, capped) = call(&h, "GET", huge, auth, None).await;
    assert_eq!(status, 200, "{capped}");
    assert_eq!(capped["page_size"], 200, "the cap");
    let (status, _) = call(
        &h,
        "GET",
        "/logboek/v1/records?trace_id=not-hex",
        auth,
        None,
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn processing_activities_are_answered_as_register_uris() {
    const RETURN_URI: &str = "https://register.example.nl/activities/return";
    let h = Harness::start_tuned(|config| {
        config.console.listen = Some("127.0.0.1:0".parse().unwrap());
        config.console.processing_activities =
            [("RETURN".to_string(), RETURN_URI.to_string())].into();
    })
    .await;
    traced_send(&h).await;
    let auth = Some(("programma-fg", "fg"));
    let path = format!("/logboek/v1/records?trace_id={TRACE}");
    let (_, answer) = call(&h, "GET", &path, auth, None).await;
    let activities: Vec<&str> = answer["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["attributes"]["dpl.core.processing_activity_id"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(
        activities,
        ["INTAKE", RETURN_URI, "GUIDANCE"],
        "codes without a URI stay codes"
    );
    // The URI is a query too.
    let path = format!("/logboek/v1/records?processing_activity_id={RETURN_URI}");
    let (status, answer) = call(&h, "GET", &path, auth, None).await;
    assert_eq!(status, 200, "{answer}");
    let records = answer["records"].as_array().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["name"], "delivery_created");
}
