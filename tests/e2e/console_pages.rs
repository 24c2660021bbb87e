//! The console's list, chain and policy pages in headless Chromium: the exchange list in the
//! officer's scope with names beside OINs, filtered and paged; the chain verified for the
//! programme's officer and explained to a municipality's; the policy matrix.

use crate::{
    browser::{Browser, within},
    console::{console_port, exchanges, gateway, records_of, sign_in},
    logboek::https,
    support::INTAKE,
};

/// The texts of the exchange list's rows.
async fn listed(browser: &Browser) -> Vec<String> {
    let mut texts = Vec::new();
    for row in browser.all("#exchanges tr.record").await {
        texts.push(row.text().await.unwrap());
    }
    texts
}

/// The sequence numbers of the exchange list's rows.
async fn seqs(browser: &Browser) -> Vec<i64> {
    let mut seqs = Vec::new();
    for row in browser.all("#exchanges tr.record").await {
        seqs.push(
            row.attr("data-seq")
                .await
                .unwrap()
                .unwrap()
                .parse()
                .unwrap(),
        );
    }
    seqs
}

#[tokio::test]
async fn the_exchange_list_is_scoped_filtered_and_paged() {
    let h = gateway().await;
    exchanges(&h).await;
    // Enough further intakes for a second page of 50 records (3 records each).
    let mut utrecht = h.client("gemeente-utrecht").await;
    for i in 0..18 {
        let request = h.request(
            &format!("page-{i}"),
            "INTAKE",
            &["dtv", "ngo-begeleiding"],
            "Intake",
            INTAKE,
        );
        utrecht.send(request).await.unwrap();
    }
    let Some(browser) = Browser::open(console_port(&h)).await else {
        return;
    };
    let amsterdam = h.oin("gemeente-amsterdam");
    within(async {
        sign_in(&browser, &h, "gemeente-utrecht-fg", "fg@utrecht.example").await;
        browser.goto("/exchanges").await;
        browser.screenshot("exchanges").await;
        let first = listed(&browser).await;
        assert_eq!(first.len(), 50, "a full first page");
        assert!(
            first.iter().all(|r| r.contains(&h.oin("gemeente-utrecht"))),
            "{first:#?}"
        );
        assert!(
            first[0].contains("Gemeente Utrecht - casusregie LVV"),
            "names beside OINs"
        );
        assert!(!first.iter().any(|r| r.contains(&amsterdam)));
        let first_seqs = seqs(&browser).await;
        browser.submit("#next").await;
        let second_seqs = seqs(&browser).await;
        assert!(!second_seqs.is_empty());
        assert!(
            second_seqs[0] > *first_seqs.last().unwrap(),
            "the next page goes on"
        );
        assert!(
            listed(&browser)
                .await
                .iter()
                .all(|r| !r.contains(&amsterdam))
        );

        // Another municipality's records stay out of reach by URL too.
        browser
            .goto(&format!("/exchanges?partner={amsterdam}"))
            .await;
        assert_eq!(browser.text("#count").await, "0 record(s) on this page.");
        // Filters narrow the list: deliveries to the NGO only.
        let ngo = h.oin("ngo-begeleiding");
        browser
            .goto(&format!("/exchanges?partner={ngo}&purpose=GUIDANCE"))
            .await;
        let to_ngo = listed(&browser).await;
        assert!(!to_ngo.is_empty());
        assert!(
            to_ngo
                .iter()
                .all(|r| r.contains("delivery_created") && r.contains("withheld: person.bsn")),
            "{to_ngo:#?}"
        );
        browser.goto("/exchanges?outcome=refused").await;
        assert_eq!(browser.text("#count").await, "0 record(s) on this page.");
    })
    .await;
    browser.close().await;
    let queries = records_of(&h, "audit_read").await;
    assert!(
        queries
            .iter()
            .filter(|r| r.record.event.detail["method"] == "Query")
            .count()
            >= 5,
        "each list view is an audit record"
    );
}

