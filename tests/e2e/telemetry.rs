//! The operators' view: the metrics endpoint scraped for real, with the figures present and
//! moving, and the health report warning about a partner whose only certificate expires soon.

use std::time::{Duration, SystemTime};

use ketenpoort::api::proto::{
    AddCertificateRequest, AddPartnerRequest, admin_service_client::AdminServiceClient,
};

use crate::support::{Harness, INTAKE, handshake, http_get, write_cert};

/// The value of the first sample of `metric` whose labels contain all of `labels`.
fn sample(body: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    body.lines()
        .filter(|l| l.starts_with(metric) && !l.starts_with('#'))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn the_metrics_endpoint_shows_the_figures_and_they_move() {
    let h = Harness::start().await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    h.send_intake(&mut utrecht, "m1", &["dtv"]).await;
    let _ = utrecht
        .send(h.request("m2", "RETURN", &["dtv"], "Intake", INTAKE))
        .await;
    let _ = handshake(&h, None).await;

    let (status, before) = http_get(&h, "/metrics").await;
    assert!(status.contains("200"), "{status}");
    let accepted = sample(
        &before,
        "ketenpoort_signals_total",
        &["type=\"Intake\"", "outcome=\"accepted\""],
    )
    .expect("accepted counter");
    assert!(
        sample(
            &before,
            "ketenpoort_signals_total",
            &["outcome=\"refused\"", "reason=\"no_rule\""]
        )
        .unwrap_or(0.0)
            >= 1.0,
        "{before}"
    );
    assert_eq!(
        sample(
            &before,
            "ketenpoort_deliveries_pending",
            &["receiver=\"dtv\""]
        ),
        Some(1.0),
        "pending per receiver"
    );
    assert!(
        sample(
            &before,
            "ketenpoort_delivery_oldest_pending_seconds",
            &["receiver=\"dtv\""]
        )
        .is_some()
    );
    assert!(
        sample(&before, "ketenpoort_send_duration_seconds_count", &[]).unwrap_or(0.0) >= 1.0,
        "latency histogram"
    );
    // The writer's commits: each phase timed, and the jobs each took.
    for phase in ["opening", "applying", "writing"] {
        let label = format!("phase=\"{phase}\"");
        let metric = "ketenpoort_writer_phase_duration_seconds";
        let commits = sample(&before, &format!("{metric}_count"), &[&label]);
        assert!(commits.unwrap_or(0.0) >= 1.0, "{phase}: {before}");
        let seconds = sample(&before, &format!("{metric}_sum"), &[&label]);
        assert!(seconds.unwrap_or(0.0) > 0.0, "{phase}: {before}");
    }
    let jobs = sample(&before, "ketenpoort_writer_batch_jobs_sum", &[]).unwrap_or(0.0);
    assert!(jobs >= 2.0, "two Sends and their audit records: {before}");
    assert!(
        sample(
            &before,
            "ketenpoort_tls_handshake_failures_total",
            &["reason=\"no_certificate\""]
        )
        .unwrap_or(0.0)
            >= 1.0,
        "{before}"
    );
    let expiry = sample(
        &before,
        "ketenpoort_certificate_expiry_seconds",
        &["partner=\"dtv\""],
    )
    .expect("expiry gauge");
    assert!(expiry > 300.0 * 86_400.0, "{expiry}");

    h.send_intake(&mut utrecht, "m3", &["dtv"]).await;
    let (_, after) = http_get(&h, "/metrics").await;
    let moved = sample(
        &after,
        "ketenpoort_signals_total",
        &["type=\"Intake\"", "outcome=\"accepted\""],
    )
    .unwrap();
    assert!(moved >= accepted + 1.0, "{accepted} -> {moved}");
    assert_eq!(
        sample(
            &after,
            "ketenpoort_deliveries_pending",
            &["receiver=\"dtv\""]
        ),
        Some(2.0)
    );
}

#[tokio::test]
async fn health_warns_when_a_partners_only_certificate_expires_within_14_days() {
    let h = Harness::start().await;
    let (status, body) = http_get(&h, "/health").await;
    assert!(status.contains("200"), "{status}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok", "{body}");

    let ca = ketenpoort::identity::dev_pki::DevCa::load(&h.pki()).unwrap();
    let oin = "00000099300000050000";
    let cert = write_cert(
        &ca,
        &h.pki(),
        "gemeente-zwolle",
        oin,
        SystemTime::now(),
        Duration::from_secs(10 * 86_400),
    );
    let mut admin = AdminServiceClient::new(h.channel("beheer").await);
    let add = AddPartnerRequest {
        id: "gemeente-zwolle".into(),
        oin: oin.into(),
        name: "Gemeente Zwolle".into(),
        role: "municipality".into(),
        purposes: vec!["CASE_DIRECTION".into()],
        jwt_keys: vec![],
        logboek_url: String::new(),
    };
    admin
        .add_partner(h.with_token("beheer", "ops@beheer.example", add))
        .await
        .unwrap();
    let cert = AddCertificateRequest {
        partner_id: "gemeente-zwolle".into(),
        certificate_pem: std::fs::read_to_string(cert).unwrap(),
        ..Default::default()
    };
    admin
        .add_certificate(h.with_token("beheer", "ops@beheer.example", cert))
        .await
        .unwrap();

    let (_, body) = http_get(&h, "/health").await;
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "warning", "{body}");
    let warnings = health["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| w
            .as_str()
            .unwrap()
            .contains("partner gemeente-zwolle: its only certificate")),
        "{body}"
    );
}
