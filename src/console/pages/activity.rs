//! Exchanges and refusals per day in the officer's scope, over the last 30 days, as a bar
//! chart drawn on the server (inline SVG, no script) with the numbers in a table beside it.

use axum::extract::State;
use maud::{Markup, html};

use super::{Console, ConsoleError, layout};
use crate::{
    clock::rfc3339,
    console::{
        chart::{Bar, Chart, Group},
        session::AsOfficer,
    },
    exchange::daily::DayCount,
};

/// Days shown.
const DAYS: i64 = 30;
const DAY_MS: i64 = 86_400_000;

/// `GET /activity`.
pub async fn chart(
    State(console): State<Console>,
    AsOfficer(session, officer): AsOfficer,
) -> Result<Markup, ConsoleError> {
    let now = console.exchange.clock().now_ms();
    let to = (now.div_euclid(DAY_MS) + 1) * DAY_MS;
    let officer = officer.in_new_request();
    let counts = console
        .exchange
        .daily_counts(&officer, to - DAYS * DAY_MS, to)
        .await?;
    let body = html! {
        p { "Signals accepted (blue) and refused (red) per day, last " (DAYS) " days, in your organisation's scope." }
        (bars(&counts))
        table #days {
            thead { tr { th { "Day" } th { "Exchanges" } th { "Refusals" } } }
            tbody {
                @for c in counts.iter().rev().filter(|c| c.exchanges + c.refusals > 0) {
                    tr.day { td { (&rfc3339(c.day)[..10]) } td.exchanges { (c.exchanges) } td.refusals { (c.refusals) } }
                }
            }
        }
    };
    Ok(layout::page("Activity", &session, body))
}

fn bars(counts: &[DayCount]) -> Markup {
    let bar = |n: u64| Bar {
        value: Some(n as f64),
        mark: None,
    };
    Chart {
        id: "chart".into(),
        title: "Exchanges and refusals per day".into(),
        series: vec!["Exchanges".into(), "Refusals".into()],
        groups: counts
            .iter()
            .map(|c| Group {
                name: String::new(),
                bars: vec![bar(c.exchanges), bar(c.refusals)],
            })
            .collect(),
    }
    .draw()
}
