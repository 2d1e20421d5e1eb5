//! How figures read: thousands separators, dollars, percentages, the state of a user.

use std::num::NonZeroU64;

use crate::ui::Tone;

/// `1234567` → `1,234,567`; money, one format everywhere: six decimals below $1 (`$0.000072`),
/// two from $1 up (`$12.35`).
pub use tokenmeter_client::figures::{grouped as tokens, money};

/// Whole millionths of a dollar (the prices are whole millionths per token).
fn micros(amount: f64) -> i64 {
    (amount * 1_000_000.0).round() as i64
}

/// A cost split in parts that add up to its total as shown: the total's precision when the
/// rounded parts sum to the rounded total, else six decimals for all three (exact: costs are
/// whole millionths of a dollar).
pub fn money_parts(input: f64, output: f64, total: f64) -> [String; 3] {
    let decimals = if total.abs() < 1.0 { 6 } else { 2 };
    let at = |amount: f64, decimals: usize| format!("${amount:.decimals$}");
    if decimals == 2 {
        let cents = |amount: f64| (micros(amount) as f64 / 10_000.0).round() as i64;
        if cents(input) + cents(output) == cents(total) {
            return [at(input, 2), at(output, 2), at(total, 2)];
        }
    }
    [at(input, 6), at(output, 6), at(total, 6)]
}

/// What a user's cost figure says: the money, or, for tokens recorded through the API without
/// a model call (which cost nothing here), that label instead of a bare $0.
pub fn cost_of(total_cost: f64, token_usage: u64) -> (String, Option<&'static str>) {
    if total_cost == 0.0 && token_usage > 0 { (money(0.0), Some(RECORDED_ONLY)) } else { (money(total_cost), None) }
}

/// The label of usage recorded without a model call.
pub const RECORDED_ONLY: &str = "recorded usage — no model cost";

/// `12 s`, `3 min`, `2 h` ago.
pub fn age(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        _ => format!("{} h", secs / 3600),
    }
}

/// How long until a reset: `45 s`, `12 min`, `5 h 12 min`, `3 d 4 h`.
pub fn resets_in(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs.div_ceil(60)),
        3600..86_400 => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
        _ => format!("{} d {} h", secs / 86_400, (secs % 86_400) / 3600),
    }
}

/// A whole, positive number of tokens as typed (`100000`, `100,000`, `100 000`), or the
/// sentence saying what the field (named as its label names it) must be.
pub fn parse_tokens(label: &str, text: &str) -> Result<NonZeroU64, String> {
    let digits = text.trim().replace([',', '_', ' ', '\u{a0}'], "");
    match digits.parse::<NonZeroU64>() {
        Ok(n) => Ok(n),
        _ if digits.is_empty() => Err(format!("{label} is required.")),
        _ => Err(format!("{label} must be a positive whole number (e.g. 100000).")),
    }
}

/// `79.6 %`, one decimal, without a trailing `.0`.
pub fn percent(p: f64) -> String {
    let rounded = (p * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 { format!("{rounded:.0}%") } else { format!("{rounded:.1}%") }
}

/// A user's state by percentage used: healthy below 80 %, warning from 80 %, limit reached
/// at 100 %.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Healthy,
    Warning,
    Reached,
}

impl Level {
    pub fn of(percentage: f64) -> Self {
        if percentage >= 100.0 {
            Level::Reached
        } else if percentage >= 80.0 {
            Level::Warning
        } else {
            Level::Healthy
        }
    }

    pub fn tone(self) -> Tone {
        match self {
            Level::Healthy => Tone::Success,
            Level::Warning => Tone::Warning,
            Level::Reached => Tone::Danger,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Level::Healthy => "Healthy",
            Level::Warning => "Warning",
            Level::Reached => "Limit reached",
        }
    }
}

/// `2026-01-19T12:18:17.123Z` → `2026-01-19 12:18:17 UTC` (no locale surprises).
pub fn timestamp(iso: &str) -> String {
    match iso.split_once('T') {
        Some((date, time)) => format!("{date} {} UTC", time.get(..8).unwrap_or(time)),
        None => iso.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_like_the_reference_screens() {
        assert_eq!(percent(79.6), "79.6%");
        assert_eq!(percent(105.0), "105%");
        assert_eq!(percent(31.84), "31.8%");
        assert_eq!(timestamp("2026-01-19T12:18:17.123Z"), "2026-01-19 12:18:17 UTC");
    }

    #[test]
    fn a_cost_s_parts_add_up_to_its_total_as_shown() {
        assert_eq!(money_parts(0.000012, 0.00006, 0.000072), ["$0.000012", "$0.000060", "$0.000072"]);
        assert_eq!(money_parts(1.5, 0.75, 2.25), ["$1.50", "$0.75", "$2.25"]);
        // 0.555 + 0.555 = 1.11, but at two decimals 0.56 + 0.56 = 1.12: six decimals instead.
        assert_eq!(money_parts(0.555, 0.555, 1.11), ["$0.555000", "$0.555000", "$1.110000"]);
        for (input, output) in [(3u64, 15u64), (123_456, 654_321), (999_999, 1), (500_000, 500_000)] {
            let (i, o) = (input as f64 / 1e6, output as f64 / 1e6);
            let [a, b, t] = money_parts(i, o, (input + output) as f64 / 1e6);
            let value = |s: &str| s.trim_start_matches('$').parse::<f64>().unwrap();
            assert!((value(&a) + value(&b) - value(&t)).abs() < 1e-9, "{a} + {b} != {t}");
        }
    }

    #[test]
    fn recorded_usage_is_labelled_instead_of_a_bare_zero() {
        assert_eq!(cost_of(0.0, 120), ("$0.000000".to_owned(), Some(RECORDED_ONLY)));
        assert_eq!(cost_of(0.0, 0), ("$0.000000".to_owned(), None));
        assert_eq!(cost_of(0.000072, 8), ("$0.000072".to_owned(), None));
    }

    #[test]
    fn token_fields_name_themselves_as_labelled() {
        assert_eq!(parse_tokens("Token limit", "100,000").map(NonZeroU64::get), Ok(100_000));
        assert_eq!(parse_tokens("Token limit", " 2 000 ").map(NonZeroU64::get), Ok(2000));
        assert_eq!(
            parse_tokens("Token limit", "0"),
            Err("Token limit must be a positive whole number (e.g. 100000).".into())
        );
        assert_eq!(
            parse_tokens("Token limit", "1.5"),
            Err("Token limit must be a positive whole number (e.g. 100000).".into())
        );
        assert_eq!(parse_tokens("New token limit", ""), Err("New token limit is required.".into()));
    }

    #[test]
    fn resets_read_in_the_two_largest_units() {
        assert_eq!(resets_in(45), "45 s");
        assert_eq!(resets_in(61), "2 min");
        assert_eq!(resets_in(5 * 3600 + 12 * 60 + 30), "5 h 12 min");
        assert_eq!(resets_in(3 * 86_400 + 4 * 3600), "3 d 4 h");
    }

    #[test]
    fn levels_change_at_80_and_100_percent() {
        assert_eq!(Level::of(79.9), Level::Healthy);
        assert_eq!(Level::of(80.0), Level::Warning);
        assert_eq!(Level::of(99.99), Level::Warning);
        assert_eq!(Level::of(100.0), Level::Reached);
        assert_eq!(Level::of(105.0), Level::Reached);
    }
}
