//! Bar charts drawn on the server as inline SVG: no script, nothing loaded, only presentation
//! attributes (the Content-Security-Policy allows no inline style). Bars stand in groups (a day,
//! a region), one colour per series, with the series named in a legend beside the chart. A
//! figure that is not shown gets no bar, only its mark, so that no height gives it away.

use maud::{Markup, html};

/// The series' colours, in order (the console's accent, warning, and further tones).
const COLOURS: &[&str] = &[
    "#154273", "#a4262c", "#2e7d32", "#8a5300", "#6a1b9a", "#00838f", "#5b6470",
];
/// Geometry, in SVG units.
const BAR: i64 = 10;
const GAP: i64 = 2;
const GROUP_GAP: i64 = 12;
const PLOT: i64 = 120;
/// Room above the bars for their marks, and left and below for the groups' names (slanted).
const TOP: i64 = 14;
const LEFT: i64 = 50;
const BOTTOM: i64 = 130;

/// One bar: its height, or `None` where the figure is not shown, and an optional mark above
/// it (the figure as the table shows it).
pub struct Bar {
    /// The figure drawn, in the chart's unit.
    pub value: Option<f64>,
    /// The text above the bar.
    pub mark: Option<String>,
}

/// Bars side by side, one per series, under one name.
pub struct Group {
    /// The name below the group; empty for none.
    pub name: String,
    /// One bar per series.
    pub bars: Vec<Bar>,
}

/// A chart: its element id, a title for screen readers, the series' names and the groups.
pub struct Chart {
    /// The `id` of the `svg` element.
    pub id: String,
    /// The chart's title.
    pub title: String,
    /// The series, one colour each; a legend is drawn when there are two or more.
    pub series: Vec<String>,
    /// The groups, left to right.
    pub groups: Vec<Group>,
}

// === impl Chart ===

impl Chart {
    /// The chart as an `svg` element, followed by its legend.
    pub fn draw(&self) -> Markup {
        let per_group = i64::try_from(self.series.len()).unwrap_or(1).max(1);
        let step = per_group * (BAR + GAP) + GROUP_GAP;
        let named = self.groups.iter().any(|g| !g.name.is_empty());
        let left = if named { LEFT } else { 0 };
        let width = left + step * i64::try_from(self.groups.len()).unwrap_or(0);
        let marked = self
            .groups
            .iter()
            .flat_map(|g| &g.bars)
            .any(|b| b.mark.is_some());
        let top = if marked { TOP } else { 0 };
        let height = top + PLOT + if named { BOTTOM } else { 0 };
        let max = self
            .groups
            .iter()
            .flat_map(|g| &g.bars)
            .filter_map(|b| b.value)
            .fold(0.0, f64::max);
        let scale = |v: f64| {
            if max > 0.0 {
                (v * PLOT as f64 / max).round() as i64
            } else {
                0
            }
        };
        let base = top + PLOT;
        html! {
            svg.chart id=(self.id) xmlns="http://www.w3.org/2000/svg" role="img" width=(width)
                height=(height) viewBox=(format!("0 0 {width} {height}")) {
                title { (self.title) }
                @for (g, group) in self.groups.iter().enumerate() {
                    @let x0 = left + i64::try_from(g).unwrap_or(0) * step;
                    @for (s, bar) in group.bars.iter().enumerate() {
                        @let x = x0 + i64::try_from(s).unwrap_or(0) * (BAR + GAP);
                        @let colour = COLOURS[s % COLOURS.len()];
                        @if let Some(value) = bar.value {
                            rect x=(x) y=(base - scale(value)) width=(BAR) height=(scale(value)) fill=(colour) {}
                        }
                        @if let Some(mark) = &bar.mark {
                            @let y = base - bar.value.map_or(0, scale) - 3;
                            text x=(x + BAR / 2) y=(y) font-size="8" text-anchor="middle" fill=(colour) { (mark) }
                        }
                    }
                    @if !group.name.is_empty() {
                        @let x = x0 + (step - GROUP_GAP) / 2;
                        text x=(x) y=(base + 12) font-size="10" text-anchor="end"
                            transform=(format!("rotate(-45 {x} {})", base + 12)) { (group.name) }
                    }
                }
            }
            @if self.series.len() > 1 {
                ul.legend {
                    @for (s, name) in self.series.iter().enumerate() {
                        li { span class=(format!("key s{}", s % COLOURS.len())) {} (name) }
                    }
                }
            }
        }
    }
}
