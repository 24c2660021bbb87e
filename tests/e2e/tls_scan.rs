//! The listener as a TLS scanner sees it (sslyze, which `.ci/run` installs from PyPI): TLS 1.2
//! and 1.3 only, only ECDHE key exchange with AEAD suites, a client certificate required in
//! the handshake, no compression, no insecure renegotiation, no session resumption, and the
//! Mozilla "intermediate" profile's protocol and suite rules. Without sslyze the test says
//! so and passes, unless `KETENPOORT_REQUIRE_TLS_SCAN` is set, as `.ci/run` sets it.

use std::{path::PathBuf, process::Command};

use serde_json::Value;

use crate::support::Harness;

/// The cipher suites of Mozilla's "intermediate" server profile (version 5.7), IANA names.
const INTERMEDIATE: [&str; 12] = [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
];

/// The scanner: `KETENPOORT_SSLYZE`, else `sslyze` on the PATH.
fn sslyze() -> Option<PathBuf> {
    let candidate = std::env::var_os("KETENPOORT_SSLYZE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("sslyze"));
    let works = Command::new(&candidate).arg("--help").output();
    match works {
        Ok(out) if out.status.success() => Some(candidate),
        _ if std::env::var_os("KETENPOORT_REQUIRE_TLS_SCAN").is_some() => {
            panic!("KETENPOORT_REQUIRE_TLS_SCAN is set but sslyze does not run")
        }
        _ => {
            eprintln!("TLS scan skipped: sslyze is not installed (.ci/run installs it)");
            None
        }
    }
}

/// The suite names a scan found accepted for one protocol.
fn accepted(scan: &Value, protocol: &str) -> Vec<String> {
    scan[format!("{protocol}_cipher_suites")]["result"]["accepted_cipher_suites"]
        .as_array()
        .unwrap_or_else(|| panic!("no {protocol} result in the scan"))
        .iter()
        .map(|s| s["cipher_suite"]["name"].as_str().unwrap().to_string())
        .collect()
}

/// Runs sslyze with `args` against the gateway; answers with the scan of its one target.
async fn scan(sslyze: &std::path::Path, h: &Harness, name: &str, mut args: Vec<String>) -> Value {
    let out = h.pki().join(format!("scan-{name}.json"));
    args.extend([
        "--quiet".into(),
        format!("--json_out={}", out.display()),
        "--mozilla_config=disable".into(),
        format!("localhost:{}", h.port()),
    ]);
    let sslyze = sslyze.to_path_buf();
    let ran = tokio::task::spawn_blocking(move || Command::new(sslyze).args(&args).output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        ran.status.success(),
        "sslyze failed: {}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    report["server_scan_results"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_scan_finds_only_modern_protocols_and_suites_and_a_required_client_certificate() {
    let Some(sslyze) = sslyze() else {
        return;
    };
    let h = Harness::start().await;
    // Without a client certificate: what the handshake demands.
    let anonymous = scan(&sslyze, &h, "anonymous", vec!["--tlsv1_3".into()]).await;
    assert_eq!(
        anonymous["connectivity_result"]["client_auth_requirement"], "REQUIRED",
        "the client certificate must be required in the handshake"
    );
    let args: Vec<String> = vec![
        "--cert".into(),
        h.pki().join("dtv.pem").display().to_string(),
        "--key".into(),
        h.pki().join("dtv.key").display().to_string(),
        "--sslv2".into(),
        "--sslv3".into(),
        "--tlsv1".into(),
        "--tlsv1_1".into(),
        "--tlsv1_2".into(),
        "--tlsv1_3".into(),
        "--compression".into(),
        "--reneg".into(),
        "--resum".into(),
    ];
    let target = scan(&sslyze, &h, "full", args).await;
    assert_eq!(target["scan_status"], "COMPLETED", "{target}");
    let scan = &target["scan_result"];
    for old in ["ssl_2_0", "ssl_3_0", "tls_1_0", "tls_1_1"] {
        assert_eq!(
            accepted(scan, old),
            Vec::<String>::new(),
            "{old} is offered"
        );
    }
    let tls12 = accepted(scan, "tls_1_2");
    let tls13 = accepted(scan, "tls_1_3");
    assert!(
        !tls12.is_empty() && !tls13.is_empty(),
        "TLS 1.2 and 1.3 are both offered"
    );
    for suite in tls12.iter().chain(&tls13) {
        assert!(
            INTERMEDIATE.contains(&suite.as_str()),
            "{suite} is not in Mozilla's intermediate profile"
        );
        let aead = suite.contains("_GCM_") || suite.contains("CHACHA20_POLY1305");
        let forward_secret = suite.starts_with("TLS_ECDHE_") || !suite.contains("_WITH_");
        assert!(aead && forward_secret, "weak suite {suite}");
    }
    assert_eq!(
        scan["tls_compression"]["result"]["supports_compression"],
        false
    );
    let reneg = &scan["session_renegotiation"]["result"];
    assert_eq!(reneg["is_vulnerable_to_client_renegotiation_dos"], false);
    assert_eq!(reneg["supports_secure_renegotiation"], true);
    let resumption = &scan["session_resumption"]["result"];
    assert_eq!(
        resumption["session_id_resumption_result"], "NOT_SUPPORTED",
        "{resumption}"
    );
    assert_eq!(
        resumption["tls_ticket_resumption_result"], "NOT_SUPPORTED",
        "{resumption}"
    );
    println!(
        "TLS scan: TLS 1.3 suites {tls13:?}; TLS 1.2 suites {tls12:?}; SSL 2/3, TLS 1.0/1.1 refused; \
         client certificate required; no compression, no client renegotiation, no resumption"
    );
}
