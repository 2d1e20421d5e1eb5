//! How figures read: thousands separators, dollars, percentages, the state of a user.

use crate::ui::Tone;

/// `1234567` → `1,234,567`.
pub fn tokens(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Dollars with four decimals (the reference screens' precision), more for tiny non-zero sums.
pub fn dollars(amount: f64) -> String {
    if amount > 0.0 && amount < 0.0001 { format!("${amount:.6}") } else { format!("${amount:.4}") }
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
        assert_eq!(tokens(0), "0");
        assert_eq!(tokens(999), "999");
        assert_eq!(tokens(1000), "1,000");
        assert_eq!(tokens(100_000), "100,000");
        assert_eq!(tokens(1_234_567), "1,234,567");
        assert_eq!(dollars(0.0051), "$0.0051");
        assert_eq!(dollars(0.0), "$0.0000");
        assert_eq!(dollars(0.000036), "$0.000036");
        assert_eq!(percent(79.6), "79.6%");
        assert_eq!(percent(105.0), "105%");
        assert_eq!(percent(31.84), "31.8%");
        assert_eq!(timestamp("2026-01-19T12:18:17.123Z"), "2026-01-19 12:18:17 UTC");
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
