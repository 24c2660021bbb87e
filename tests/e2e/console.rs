//! The privacy officers' console in headless Chromium, against a real gateway whose signals
//! were sent over mutual TLS: sign-in with an officer's JWT, the case timeline with what each
//! organisation received and what was withheld, the officer's scope, and the session's end.

use std::time::Duration;

use ketenpoort::{audit::StoredRecord, store::AuditFilter};

use crate::{
    browser::{Browser, within},
    logboek::https,
    support::{Harness, INTAKE},
};

/// Session lifetime of the test gateways.
const SESSION_SECS: u64 = 120;

pub async fn gateway() -> Harness {
    Harness::start_tuned(|config| {
        config.console.listen = Some("127.0.0.1:0".parse().unwrap());
        config.console.session_lifetime_secs = SESSION_SECS;
    })
    .await
}

pub fn console_port(h: &Harness) -> u16 {
    h.gateway().console_addr().expect("console is on").port()
}

/// A development token of the person `sub` of partner `id`.
pub fn token(h: &Harness, id: &str, sub: &str) -> String {
    let key = h.pki().join(format!("{id}-jwt.key"));
    ketenpoort::identity::person::mint(&key, sub, "ketenpoort", 5).unwrap()
}

/// Signs in through the form as `sub` of the officers' partner `id`.
pub async fn sign_in(browser: &Browser, h: &Harness, id: &str, sub: &str) {
    sign_in_as(browser, id, &token(h, id, sub), "/timeline").await;
}

/// Signs in through the form for partner `id` with `token`; asserts it lands on `landing`.
pub async fn sign_in_as(browser: &Browser, id: &str, token: &str, landing: &str) {
    browser.goto("/").await;
    assert_eq!(browser.path().await, "/sign-in");
    browser
        .find("#organisation")
        .await
        .select_by_value(id)
        .await
        .unwrap();
    browser.find("#token").await.send_keys(token).await.unwrap();
    browser.submit("#sign-in").await;
    let landed = browser.path().await;
    if landed != landing {
        let page = browser.text("main").await;
        panic!("not signed in to {id}: on {landed}: {page}");
    }
}

/// Opens the officer's timeline of `case_ref` through the form.
async fn timeline(browser: &Browser, case_ref: &str) {
    report(browser, case_ref, "#show").await;
}

/// Sends the timeline form for `case_ref` with the button `button`.
async fn report(browser: &Browser, case_ref: &str, button: &str) {
    browser.goto("/timeline").await;
    browser
        .find("#value")
        .await
        .send_keys(case_ref)
        .await
        .unwrap();
    browser.submit(button).await;
    browser.find("#count").await;
}

/// The rows of the timeline shown, as their text.
pub async fn rows(browser: &Browser) -> Vec<String> {
    let mut texts = Vec::new();
    for row in browser.all("#timeline tr.entry").await {
        texts.push(row.text().await.unwrap());
    }
    texts
}

/// The audit records of `event`.
pub async fn records_of(h: &Harness, event: &str) -> Vec<StoredRecord> {
    h.store()
        .audit_records(&AuditFilter {
            event: Some(event.into()),
            limit: 1000,
            ..AuditFilter::default()
        })
        .await
        .unwrap()
}

/// Utrecht's intake to DT&V and the NGO, and Amsterdam's to DT&V, each over mutual TLS.
pub async fn exchanges(h: &Harness) {
    let mut utrecht = h.client("gemeente-utrecht").await;
    h.send_intake(&mut utrecht, "console-utrecht", &["dtv", "ngo-begeleiding"])
        .await;
    let mut amsterdam = h.client("gemeente-amsterdam").await;
    let request = h.request("console-amsterdam", "INTAKE", &["dtv"], "Intake", INTAKE);
    amsterdam.send(request).await.unwrap();
}

