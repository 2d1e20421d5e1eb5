//! The report's hours or days split by model: invocations, tokens and cost, one stacked colour
//! per model (the four that cost most over the range, the rest summed as "Other").

use sycamore::prelude::*;
use tokenmeter_client::types::{ModelPointView, ModelUsageView, SeriesPoint};

use crate::{
    format,
    pages::usage_chart::{bucket, whole},
    ui::{BarChart, Series},
};

/// Models charted by name; the rest are summed as "Other".
const NAMED: usize = 4;

/// The three charts, for `points` of a report whose models, most expensive first, are `models`.
pub(super) fn charts(points: &[SeriesPoint], models: &[ModelUsageView], hourly: bool) -> Vec<View> {
    let named: Vec<&ModelUsageView> = models.iter().take(NAMED).collect();
    let is_named = |id: &str| named.iter().any(|m| m.model == id);
    let split = |part: fn(&ModelPointView) -> f64| -> Vec<Series> {
        let sum = |keep: &dyn Fn(&str) -> bool| -> Vec<f64> {
            points.iter().map(|p| p.by_model.iter().filter(|x| keep(&x.model)).map(part).sum()).collect()
        };
        let mut series: Vec<Series> =
            named.iter().map(|m| Series { name: legend_name(m, models), values: sum(&|id| id == m.model) }).collect();
        if models.len() > NAMED {
            series.push(Series { name: "Other".into(), values: sum(&|id| !is_named(id)) });
        }
        series
    };
    let chart = |label: &'static str, unit: &'static str, series, fmt: fn(f64) -> String, test_id: &'static str| {
        let buckets = points.iter().map(|p| bucket(&p.start, hourly)).collect();
        view! { BarChart(label=label, unit=unit, buckets=buckets, series=series, fmt=fmt, test_id=test_id) }
    };
    vec![
        chart("Invocations by model", "calls", split(|x| x.invocations as f64), whole, "chart-model-invocations"),
        chart(
            "Tokens by model",
            "tokens",
            split(|x| (x.input_tokens + x.output_tokens) as f64),
            whole,
            "chart-model-tokens",
        ),
        chart("Cost by model", "USD", split(|x| x.cost), format::money, "chart-model-cost"),
    ]
}

/// A model's family (`sonnet`) when no other model of the report shares it, else its ID.
fn legend_name(model: &ModelUsageView, models: &[ModelUsageView]) -> String {
    match &model.family {
        Some(family) if models.iter().filter(|m| m.family.as_ref() == Some(family)).count() == 1 => family.clone(),
        _ => model.model.clone(),
    }
}
