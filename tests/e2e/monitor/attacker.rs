//! What someone holding monitor reports would try: work out each suppressed cell from the
//! shown cells and every sum that ties them (region totals shared by all tables of a signal
//! type, value totals, national totals), by filling in any sum with one unknown left, until
//! nothing changes (and knowing that counts are never negative, so that the unknown parts
//! of a sum already made by its shown parts are 0); and a scan of everything the monitor stores and prints for values the
//! test sent.

use std::collections::{BTreeMap, BTreeSet};

use ketenpoort::api::proto::{MonitorCell, MonitorQuarter, monitor_cell::Content};

/// A sum: `parts` add up to `total`.
struct Sum {
    total: String,
    parts: Vec<String>,
}

/// The cells of one quarter by name, shown (`Some`) or suppressed (`None`), and the sums.
fn system(quarter: &MonitorQuarter) -> (BTreeMap<String, Option<u64>>, Vec<Sum>) {
    let mut cells = BTreeMap::new();
    let mut sums = Vec::new();
    let value = |c: Option<&MonitorCell>| match c.and_then(|c| c.content) {
        Some(Content::Count(n)) => Some(n),
        _ => None,
    };
    for t in &quarter.tables {
        let s = &t.signal_type;
        let national = t.national.as_ref().unwrap();
        let grand = format!("{s}|total");
        cells.insert(grand.clone(), value(national.total.as_ref()));
        let region_total = |r: &str| format!("{s}|{r}|total");
        for row in &t.rows {
            cells.insert(region_total(&row.region), value(row.total.as_ref()));
        }
        if t.field.is_empty() {
            sums.push(Sum {
                total: grand,
                parts: t.rows.iter().map(|r| region_total(&r.region)).collect(),
            });
            continue;
        }
        let f = &t.field;
        let inner = |r: &str, v: &str| format!("{s}|{f}|{r}|{v}");
        for row in &t.rows {
            for (v, c) in t.values.iter().zip(&row.cells) {
                cells.insert(inner(&row.region, v), value(Some(c)));
            }
            sums.push(Sum {
                total: region_total(&row.region),
                parts: t.values.iter().map(|v| inner(&row.region, v)).collect(),
            });
        }
        for (v, c) in t.values.iter().zip(&national.cells) {
            let total = format!("{s}|{f}|total|{v}");
            cells.insert(total.clone(), value(Some(c)));
            sums.push(Sum {
                total,
                parts: t.rows.iter().map(|r| inner(&r.region, v)).collect(),
            });
        }
        sums.push(Sum {
            total: grand,
            parts: t
                .values
                .iter()
                .map(|v| format!("{s}|{f}|total|{v}"))
                .collect(),
        });
    }
    (cells, sums)
}

/// Every suppressed cell of `quarter` that can be recomputed; asserts on the way that the
/// shown cells add up.
pub fn recomputable(quarter: &MonitorQuarter) -> Vec<String> {
    let (cells, sums) = system(quarter);
    let suppressed: BTreeSet<&String> = cells
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k)
        .collect();
    let mut known: BTreeMap<String, i64> = cells
        .iter()
        .filter_map(|(k, v)| v.map(|v| (k.clone(), v as i64)))
        .collect();
    loop {
        let mut learned = false;
        for sum in &sums {
            let terms: Vec<(&String, i64)> = sum
                .parts
                .iter()
                .map(|p| (p, 1))
                .chain(std::iter::once((&sum.total, -1)))
                .collect();
            let unknown: Vec<&(&String, i64)> = terms
                .iter()
                .filter(|(k, _)| !known.contains_key(*k))
                .collect();
            if unknown.is_empty() {
                let total: i64 = terms.iter().map(|(k, sign)| known[*k] * sign).sum();
                assert_eq!(total, 0, "the shown cells of {} do not add up", sum.total);
                continue;
            }
            // Counts are never negative: when the shown parts already make the total, every
            // unknown part is 0.
            let shown: i64 = sum.parts.iter().filter_map(|p| known.get(p)).sum();
            if known.get(&sum.total) == Some(&shown) {
                for (k, _) in &unknown {
                    known.insert((*k).clone(), 0);
                }
                learned = true;
            } else if let [(k, sign)] = unknown.as_slice() {
                let rest: i64 = terms
                    .iter()
                    .filter(|(o, _)| o != k)
                    .map(|(o, s)| known[*o] * s)
                    .sum();
                known.insert((*k).clone(), -rest * sign);
                learned = true;
            }
        }
        if !learned {
            break;
        }
    }
    suppressed
        .into_iter()
        .filter(|k| known.contains_key(*k))
        .cloned()
        .collect()
}

/// The values of `texts` found in `haystack`.
pub fn found<'t>(haystack: &str, texts: &'t [String]) -> Vec<&'t str> {
    texts
        .iter()
        .filter(|t| haystack.contains(t.as_str()))
        .map(String::as_str)
        .collect()
}
