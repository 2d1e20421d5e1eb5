//! UTC timestamps with millisecond precision, rendered as ISO-8601 (`2026-01-19T12:18:17.123Z`).

use std::{fmt, str::FromStr};

use time::{OffsetDateTime, format_description::FormatItem, macros::format_description};

const ISO_8601_MILLIS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// A point in time, UTC, as milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn now() -> Self {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        Self((nanos / 1_000_000) as i64)
    }

    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub const fn millis(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let text = at.format(ISO_8601_MILLIS).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

/// Text that is not a timestamp as [`Timestamp`]'s `Display` renders it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an ISO-8601 UTC timestamp with milliseconds (like 2026-01-19T12:18:17.123Z)")]
pub struct InvalidTimestamp(String);

impl FromStr for Timestamp {
    type Err = InvalidTimestamp;

    /// Parses exactly what `Display` renders: `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let at = time::PrimitiveDateTime::parse(text, ISO_8601_MILLIS)
            .map_err(|_| InvalidTimestamp(text.to_owned()))?
            .assume_utc();
        let millis = at.unix_timestamp_nanos() / 1_000_000;
        i64::try_from(millis).map(Self).map_err(|_| InvalidTimestamp(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_iso_8601_utc_with_millis() {
        assert_eq!(Timestamp::from_millis(0).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Timestamp::from_millis(1_768_825_097_123).to_string(), "2026-01-19T12:18:17.123Z");
    }

    #[test]
    fn parses_what_it_renders_and_nothing_else() {
        for millis in [0, 1, 999, 1_768_825_097_123, 4_102_444_799_999] {
            let at = Timestamp::from_millis(millis);
            assert_eq!(at.to_string().parse::<Timestamp>(), Ok(at));
        }
        for bad in
            ["", "2026-01-19", "2026-01-19T12:18:17Z", "2026-01-19T12:18:17.123+01:00", "2026-13-01T00:00:00.000Z"]
        {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad}");
        }
    }
}
