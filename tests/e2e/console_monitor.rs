//! The programme monitor's console page in headless Chromium, after a scripted quarter of
//! real exchanges over mutual TLS across several regions: a monitor signs in with its JWT and
//! sees exactly the figures of the gRPC report (itself checked against the test's own tally),
//! small cells as "< 5", a chart per figure with no bar and no mark for a hidden value, and
//! the CLI's CSV and JSON as downloads; officers cannot open it, the monitor cannot open the
//! officers' pages, and every view is an audit record.

use ketenpoort::api::proto::{
    MonitorRow, MonitorTable, QuarterReportResponse, monitor_cell::Content,
};

use crate::{
    browser::{Browser, within},
    console::{console_port, gateway, records_of, sign_in_as},
    logboek::https,
    monitor::{
        attacker, checks,
        client::{cli_report, next_quarter, quarter_now, report, token},
        script::Script,
    },
};

const MONITOR: &str = "programma-monitor";
const ANALYST: &str = "analist@example.invalid";

/// A cell as the report shows it.
fn text(content: Option<Content>) -> String {
    match content {
        Some(Content::Count(n)) => n.to_string(),
        Some(Content::Suppressed(1)) => "< 5".into(),
        _ => "x".into(),
    }
}

/// A row as the page's table reads: region, cells, total, and for a bool field the share.
fn row_text(table: &MonitorTable, row: &MonitorRow) -> String {
    let mut cells = vec![row.region.clone()];
    cells.extend(row.cells.iter().map(|c| text(c.content)));
    cells.push(text(row.total.as_ref().and_then(|c| c.content)));
    if table.values == ["false", "true"] {
        cells.push(row.percent_true.map_or("-".into(), |p| format!("{p:.1}")));
    }
    cells.join(" ")
}

/// The `svg` element `id` of a page's source.
fn svg<'s>(source: &'s str, id: &str) -> &'s str {
    let start = source
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no chart {id}"));
    let end = start + source[start..].find("</svg>").unwrap();
    &source[start..end]
}

/// The marks above a chart's bars, in order.
fn marks(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter(|t| t.contains("font-size=\"8\""))
        .map(|t| {
            let inner = &t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()];
            inner.replace("&lt;", "<")
        })
        .collect()
}

/// Every table and chart of the quarter shown against the gRPC report, cell by cell; returns
/// how many hidden cells were checked.
async fn check_page(browser: &Browser, report: &QuarterReportResponse) -> usize {
    let source = browser.client.source().await.unwrap();
    let current = report.quarters.last().unwrap();
    let mut hidden = 0;
    for (i, t) in current.tables.iter().enumerate() {
        let title = if t.field.is_empty() {
            format!("{} signals", t.signal_type)
        } else {
            format!("{}.{}", t.signal_type, t.field)
        };
        let shown = browser
            .text(&format!("table.figure[data-title=\"{title}\"] tbody"))
            .await;
        let expected: Vec<String> = t
            .rows
            .iter()
            .chain(t.national.as_ref())
            .map(|r| row_text(t, r))
            .collect();
        assert_eq!(shown, expected.join("\n"), "{title}");
        // The chart: a bar for each shown cell of a region, a mark for each, none of a value
        // that is hidden.
        let cells: Vec<Option<Content>> = t
            .rows
            .iter()
            .flat_map(|r| {
                if t.field.is_empty() {
                    vec![r.total.as_ref().and_then(|c| c.content)]
                } else {
                    r.cells.iter().map(|c| c.content).collect()
                }
            })
            .collect();
        let chart = svg(&source, &format!("chart-{i}"));
        let bars = cells
            .iter()
            .filter(|c| matches!(c, Some(Content::Count(_))))
            .count();
        assert_eq!(chart.matches("<rect").count(), bars, "{title}");
        let expected: Vec<String> = cells.iter().map(|c| text(*c)).collect();
        assert_eq!(marks(chart), expected, "{title}");
        hidden += expected.iter().filter(|m| *m == "x" || *m == "< 5").count();
    }
    hidden
}

