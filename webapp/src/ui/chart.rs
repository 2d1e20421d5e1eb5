//! A bar chart of a time series, stacked by series, drawn as SVG: a y axis with its unit and a
//! few ticks, a time axis, a legend, a summary for screen readers (`role="img"`) and the
//! figures as a table under a `<details>`. The bars stretch with the card (the SVG keeps no
//! aspect ratio); the labels are HTML beside it, so they stay readable at any width.

use sycamore::prelude::*;

/// One series: its name in the legend and its value in each bucket.
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

/// One bucket of the time axis: its label on the axis (`14:00`) and in full
/// (`2026-01-19 14:00 UTC`), for the tooltip and the table.
pub struct Bucket {
    pub axis: String,
    pub full: String,
}

/// At most this many labels on the time axis (half of them on a narrow chart).
const X_LABELS: usize = 7;

/// The top of the y axis and the step between its ticks: 1, 2, 2.5 or 5 × a power of ten, at
/// most five steps up to `max`; whole steps when every value is whole.
fn scale(max: f64, whole: bool) -> (f64, f64) {
    if max.is_nan() || max <= 0.0 {
        return (4.0, 1.0);
    }
    let raw = max / 4.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let mut step =
        [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw * 0.999_999).unwrap_or(raw);
    if whole {
        step = step.max(1.0).round();
    }
    ((max / step).ceil() * step, step)
}

/// The chart. `fmt` writes a value in the unit (`$0.000072`, `1,234`), `unit` names it on the
/// y axis.
#[component(inline_props)]
pub fn BarChart(
    label: &'static str,
    unit: &'static str,
    buckets: Vec<Bucket>,
    series: Vec<Series>,
    fmt: fn(f64) -> String,
    test_id: &'static str,
) -> View {
    let n = buckets.len().max(1);
    let stack = |i: usize| series.iter().map(|s| s.values.get(i).copied().unwrap_or(0.0)).sum::<f64>();
    let peak = (0..buckets.len()).map(stack).fold(0.0, f64::max);
    let whole = series.iter().all(|s| s.values.iter().all(|v| v.fract() == 0.0));
    let (top, step) = scale(peak, whole);
    // Nothing to show: the zero line alone, not a scale made up for no data.
    let ticks = if peak > 0.0 { (top / step).round() as usize } else { 0 };
    let y = |v: f64| 100.0 - v / top * 100.0;

    let grid = (0..=ticks)
        .map(|t| {
            let level = format!("{:.3}", y(t as f64 * step));
            let (y1, y2, x2) = (level.clone(), level, n.to_string());
            let class = if t == 0 { "chart-axis" } else { "chart-grid" };
            view! { line(class=class, x1="0", x2=x2, y1=y1, y2=y2, vector-effect="non-scaling-stroke") }
        })
        .collect::<Vec<View>>();
    let y_labels = (0..=ticks)
        .map(|t| {
            let text = fmt(t as f64 * step);
            view! { span { (text) } }
        })
        .collect::<Vec<View>>();
    let bars = buckets
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut base = 0.0;
            let rects = series
                .iter()
                .enumerate()
                .filter_map(|(k, s)| {
                    let v = s.values.get(i).copied().unwrap_or(0.0);
                    (v > 0.0).then(|| {
                        let (y0, y1) = (y(base), y(base + v));
                        base += v;
                        let (class, x, top, height) =
                            (format!("chart-s{k}"), format!("{i}.15"), format!("{y1:.3}"), format!("{:.3}", y0 - y1));
                        view! { rect(class=class, x=x, width="0.7", y=top, height=height) }
                    })
                })
                .collect::<Vec<View>>();
            let tip = series.iter().map(|s| format!("{}: {}", s.name, fmt(s.values.get(i).copied().unwrap_or(0.0))));
            let tip = format!("{}: {}", b.full, tip.collect::<Vec<_>>().join(", "));
            let x = i.to_string();
            view! {
                g {
                    rect(class="chart-hit", x=x, y="0", width="1", height="100") { svg_title { (tip) } }
                    (rects)
                }
            }
        })
        .collect::<Vec<View>>();
    let every = buckets.len().div_ceil(X_LABELS).max(1);
    let x_labels = buckets
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
        .map(|(i, b)| {
            let style = format!("left: {:.3}%", (i as f64 + 0.5) * 100.0 / n as f64);
            let class = if (i / every) % 2 == 1 { "chart-x-alt" } else { "" };
            let text = b.axis.clone();
            view! { span(class=class, style=style) { (text) } }
        })
        .collect::<Vec<View>>();
    let legend = series
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let (class, name) = (format!("chart-key chart-s{k}"), s.name.clone());
            view! { li { span(class=class, aria-hidden="true") (name) } }
        })
        .collect::<Vec<View>>();
    let totals = series.iter().map(|s| format!("{} {}", s.name, fmt(s.values.iter().sum()))).collect::<Vec<_>>();
    let span = match (buckets.first(), buckets.last()) {
        (Some(a), Some(b)) => format!(" from {} to {}", a.full, b.full),
        _ => String::new(),
    };
    let summary = format!("{label} in {unit}{span}: {}; highest bucket {}.", totals.join(", "), fmt(peak));
    let head = series
        .iter()
        .map(|s| {
            let name = s.name.clone();
            view! { th(scope="col", class="num") { (name) } }
        })
        .collect::<Vec<View>>();
    let rows = buckets
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let cells = series
                .iter()
                .map(|s| {
                    let text = fmt(s.values.get(i).copied().unwrap_or(0.0));
                    view! { td(class="num") { (text) } }
                })
                .collect::<Vec<View>>();
            let full = b.full.clone();
            view! { tr { th(scope="row") { (full) } (cells) } }
        })
        .collect::<Vec<View>>();
    let (count, view_box) = (buckets.len().to_string(), format!("0 0 {n} 100"));
    view! {
        figure(class="chart", data-testid=test_id, data-buckets=count) {
            figcaption(class="chart-head") {
                strong { (label) }
                ul(class="chart-legend") { (legend) }
            }
            div(class="chart-body", role="img", aria-label=summary) {
                div(class="chart-unit") { (unit) }
                div(class="chart-y") { (y_labels) }
                svg(class="chart-plot", viewBox=view_box, preserveAspectRatio="none") { (grid) (bars) }
                div(class="chart-x") { (x_labels) }
            }
            details(class="chart-data") {
                summary { "Figures" }
                div(class="table-wrap") {
                    table(class="table") {
                        thead { tr { th(scope="col") { "Time (UTC)" } (head) } }
                        tbody { (rows) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::scale;

    #[test]
    fn the_y_axis_ends_on_a_round_tick_above_the_peak() {
        assert_eq!(scale(0.0, true), (4.0, 1.0));
        assert_eq!(scale(3.0, true), (3.0, 1.0));
        assert_eq!(scale(1.0, true), (1.0, 1.0));
        assert_eq!(scale(950.0, true), (1000.0, 250.0));
        assert_eq!(scale(1234.0, true), (1500.0, 500.0));
        let (top, step) = scale(0.000072, false);
        assert!((top - 0.00008).abs() < 1e-12 && (step - 0.00002).abs() < 1e-12, "{top} {step}");
    }
}
