//! `ketenpoort bench` against the `ketenpoort` binary serving on its defaults (its own
//! development PKI, SQLite, the LVV policy): two seconds of load from the bench's process,
//! after which its JSON report holds what it promises. Every accepted copy was delivered to
//! and acknowledged by a subscriber, latencies are present and ordered, the gateway's CPU
//! and memory were sampled; and with `--stall`, the stalled receiver's copies are counted as
//! pending, not delivered.

use serde_json::Value;

use crate::cli::{Served, run};

/// The defaults let one partner make 50 `Send`s a second: raised, so that the bench measures
/// the gateway rather than its throttle.
const UNTHROTTLED: &str = "[limits]\nsend_per_second = 100000\nsend_burst = 100000\n";

/// Runs the bench for two seconds against `served`, with `extra` options; its JSON report.
fn bench(served: &Served, extra: &[&str]) -> Value {
    let gateway = served.gateway();
    let pid = served.pid().to_string();
    let mut args = vec![
        "bench",
        "--gateway",
        &gateway,
        "--duration",
        "2s",
        "--in-flight",
        "16",
        "--senders",
        "4",
        "--gateway-pid",
        &pid,
        "--json",
    ];
    args.extend(extra);
    serde_json::from_str(run(served.dir.path(), &args).trim()).unwrap()
}

/// p50 ≤ p90 ≤ p99 ≤ max, all present and above 0.
fn assert_ordered(latency: &Value) {
    let at = |key: &str| {
        latency[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key}: {latency}"))
    };
    let (p50, p90, p99, max) = (at("p50_ms"), at("p90_ms"), at("p99_ms"), at("max_ms"));
    assert!(
        0.0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= max,
        "{latency}"
    );
}

#[test]
fn the_bench_drives_a_gateway_and_accounts_for_every_copy() {
    let served = Served::start(UNTHROTTLED);

    let report = bench(&served, &["--interval", "1s"]);
    let (send, delivered) = (&report["send"], &report["delivered"]);
    assert!(send["requests"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(send["answered"], send["requests"], "{report}");
    assert_eq!(send["errors_total"], 0, "{report}");
    assert!(send["req_per_s"].as_f64().unwrap() > 0.0, "{report}");
    assert_ordered(&send["latency"]);
    // Every signal has two or three recipients, each subscribed.
    let accepted = delivered["accepted"].as_u64().unwrap();
    assert!(
        accepted >= 2 * send["answered"].as_u64().unwrap(),
        "{report}"
    );
    assert_eq!(delivered["delivered"], accepted, "{report}");
    assert_eq!(delivered["acknowledged"], accepted, "{report}");
    assert_eq!(delivered["pending"], 0, "{report}");
    assert_eq!(delivered["stalled_pending"], 0, "{report}");
    assert_eq!(delivered["latency"]["count"], accepted, "{report}");
    assert_ordered(&delivered["latency"]);
    assert!(
        report["gateway"]["rss_max_mib"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    assert!(
        report["gateway"]["cpu_cores"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    assert!(
        !report["intervals"].as_array().unwrap().is_empty(),
        "{report}"
    );

    let stalled = bench(&served, &["--stall", "ngo-begeleiding"]);
    let delivered = &stalled["delivered"];
    assert_eq!(stalled["setup"]["stalled"], "ngo-begeleiding", "{stalled}");
    assert!(
        !stalled["setup"]["subscribed"]
            .as_array()
            .unwrap()
            .contains(&Value::from("ngo-begeleiding")),
        "{stalled}"
    );
    assert_eq!(stalled["send"]["errors_total"], 0, "{stalled}");
    assert!(
        delivered["stalled_pending"].as_u64().unwrap() > 0,
        "{stalled}"
    );
    assert_eq!(delivered["delivered"], delivered["accepted"], "{stalled}");
    assert_eq!(delivered["pending"], 0, "{stalled}");
}
