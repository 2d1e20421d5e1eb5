//! UTC timestamps with millisecond precision, rendered as ISO-8601 (`2026-01-19T12:18:17.123Z`),
//! and the UTC calendar the quotas' periods and the reports' series follow.

use std::{fmt, str::FromStr};

use time::{Date, Month, OffsetDateTime, Time, format_description::FormatItem, macros::format_description};

const ISO_8601_MILLIS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// A point in time, UTC, as milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

const MILLIS_PER_HOUR: i64 = 3_600_000;
const MILLIS_PER_DAY: i64 = 24 * MILLIS_PER_HOUR;

impl Timestamp {
    /// The machine's time. Only [`super::SystemClock`] asks: the rest of the domain asks its clock.
    pub(super) fn system_now() -> Self {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        Self((nanos / 1_000_000) as i64)
    }

    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub const fn millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch (DynamoDB's TTL unit).
    pub const fn seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    pub fn plus(self, by: std::time::Duration) -> Self {
        Self(self.0.saturating_add(i64::try_from(by.as_millis()).unwrap_or(i64::MAX)))
    }

    pub fn minus(self, by: std::time::Duration) -> Self {
        Self(self.0.saturating_sub(i64::try_from(by.as_millis()).unwrap_or(i64::MAX)))
    }

    /// Milliseconds from `self` until `later` (zero when `later` is not later).
    pub fn until(self, later: Timestamp) -> std::time::Duration {
        std::time::Duration::from_millis(u64::try_from(later.0 - self.0).unwrap_or(0))
    }

    fn date_time(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    fn from_date(date: Date) -> Self {
        let at = date.with_time(Time::MIDNIGHT).assume_utc();
        Self((at.unix_timestamp_nanos() / 1_000_000) as i64)
    }

    /// The start of this timestamp's hour.
    pub const fn hour_start(self) -> Timestamp {
        Self(self.0 - self.0.rem_euclid(MILLIS_PER_HOUR))
    }

    /// 00:00 UTC of this timestamp's day.
    pub const fn day_start(self) -> Timestamp {
        Self(self.0 - self.0.rem_euclid(MILLIS_PER_DAY))
    }

    /// 00:00 UTC of the next day.
    pub const fn next_day_start(self) -> Timestamp {
        Self(self.day_start().0 + MILLIS_PER_DAY)
    }

    /// 00:00 UTC on the 1st of this timestamp's month.
    pub fn month_start(self) -> Timestamp {
        let date = self.date_time().date();
        Self::from_date(date.replace_day(1).unwrap_or(date))
    }

    /// 00:00 UTC on the 1st of the next month.
    pub fn next_month_start(self) -> Timestamp {
        let date = self.date_time().date();
        let (year, month) = match date.month() {
            Month::December => (date.year() + 1, Month::January),
            month => (date.year(), month.next()),
        };
        Date::from_calendar_date(year, month, 1).map_or(self, Self::from_date)
    }

    /// `2026-11-30`: the UTC day, as period keys and report series name it.
    pub fn day_label(self) -> String {
        let date = self.date_time().date();
        format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day())
    }

    /// `2026-11`: the UTC month.
    pub fn month_label(self) -> String {
        let date = self.date_time().date();
        format!("{:04}-{:02}", date.year(), u8::from(date.month()))
    }

    /// `2026-11-30T13`: the UTC hour, as roll-ups are keyed.
    pub fn hour_label(self) -> String {
        format!("{}T{:02}", self.day_label(), self.date_time().hour())
    }

    /// The number of days in this timestamp's month.
    pub fn days_in_month(self) -> i64 {
        (self.next_month_start().0 - self.month_start().0) / MILLIS_PER_DAY
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.date_time().format(ISO_8601_MILLIS).map_err(|_| fmt::Error)?;
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

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn calendar_boundaries_are_utc_midnight_and_the_first() {
        let last_second = at("2026-11-30T23:59:59.999Z");
        assert_eq!(last_second.day_start(), at("2026-11-30T00:00:00.000Z"));
        assert_eq!(last_second.next_day_start(), at("2026-12-01T00:00:00.000Z"));
        assert_eq!(last_second.month_start(), at("2026-11-01T00:00:00.000Z"));
        assert_eq!(last_second.next_month_start(), at("2026-12-01T00:00:00.000Z"));
        assert_eq!(at("2026-12-31T12:00:00.000Z").next_month_start(), at("2027-01-01T00:00:00.000Z"));
        assert_eq!(at("2028-02-10T00:00:00.000Z").days_in_month(), 29);
        assert_eq!(last_second.day_label(), "2026-11-30");
        assert_eq!(last_second.month_label(), "2026-11");
        assert_eq!(last_second.hour_label(), "2026-11-30T23");
        assert_eq!(last_second.hour_start(), at("2026-11-30T23:00:00.000Z"));
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