#[tokio::test]
async fn the_chain_page_verifies_for_the_programme_and_explains_to_a_municipality() {
    let h = gateway().await;
    exchanges(&h).await;
    let Some(browser) = Browser::open(console_port(&h)).await else {
        return;
    };
    within(async {
        sign_in(&browser, &h, "programma-fg", "fg@programma.example").await;
        browser.goto("/chain").await;
        browser.screenshot("chain").await;
        let verdict = browser.text("#verdict").await;
        assert!(verdict.starts_with("Intact: "), "{verdict}");
        assert!(browser.text("#checkpoint").await.contains("Head hash"));
        browser.submit("nav form button").await;

        sign_in(&browser, &h, "gemeente-utrecht-fg", "fg@utrecht.example").await;
        browser.goto("/chain").await;
        let verdict = browser.text("#verdict").await;
        assert!(
            verdict.contains("Verify an export of your scope offline"),
            "{verdict}"
        );

        browser.goto("/policy").await;
        browser.screenshot("policy").await;
        let intake = browser.find("table.matrix[data-signal='Intake']").await;
        let text = intake.text().await.unwrap();
        let bsn = text
            .lines()
            .find(|l| l.starts_with("person.bsn"))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(bsn.contains("withheld") && bsn.contains("passes"), "{bsn}");
    })
    .await;
    browser.close().await;
}

#[tokio::test]
async fn the_activity_chart_counts_per_day_and_the_export_is_in_the_cli_formats() {
    let h = gateway().await;
    exchanges(&h).await;
    // A refusal: a municipality may not send an intake for RETURN.
    let mut utrecht = h.client("gemeente-utrecht").await;
    let refused = h.request("refused", "RETURN", &["dtv"], "Intake", INTAKE);
    utrecht.send(refused).await.unwrap_err();
    let Some(browser) = Browser::open(console_port(&h)).await else {
        return;
    };
    let mut cookie = String::new();
    within(async {
        sign_in(&browser, &h, "gemeente-utrecht-fg", "fg@utrecht.example").await;
        browser.goto("/activity").await;
        browser.screenshot("activity").await;
        assert_eq!(browser.all("#chart rect").await.len(), 60, "two bars a day");
        let today = browser.find("#days tr.day").await;
        let text = today.text().await.unwrap();
        // Utrecht's one acceptance and one refusal; Amsterdam's is out of scope.
        assert!(text.ends_with(" 1 1"), "{text}");
        browser.goto("/export").await;
        browser.screenshot("export").await;
        cookie = browser.session_cookie().await;
    })
    .await;
    browser.close().await;

    let headers = [("Cookie", cookie)];
    let (status, ldv) = https(&h, "GET", "/export/download?format=ldv", &headers, "").await;
    assert_eq!(status, 200);
    let lines: Vec<serde_json::Value> = ldv
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!lines.is_empty());
    let amsterdam = h.oin("gemeente-amsterdam");
    for line in &lines {
        assert!(
            line["trace_id"].is_string() && line["attributes"].is_object(),
            "{line}"
        );
        assert_ne!(
            line["attributes"]["dpl.core.organisation.oin"],
            amsterdam.as_str()
        );
    }
    let (_, native) = https(&h, "GET", "/export/download", &headers, "").await;
    let header: serde_json::Value = serde_json::from_str(native.lines().next().unwrap()).unwrap();
    assert_eq!(header["type"], "header");
    assert_eq!(
        header["complete"], false,
        "a scoped export says it is partial"
    );
    // Without the session, nothing.
    let (status, _) = https(&h, "GET", "/export/download?format=ldv", &[], "").await;
    assert_eq!(status, 303);
    let exports = records_of(&h, "audit_read").await;
    assert!(
        exports
            .iter()
            .any(|r| r.record.event.detail["method"] == "Export")
    );
}