#[tokio::test]
async fn the_monitor_page_shows_the_reports_figures_with_a_chart_each_to_the_monitor_only() {
    let h = gateway().await;
    let mut s = Script::default();
    let first = quarter_now(&h);
    s.first_quarter(&h).await;
    next_quarter(&h);
    let grpc = report(&h, &first.to_string()).await.unwrap();
    assert!(checks::check_quarter(grpc.quarters.last().unwrap(), &s) >= 10);
    let Some(browser) = Browser::open(console_port(&h)).await else {
        return;
    };
    let mut cookie = String::new();
    within(async {
        // Officers, the programme's included, are told there is no such page.
        browser.goto("/no-such-page").await;
        let unknown = browser.text("main").await;
        assert!(unknown.contains("no such page"), "{unknown}");
        // Tokens valid at the gateway's clock, which the script moved into the next quarter.
        let officers = [
            ("gemeente-utrecht-fg", "fg@utrecht.example"),
            ("programma-fg", "fg@programma.example"),
        ];
        for (officer, person) in officers {
            sign_in_as(&browser, officer, &token(&h, officer, person), "/timeline").await;
            for path in ["/monitor", "/monitor?quarter=2026Q1", "/monitor/download?format=csv"] {
                browser.goto(path).await;
                assert_eq!(browser.text("main").await, unknown, "{officer} {path}");
            }
            browser.goto("/timeline").await;
            browser.submit("nav form button").await;
        }

        sign_in_as(&browser, MONITOR, &token(&h, MONITOR, ANALYST), "/monitor").await;
        // The last quarter that has ended is shown first.
        let asked = browser.find("#quarter").await.prop("value").await.unwrap();
        assert_eq!(asked.as_deref(), Some(first.to_string().as_str()));
        browser.screenshot("monitor").await;
        // Exact figures: 32 reviews, 11 stuck; Rotterdam's 3 stuck is a small cell, its 7
        // not stuck hidden with it, and no share where a cell is hidden.
        let stuck = "table.figure[data-title=\"QuarterlyReviewOutcome.stuck\"]";
        let row = |region: &str| format!("{stuck} tr[data-region=\"{region}\"]");
        assert_eq!(browser.text(&row("total")).await, "total 21 11 32 34.4");
        assert_eq!(browser.text(&row("Rotterdam")).await, "Rotterdam x < 5 10 -");
        assert!(check_page(&browser, &grpc).await >= 10, "hidden cells were shown as such");
        let trend = browser
            .text("table.trend[data-title=\"QuarterlyReviewOutcome.stuck\"] tr[data-region=\"total\"]")
            .await;
        assert_eq!(trend, "total - - - 34.4");
        // Neither a case reference nor a value the test sent is anywhere in the page.
        let source = browser.client.source().await.unwrap();
        let leaked = attacker::found(&source, &s.secrets);
        assert!(leaked.is_empty(), "the page holds {leaked:?}");
        // A quarter that has not ended is refused with the form still there.
        browser.goto(&format!("/monitor?quarter={}", quarter_now(&h))).await;
        assert!(browser.text("#message").await.contains("has not ended"));
        browser.find("#quarter").await;
        // The officers' pages do not exist for the monitor, by any URL.
        let officers_pages = [
            "/timeline",
            "/exchanges",
            "/exchanges?outcome=refused",
            "/activity",
            "/chain",
            "/policy",
            "/export",
            "/export/download?format=ldv",
        ];
        for path in officers_pages {
            browser.goto(path).await;
            assert_eq!(browser.text("main").await, unknown, "{path}");
        }
        cookie = browser.session_cookie().await;
    })
    .await;
    browser.close().await;

    // Not by a form sent without the browser either; the downloads are the CLI's formats.
    let headers = [
        ("Cookie", cookie),
        ("Content-Type", "application/x-www-form-urlencoded".into()),
    ];
    let (status, _) = https(&h, "POST", "/timeline", &headers, "value=LVV-MON-0001-18").await;
    assert_eq!(status, 404);
    let q = first.to_string();
    let (status, csv) = https(
        &h,
        "GET",
        &format!("/monitor/download?quarter={q}&format=csv"),
        &headers,
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(csv, cli_report(&h, &q, &["--csv"]).await);
    let (_, json) = https(
        &h,
        "GET",
        &format!("/monitor/download?quarter={q}&format=json"),
        &headers,
        "",
    )
    .await;
    let cli: serde_json::Value =
        serde_json::from_str(&cli_report(&h, &q, &["--json"]).await).unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&json).unwrap(),
        cli
    );

    // Every view and download is a report in the audit log, under the analyst's name.
    let reports = records_of(&h, "monitor_report").await;
    let by = |method: &str| {
        reports
            .iter()
            .filter(|r| r.record.event.detail["method"] == method)
            .filter(|r| r.record.event.actor_person.as_deref() == Some(ANALYST))
            .filter(|r| r.record.event.detail["quarter"] == q.as_str())
            .count()
    };
    assert_eq!(by("ConsoleReport"), 1, "the one view of {q}");
    assert_eq!(by("ConsoleDownload"), 2);
}
