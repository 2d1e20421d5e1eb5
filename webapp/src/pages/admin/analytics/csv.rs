//! The report as CSV, one row per bucket of its series, offered as a `data:` link (made in the
//! page: nothing is sent anywhere).

use tokenmeter_client::types::SeriesPoint;

/// The header of the CSV export.
pub(super) const HEADER: &str = "start,invocations,errors,input_tokens,output_tokens,cost_usd";

/// `points` as CSV: the header, then one line per bucket (cost to the millionth of a dollar,
/// exact: costs are whole millionths).
pub(super) fn csv(points: &[SeriesPoint]) -> String {
    let mut out = format!("{HEADER}\r\n");
    for p in points {
        out.push_str(&format!(
            "{},{},{},{},{},{:.6}\r\n",
            p.start, p.invocations, p.errors, p.input_tokens, p.output_tokens, p.cost
        ));
    }
    out
}

/// A `data:` URL holding `text` as CSV.
pub(super) fn data_url(text: &str) -> String {
    format!("data:text/csv;charset=utf-8,{}", js_sys::encode_uri_component(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_bucket_under_the_header() {
        let point = |start: &str, cost: f64| SeriesPoint {
            start: start.into(),
            invocations: 3,
            errors: 1,
            input_tokens: 12,
            output_tokens: 40,
            cost,
            by_model: Vec::new(),
        };
        let text = csv(&[point("2026-01-19T12:00:00Z", 0.000072), point("2026-01-19T13:00:00Z", 1.5)]);
        assert_eq!(
            text,
            "start,invocations,errors,input_tokens,output_tokens,cost_usd\r\n\
             2026-01-19T12:00:00Z,3,1,12,40,0.000072\r\n\
             2026-01-19T13:00:00Z,3,1,12,40,1.500000\r\n"
        );
    }
}