#[tokio::test]
async fn an_officer_signs_in_and_reads_a_case_timeline_with_withheld_fields_marked() {
    let h = gateway().await;
    exchanges(&h).await;
    let Some(browser) = Browser::open(console_port(&h)).await else {
        return;
    };
    within(async {
        browser.goto("/sign-in").await;
        browser.find("#token").await;
        browser.screenshot("sign-in").await;
        sign_in(&browser, &h, "gemeente-utrecht-fg", "fg@utrecht.example").await;
        let cookie = browser
            .client
            .get_named_cookie("__Host-ketenpoort-session")
            .await
            .unwrap();
        assert!(cookie.secure() == Some(true) && cookie.http_only() == Some(true));
        assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");
        assert!(cookie.expires().is_some(), "the cookie expires");
        assert!(
            browser
                .text("nav .who")
                .await
                .contains("fg@utrecht.example"),
            "the officer is named"
        );

        timeline(&browser, "LVV-TEST-0001").await;
        browser.screenshot("timeline").await;
        assert_eq!(browser.path().await, "/timeline");
        let source = browser.client.source().await.unwrap();
        assert!(
            !source.contains("LVV-TEST-0001"),
            "the case reference is not echoed"
        );
        let rows = rows(&browser).await;
        let sent = rows
            .iter()
            .find(|r| r.contains("Gemeente Utrecht - casusregie LVV sent Intake for INTAKE"))
            .unwrap_or_else(|| panic!("no acceptance in {rows:#?}"));
        assert!(
            sent.contains(&h.oin("gemeente-utrecht")),
            "OIN beside the name: {sent}"
        );
        let ngo = rows
            .iter()
            .find(|r| r.contains("Stichting LVV Begeleiding (test) was given Intake"))
            .unwrap_or_else(|| panic!("no delivery to the NGO in {rows:#?}"));
        assert!(ngo.contains("withheld: person.bsn"), "{ngo}");
        assert!(ngo.contains("withheld: person.v_nummer"), "{ngo}");
        assert!(ngo.contains("GUIDANCE"), "{ngo}");
        let dtv = rows
            .iter()
            .find(|r| r.contains("Dienst Terugkeer en Vertrek was given Intake"))
            .unwrap_or_else(|| panic!("no delivery to DT&V in {rows:#?}"));
        assert!(
            dtv.contains("person.bsn") && !dtv.contains("withheld: person.bsn"),
            "{dtv}"
        );
        let withheld = browser.all("#timeline li.withheld").await;
        assert!(!withheld.is_empty());
    })
    .await;

    // The page view is itself an audit record, by the officer, about the hashed case.
    let reads = records_of(&h, "audit_read").await;
    let read = reads.last().expect("the timeline was audited");
    let e = &read.record.event;
    assert_eq!(
        e.actor.as_ref().unwrap().to_string(),
        h.oin("gemeente-utrecht-fg")
    );
    assert_eq!(e.actor_person.as_deref(), Some("fg@utrecht.example"));
    assert_eq!(e.detail["method"], "SubjectReport");
    assert!(e.subject.case_ref_hash.is_some());
    assert!(
        !serde_json::to_string(&read.record)
            .unwrap()
            .contains("LVV-TEST-0001")
    );
    browser.close().await;
}

#[tokio::test]
async fn an_officer_sees_only_its_own_organisations_records() {
    let h = gateway().await;
    exchanges(&h).await;
    let Some(browser) = Browser::open(console_port(&h)).await else {
        return;
    };
    within(async {
        sign_in(&browser, &h, "gemeente-utrecht-fg", "fg@utrecht.example").await;
        timeline(&browser, "LVV-TEST-0001").await;
        let utrecht_sees = rows(&browser).await.join("\n");
        assert!(utrecht_sees.contains("Gemeente Utrecht"), "{utrecht_sees}");
        assert!(!utrecht_sees.contains("Amsterdam"), "{utrecht_sees}");
        assert!(!utrecht_sees.contains(&h.oin("gemeente-amsterdam")));
        // No URL reaches records: the timeline answers only a form of the session.
        for path in ["/timeline?value=LVV-TEST-0001", "/records/1", "/timeline/1"] {
            browser.goto(path).await;
            assert!(browser.all("#timeline tr.entry").await.is_empty(), "{path}");
        }
        browser.goto("/timeline").await;
        browser.submit("nav form button").await;
        assert_eq!(browser.path().await, "/sign-in");

        // The programme's officer sees both municipalities.
        sign_in(&browser, &h, "programma-fg", "fg@programma.example").await;
        timeline(&browser, "LVV-TEST-0001").await;
        let programme_sees = rows(&browser).await.join("\n");
        assert!(
            programme_sees.contains("Gemeente Amsterdam"),
            "{programme_sees}"
        );
    })
    .await;
    browser.close().await;
}

