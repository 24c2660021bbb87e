//! Exchanges and refusals per day in the officer's scope, over the last 30 days, as a bar
//! chart drawn on the server (inline SVG, no script) with the numbers in a table beside it.

use axum::extract::State;
use maud::{Markup, html};

use super::{Console, ConsoleError, layout};
use crate::{clock::rfc3339, console::session::SignedIn, exchange::daily::DayCount};

/// Days shown.
const DAYS: i64 = 30;
const DAY_MS: i64 = 86_400_000;
/// Chart geometry, in SVG units.
const BAR: i64 = 14;
const HEIGHT: i64 = 120;

/// `GET /activity`.
pub async fn chart(
    State(console): State<Console>,
    SignedIn(session): SignedIn,
) -> Result<Markup, ConsoleError> {
    let now = console.exchange.clock().now_ms();
    let to = (now.div_euclid(DAY_MS) + 1) * DAY_MS;
    let officer = session.officer.in_new_request();
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
    let max = counts
        .iter()
        .map(|c| c.exchanges.max(c.refusals))
        .max()
        .unwrap_or(0)
        .max(1);
    let scale = |n: u64| i64::try_from(n).unwrap_or(0) * HEIGHT / i64::try_from(max).unwrap_or(1);
    let width = BAR * 2 * i64::try_from(counts.len()).unwrap_or(0);
    html! {
        svg #chart xmlns="http://www.w3.org/2000/svg" role="img" width=(width) height=(HEIGHT)
            viewBox=(format!("0 0 {width} {HEIGHT}")) {
            title { "Exchanges and refusals per day" }
            @for (i, c) in counts.iter().enumerate() {
                @let x = i64::try_from(i).unwrap_or(0) * BAR * 2;
                rect x=(x) y=(HEIGHT - scale(c.exchanges)) width=(BAR - 4) height=(scale(c.exchanges)) fill="#154273" {}
                rect x=(x + BAR - 4) y=(HEIGHT - scale(c.refusals)) width=(BAR / 2) height=(scale(c.refusals)) fill="#a4262c" {}
            }
        }
    }
}
