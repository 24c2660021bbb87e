//! How the test talks to the gateway as the programme monitor: over gRPC and through the
//! `ketenpoort monitor report` command, with tokens valid at the gateway's moved clock.

use std::{process::Command, time::Duration};

use ketenpoort::{
    api::proto::{
        QuarterReportRequest, QuarterReportResponse, monitor_service_client::MonitorServiceClient,
    },
    monitor::Quarter,
};

use crate::support::Harness;

/// The gateway's time, as a quarter.
pub fn quarter_now(h: &Harness) -> Quarter {
    Quarter::of_unix_ms(h.clock.now_ms())
}

/// Moves the gateway's clock to one day into the next quarter.
pub fn next_quarter(h: &Harness) {
    let end = quarter_now(h).end_unix_ms();
    let ahead = end - h.clock.now_ms() + 86_400_000;
    h.clock.advance(Duration::from_millis(ahead as u64));
}

/// A JWT for the person `sub` of partner `id`, valid at the gateway's (moved) time.
pub fn token(h: &Harness, id: &str, sub: &str) -> String {
    let key = std::fs::read(h.pki().join(format!("{id}-jwt.key"))).unwrap();
    let now = h.clock.now_ms() / 1000;
    let claims =
        serde_json::json!({ "sub": sub, "aud": "ketenpoort", "iat": now, "exp": now + 300 });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
        &claims,
        &jsonwebtoken::EncodingKey::from_ed_pem(&key).unwrap(),
    )
    .unwrap()
}

/// The gRPC report of `quarter` as the programme monitor.
pub async fn report(h: &Harness, quarter: &str) -> Result<QuarterReportResponse, tonic::Status> {
    let mut client = MonitorServiceClient::new(h.channel("programma-monitor").await);
    let mut request = tonic::Request::new(QuarterReportRequest {
        quarter: quarter.into(),
    });
    let bearer = format!(
        "Bearer {}",
        token(h, "programma-monitor", "analist@example.invalid")
    );
    request
        .metadata_mut()
        .insert("authorization", bearer.parse().unwrap());
    client
        .quarter_report(request)
        .await
        .map(tonic::Response::into_inner)
}

/// `ketenpoort monitor report` against the harness's gateway, with `format` flags; waits on
/// a blocking thread, so that the gateway in this test's runtime can answer it.
pub async fn cli_report(h: &Harness, quarter: &str, format: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ketenpoort"));
    command
        .args([
            "monitor",
            "report",
            "--as",
            "programma-monitor",
            "--quarter",
            quarter,
        ])
        .args(["--gateway", &format!("https://localhost:{}", h.port())])
        .arg("--pki")
        .arg(h.pki())
        .args([
            "--token",
            &token(h, "programma-monitor", "analist@example.invalid"),
        ])
        .args(format);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}