#[tokio::test]
async fn a_session_ends_after_its_lifetime_and_a_bad_token_is_refused() {
    let h = gateway().await;
    let Some(browser) = Browser::open(console_port(&h)).await else {
        return;
    };
    within(async {
        // A token of another organisation's key does not sign in.
        browser.goto("/sign-in").await;
        browser
            .find("#organisation")
            .await
            .select_by_value("gemeente-utrecht-fg")
            .await
            .unwrap();
        let wrong = token(&h, "programma-fg", "someone");
        browser
            .find("#token")
            .await
            .send_keys(&wrong)
            .await
            .unwrap();
        browser.submit("#sign-in").await;
        assert!(browser.text("#message").await.contains("Not signed in"));
        assert_eq!(browser.path().await, "/sign-in");

        sign_in(&browser, &h, "gemeente-utrecht-fg", "fg@utrecht.example").await;
        h.clock.advance(Duration::from_secs(SESSION_SECS - 10));
        browser.goto("/timeline").await;
        assert_eq!(browser.path().await, "/timeline", "still signed in");
        h.clock.advance(Duration::from_secs(11));
        browser.goto("/timeline").await;
        assert_eq!(browser.path().await, "/sign-in", "the session has ended");
        assert!(browser.text("#message").await.contains("session has ended"));
    })
    .await;
    browser.close().await;

    // The refused sign-in is an audit record naming the method.
    let refusals = records_of(&h, "audit_refused").await;
    assert!(
        refusals
            .iter()
            .any(|r| r.record.event.detail["method"] == "ConsoleSignIn"),
        "the refused sign-in is audited"
    );
}

/// A police safety signal, as far as a municipality's public order purpose may see it.
const SAFETY: &str = r#"{"factsDescription": "test facts", "personOrientedApproach": true}"#;

#[tokio::test]
async fn a_held_back_police_item_is_left_out_of_the_subject_report_and_shown_to_the_officer() {
    let h = gateway().await;
    exchanges(&h).await;
    let mut police = h.client("politie-avim").await;
    let request = h.request(
        "safety",
        "PUBLIC_ORDER",
        &["gemeente-utrecht-oov"],
        "SafetySignal",
        SAFETY,
    );
    police.send(request).await.unwrap();
    let Some(browser) = Browser::open(console_port(&h)).await else {
        return;
    };
    within(async {
        sign_in(&browser, &h, "gemeente-utrecht-fg", "fg@utrecht.example").await;
        timeline(&browser, "LVV-TEST-0001").await;
        browser.screenshot("held-back").await;
        let officer_sees = rows(&browser).await;
        let police_rows: Vec<&String> = officer_sees
            .iter()
            .filter(|r| r.contains("SafetySignal"))
            .collect();
        assert!(!police_rows.is_empty(), "{officer_sees:#?}");
        for row in &police_rows {
            assert!(
                row.contains("Held back from the data subject until"),
                "{row}"
            );
            assert!(
                row.contains("SafetySignal signals are held back (Wpg art. 27)"),
                "{row}"
            );
        }
        assert!(
            browser
                .text("#audience")
                .await
                .contains("held back from the data subject")
        );
        assert_eq!(browser.all("tr.held-back").await.len(), police_rows.len());

        report(&browser, "LVV-TEST-0001", "#for-subject").await;
        browser.screenshot("subject-report").await;
        let subject_sees = rows(&browser).await;
        assert!(!subject_sees.is_empty(), "Utrecht's intake is reported");
        assert!(
            !subject_sees
                .iter()
                .any(|r| r.contains("SafetySignal") || r.contains("Politie")),
            "{subject_sees:#?}"
        );
        assert_eq!(subject_sees.len() + police_rows.len(), officer_sees.len());
        assert!(
            browser
                .text("#audience")
                .await
                .contains("held back are left out")
        );
        assert!(browser.all("tr.held-back").await.is_empty());

        // A form without the session's CSRF token releases nothing.
        let headers = [
            ("Cookie", browser.session_cookie().await),
            (
                "Content-Type",
                "application/x-www-form-urlencoded".to_string(),
            ),
        ];
        let (status, _) = https(
            &h,
            "POST",
            "/timeline/release",
            &headers,
            "seq=1&csrf=forged",
        )
        .await;
        assert_eq!(status, 403);

        // The officer releases the police item; the report for the subject then holds it.
        timeline(&browser, "LVV-TEST-0001").await;
        browser.submit("tr.held-back form.release button").await;
        assert!(browser.text("#released").await.contains("is released"));
        report(&browser, "LVV-TEST-0001", "#for-subject").await;
        let after = rows(&browser).await;
        assert_eq!(after.len(), officer_sees.len(), "{after:#?}");
        assert!(after.iter().any(|r| r.contains("SafetySignal")));
    })
    .await;
    browser.close().await;
    let releases = records_of(&h, "audit_read").await;
    let release = releases
        .iter()
        .find(|r| r.record.event.detail["method"] == "ReleaseHeldBack")
        .expect("the release is an audit record");
    assert_eq!(
        release.record.event.actor_person.as_deref(),
        Some("fg@utrecht.example")
    );
}
