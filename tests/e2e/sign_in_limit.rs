//! Sign-ins to the console are bounded per client address: beyond the limit the answer is
//! `429 Too Many Requests` with `Retry-After`, the token is not looked at, and the refusal is
//! an audit record that holds neither the token nor the address.

use ketenpoort::audit::StoredRecord;

use crate::{
    console::records_of,
    deferral::hidden,
    logboek::{https, https_full},
    support::Harness,
};

/// Sign-ins one address may make per minute in this test.
const LIMIT: u32 = 3;

/// One sign-in through the form with `jwt`; the status, head and body.
async fn sign_in(h: &Harness, jwt: &str) -> (u16, String, String) {
    let (_, page) = https(h, "GET", "/sign-in", &[], "").await;
    let token = hidden(&page, "csrf");
    let headers = [
        ("Cookie", format!("__Host-ketenpoort-sign-in={token}")),
        (
            "Content-Type",
            "application/x-www-form-urlencoded".to_string(),
        ),
    ];
    let body = format!("organisation=gemeente-utrecht-fg&token={jwt}&csrf={token}");
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
    let key = h.pki().join("gemeente-utrecht-fg-jwt.key");
    let good =
        ketenpoort::identity::person::mint(&key, "fg@utrecht.example", "ketenpoort", 5).unwrap();
    let bad = "eyJhbGciOiJFZERTQSJ9.e30.c2VjcmV0LXNpZ25hdHVyZQ";
    // Within the limit: a wrong token is refused as such, a right one signs in.
    for _ in 0..LIMIT - 1 {
        let (status, _, _) = sign_in(&h, bad).await;
        assert_eq!(status, 401);
    }
    let (status, _, page) = sign_in(&h, &good).await;
    assert_eq!(status, 303, "{page}");
    // Beyond it, even the right token is not looked at.
    for jwt in [bad, good.as_str()] {
        let (status, head, page) = sign_in(&h, jwt).await;
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
    let refusals = records_of(&h, "audit_refused").await;
    let limited = throttled(&refusals);
    assert_eq!(limited.len(), 2, "each throttled sign-in is audited");
    for record in limited {
        assert_eq!(record.record.event.detail["method"], "ConsoleSignIn");
        assert_eq!(
            record.record.event.actor.as_ref().map(ToString::to_string),
            Some(h.oin("gemeente-utrecht-fg"))
        );
        let stored = serde_json::to_string(&record.record).unwrap();
        assert!(!stored.contains(&good) && !stored.contains(bad) && !stored.contains("127.0.0.1"));
    }
}
