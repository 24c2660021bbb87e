//! Sign-ins to the console, an officer's or a monitor's, are bounded per client address:
//! beyond the limit the answer is `429 Too Many Requests` with `Retry-After`, the token is not
//! looked at, and the refusal is an audit record of the role's refusal kind that holds neither
//! the token nor the address.

use ketenpoort::audit::StoredRecord;

use crate::{
    console::{records_of, token},
    deferral::hidden,
    logboek::{https, https_full},
    support::Harness,
};

/// Sign-ins one address may make per minute in this test.
const LIMIT: u32 = 3;

/// One sign-in through the form for `organisation` with `jwt`; the status, head and body.
async fn sign_in(h: &Harness, organisation: &str, jwt: &str) -> (u16, String, String) {
    let (_, page) = https(h, "GET", "/sign-in", &[], "").await;
    let token = hidden(&page, "csrf");
    let headers = [
        ("Cookie", format!("__Host-ketenpoort-sign-in={token}")),
        (
            "Content-Type",
            "application/x-www-form-urlencoded".to_string(),
        ),
    ];
    let body = format!("organisation={organisation}&token={jwt}&csrf={token}");
    https_full(h, "POST", "/sign-in", &headers, &body).await
}

fn throttled(records: &[StoredRecord]) -> Vec<&StoredRecord> {
    records
        .iter()
        .filter(|r| {
            r.record.event.detail["reason"]
                .as_str()
                .is_some_and(|reason| reason.contains("too many sign-ins"))
        })
        .collect()
}

#[tokio::test]
async fn sign_ins_beyond_the_limit_per_address_get_429_with_retry_after_and_are_audited() {
    let h = Harness::start_tuned(|config| {
        config.console.listen = Some("127.0.0.1:0".parse().unwrap());
        config.console.sign_ins_per_minute_per_address = LIMIT;
    })
    .await;
    let good = token(&h, "gemeente-utrecht-fg", "fg@utrecht.example");
    let analyst = token(&h, "programma-monitor", "analist@monitor.example");
    let bad = "eyJhbGciOiJFZERTQSJ9.e30.c2VjcmV0LXNpZ25hdHVyZQ";
    // Within the limit: a wrong token is refused as such, a right one signs in.
    for _ in 0..LIMIT - 1 {
        let (status, _, _) = sign_in(&h, "gemeente-utrecht-fg", bad).await;
        assert_eq!(status, 401);
    }
    let (status, _, page) = sign_in(&h, "gemeente-utrecht-fg", &good).await;
    assert_eq!(status, 303, "{page}");
    // Beyond it, even the right token is not looked at, the monitor's analyst's included.
    for (organisation, jwt) in [
        ("gemeente-utrecht-fg", bad),
        ("gemeente-utrecht-fg", good.as_str()),
        ("programma-monitor", analyst.as_str()),
    ] {
        let (status, head, page) = sign_in(&h, organisation, jwt).await;
        assert_eq!(status, 429, "{page}");
        let retry_after: u64 = head
            .lines()
            .find_map(|l| l.strip_prefix("retry-after: "))
            .unwrap_or_else(|| panic!("no Retry-After in {head}"))
            .trim()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        assert!(
            page.contains("Too many sign-ins from your address"),
            "{page}"
        );
        assert!(!page.contains(jwt), "the token is not echoed");
        assert!(
            !head
                .to_ascii_lowercase()
                .contains("__host-ketenpoort-session=")
        );
    }
    let secrets = [good.as_str(), analyst.as_str(), bad, "127.0.0.1"];
    for (event, organisation, count) in [
        ("audit_refused", "gemeente-utrecht-fg", 2),
        ("monitor_refused", "programma-monitor", 1),
    ] {
        let refusals = records_of(&h, event).await;
        let limited = throttled(&refusals);
        assert_eq!(
            limited.len(),
            count,
            "each throttled sign-in is audited: {event}"
        );
        for record in limited {
            assert_eq!(record.record.event.detail["method"], "ConsoleSignIn");
            assert_eq!(
                record.record.event.actor.as_ref().map(ToString::to_string),
                Some(h.oin(organisation))
            );
            let stored = serde_json::to_string(&record.record).unwrap();
            assert!(secrets.iter().all(|secret| !stored.contains(secret)));
        }
    }
}
