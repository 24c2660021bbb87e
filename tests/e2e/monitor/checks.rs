//! What the reports must hold: the test's own tally in every shown cell, small cells
//! suppressed, none recomputable, and the same cells in every format.

use ketenpoort::api::proto::{MonitorQuarter, QuarterReportResponse, monitor_cell::Content};

use super::{attacker, script::Script};

/// Every cell of `q` against the tally: a shown cell equals it, a cell of 1 to 4 is shown as
/// "< 5", and no suppressed cell can be recomputed. Returns how many cells were suppressed.
pub fn check_quarter(q: &MonitorQuarter, script: &Script) -> usize {
    let mut suppressed = 0;
    for t in &q.tables {
        for row in t.rows.iter().chain(t.national.as_ref()) {
            let named: Vec<(&str, _)> = t
                .values
                .iter()
                .map(String::as_str)
                .zip(row.cells.iter())
                .chain(std::iter::once(("", row.total.as_ref().unwrap())))
                .collect();
            for (value, cell) in named {
                let (field, value) = if value.is_empty() {
                    ("", "")
                } else {
                    (t.field.as_str(), value)
                };
                let expected: u64 = script
                    .expected
                    .iter()
                    .filter(|((eq, region, signal, f, v), _)| {
                        eq == &q.quarter
                            && (row.region == "total" || region == &row.region)
                            && signal == &t.signal_type
                            && f == field
                            && v == value
                    })
                    .map(|(_, n)| n)
                    .sum();
                let at = format!(
                    "{} {} {}.{} {value}",
                    q.quarter, row.region, t.signal_type, t.field
                );
                match cell.content.unwrap() {
                    Content::Count(n) => {
                        assert_eq!(n, expected, "{at}");
                        assert!(n == 0 || n >= 5, "{at}: {n} shown");
                    }
                    Content::Suppressed(kind) => {
                        suppressed += 1;
                        if kind == 1 {
                            assert!((1..5).contains(&expected), "{at}: {expected} is not small");
                        }
                    }
                }
            }
        }
    }
    let exposed = attacker::recomputable(q);
    assert!(
        exposed.is_empty(),
        "suppressed cells recomputed in {}: {exposed:?}",
        q.quarter
    );
    suppressed
}

/// Every cell of the gRPC report is in the CSV and the JSON, shown or suppressed alike.
pub fn same_cells(report: &QuarterReportResponse, csv: &str, json: &serde_json::Value) {
    for (i, q) in report.quarters.iter().enumerate() {
        for (j, t) in q.tables.iter().enumerate() {
            for (k, row) in t.rows.iter().chain(t.national.as_ref()).enumerate() {
                let text = |c: &ketenpoort::api::proto::MonitorCell| match c.content.unwrap() {
                    Content::Count(n) => n.to_string(),
                    Content::Suppressed(1) => "< 5".into(),
                    Content::Suppressed(_) => "x".into(),
                };
                let json_row = &json["quarters"][i]["tables"][j]["rows"][k];
                let named = t
                    .values
                    .iter()
                    .zip(&row.cells)
                    .map(|(v, c)| (v.as_str(), c, &json_row["cells"][v]));
                let total =
                    std::iter::once(("total", row.total.as_ref().unwrap(), &json_row["total"]));
                for (value, cell, in_json) in named.chain(total) {
                    let line = format!(
                        "{},{},{},{},{value},{}\n",
                        q.quarter,
                        t.signal_type,
                        t.field,
                        row.region,
                        text(cell)
                    );
                    assert!(csv.contains(&line), "CSV lacks {line}");
                    let shown = in_json
                        .as_u64()
                        .map_or_else(|| in_json.as_str().unwrap().to_string(), |n| n.to_string());
                    assert_eq!(shown, text(cell), "JSON {line}");
                }
            }
        }
    }
}

/// The figures of both reports: the tally, the same first quarter in both, and the share of
/// stuck cases where it is shown.
pub fn check_figures(
    of_first: &QuarterReportResponse,
    of_second: &QuarterReportResponse,
    s: &Script,
) {
    assert_eq!(of_first.quarters.len(), 4);
    assert_eq!(of_first.quarters[3].quarter, of_first.quarter);
    assert_eq!(
        of_second.quarters[2], of_first.quarters[3],
        "a quarter looks the same in every report"
    );
    let suppressed: usize = of_second.quarters.iter().map(|q| check_quarter(q, s)).sum();
    assert!(suppressed >= 10, "only {suppressed} cells suppressed");
    let current = &of_first.quarters[3];
    let stuck = current.tables.iter().find(|t| t.field == "stuck").unwrap();
    // The share of stuck cases where it is shown: Amsterdam none of 8, nationally 11 of 32.
    let shares: Vec<(&str, f64)> = stuck
        .rows
        .iter()
        .chain(stuck.national.as_ref())
        .filter_map(|r| r.percent_true.map(|p| (r.region.as_str(), p)))
        .collect();
    assert!(!shares.is_empty());
    for (region, share) in shares {
        let expected = match region {
            "Rotterdam" => 30.0,
            "Utrecht" => 50.0,
            "Amsterdam" => 0.0,
            "Eindhoven" => 100.0,
            "total" => 34.4,
            other => panic!("a share for {other}, which had no reviews"),
        };
        assert_eq!(share, expected, "{region}");
    }
    let rotterdam_row = stuck.rows.iter().find(|r| r.region == "Rotterdam").unwrap();
    assert_eq!(
        rotterdam_row.cells[1].content,
        Some(Content::Suppressed(1)),
        "3 stuck in Rotterdam"
    );
    assert_eq!(rotterdam_row.percent_true, None);
}
