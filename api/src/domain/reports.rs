//! Usage reports and the log of recent events: every figure comes from the hourly roll-ups
//! (never from scanning events), so a report over 30 days costs 30 queries on DynamoDB.
//!
//! A report covers whole hours: the current one (up to now) and the `hours - 1` before it.
//! Its projection extrapolates the range's rate to the end of the calendar month (UTC), on
//! top of what the month has cost so far, and says so in `basis`.

use std::{collections::BTreeMap, time::Duration};

use super::{
    Core, Error, EventId, EventQuery, MetricsSnapshot, Money, PriceList, Principal, Rollup, Timestamp, Totals,
    UsageEvent, UserId, ValidationError, quota::ModelScope,
};

const HOUR: Duration = Duration::from_secs(3_600);
const DAY: Duration = Duration::from_secs(86_400);

/// How fine a report's series is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Granularity {
    #[default]
    Hour,
    Day,
}

impl Granularity {
    fn start_of(self, at: Timestamp) -> Timestamp {
        match self {
            Granularity::Hour => at.hour_start(),
            Granularity::Day => at.day_start(),
        }
    }

    fn step(self) -> Duration {
        match self {
            Granularity::Hour => HOUR,
            Granularity::Day => DAY,
        }
    }
}

/// What a report covers, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportQuery {
    pub hours: u32,
    /// One user's usage; everyone's when `None` (admins only).
    pub user: Option<UserId>,
    /// Only calls to this model or family.
    pub model: Option<ModelScope>,
    pub granularity: Granularity,
}

impl ReportQuery {
    /// The longest range a report covers: a year and a day, in hours.
    pub const MAX_HOURS: u32 = 366 * 24;

    pub fn new(
        hours: u64,
        user: Option<UserId>,
        model: Option<ModelScope>,
        granularity: Granularity,
    ) -> Result<Self, ValidationError> {
        Ok(Self { hours: Self::hours(hours)?, user, model, granularity })
    }

    /// A number of hours looked back over: 1 to [`ReportQuery::MAX_HOURS`].
    pub fn hours(hours: u64) -> Result<u32, ValidationError> {
        u32::try_from(hours).ok().filter(|h| (1..=Self::MAX_HOURS).contains(h)).ok_or_else(|| {
            ValidationError::new("hours", format!("must be from 1 to {} (got {hours})", Self::MAX_HOURS))
        })
    }

    /// The range `[from, to)` the report covers at `now`.
    pub fn range(&self, now: Timestamp) -> (Timestamp, Timestamp) {
        (now.hour_start().minus(HOUR * (self.hours - 1)), now)
    }
}

/// One model's share of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelUsage {
    pub model: String,
    /// The model's family in the price list (`sonnet`, …), if it has one.
    pub family: Option<String>,
    pub totals: Totals,
}

/// What the month is projected to cost, and how that was worked out.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    pub monthly_cost: Money,
    pub basis: String,
}

/// One hour or day of a report: its totals and each model's part of them.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportBucket {
    pub start: Timestamp,
    pub totals: Totals,
    /// The models with any call, record or cost in the bucket, by model ID.
    pub by_model: BTreeMap<String, Totals>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UsageReport {
    pub from: Timestamp,
    pub to: Timestamp,
    pub totals: Totals,
    /// Most expensive first (then by model ID).
    pub by_model: Vec<ModelUsage>,
    /// One entry per hour or day of the range, oldest first, empty ones included.
    pub series: Vec<ReportBucket>,
    pub projection: Projection,
}

impl UsageReport {
    /// The report of `query` at `now` from roll-ups covering at least its range and the
    /// month so far (roll-ups outside either are ignored).
    pub fn from_rollups(query: &ReportQuery, rollups: &[Rollup], now: Timestamp, prices: &PriceList) -> Self {
        let (from, to) = query.range(now);
        let counted: Vec<&Rollup> = rollups
            .iter()
            .filter(|r| query.model.as_ref().is_none_or(|scope| scope.covers(&r.model, prices)))
            .collect();
        let mut totals = Totals::default();
        let mut by_model: BTreeMap<&str, Totals> = BTreeMap::new();
        let mut series: BTreeMap<Timestamp, ReportBucket> = BTreeMap::new();
        let mut start = query.granularity.start_of(from);
        while start < to {
            series.insert(start, ReportBucket { start, totals: Totals::default(), by_model: BTreeMap::new() });
            start = start.plus(query.granularity.step());
        }
        let mut month_to_date = Money::ZERO;
        for rollup in &counted {
            if rollup.hour >= now.month_start() && rollup.hour < to {
                month_to_date = month_to_date + rollup.totals.cost;
            }
            if rollup.hour < from || rollup.hour >= to {
                continue;
            }
            totals.add(&rollup.totals);
            by_model.entry(&rollup.model).or_default().add(&rollup.totals);
            let start = query.granularity.start_of(rollup.hour);
            let bucket = series.entry(start).or_insert_with(|| ReportBucket {
                start,
                totals: Totals::default(),
                by_model: BTreeMap::new(),
            });
            bucket.totals.add(&rollup.totals);
            bucket.by_model.entry(rollup.model.clone()).or_default().add(&rollup.totals);
        }
        let mut by_model: Vec<ModelUsage> = by_model
            .into_iter()
            .map(|(model, totals)| ModelUsage {
                family: prices.family_of(model).map(str::to_owned),
                model: model.to_owned(),
                totals,
            })
            .collect();
        by_model.sort_by(|a, b| b.totals.cost.cmp(&a.totals.cost).then_with(|| a.model.cmp(&b.model)));
        let projection = project(totals.cost, from, now, month_to_date);
        Self { from, to, totals, by_model, series: series.into_values().collect(), projection }
    }
}

/// The month's cost so far plus the range's hourly rate for the rest of the month.
fn project(range_cost: Money, from: Timestamp, now: Timestamp, month_to_date: Money) -> Projection {
    let elapsed_ms = from.until(now).as_millis().max(1) as f64;
    let left = now.until(now.next_month_start());
    let per_hour = range_cost.nanos() as f64 / elapsed_ms * HOUR.as_millis() as f64;
    let rest = Money::from_nanos((per_hour * left.as_secs_f64() / 3_600.0).round() as u64);
    let monthly_cost = month_to_date + rest;
    let basis = format!(
        "${:.6} spent since {} plus ${:.6} per hour (the rate of the last {:.1} h) for the {:.1} h left in the month",
        month_to_date.dollars(),
        now.month_start().day_label(),
        per_hour / 1e9,
        elapsed_ms / 3_600_000.0,
        left.as_secs_f64() / 3_600.0,
    );
    Projection { monthly_cost, basis }
}

/// How a page of the event log is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventOrder {
    /// Newest first, a page at a time (`before` the previous page's last).
    #[default]
    Newest,
    /// The most expensive of the last `hours` first (the seed's "most expensive requests").
    Cost { hours: u32 },
}

/// The most events a cost-ordered page looks at.
const COST_ORDER_SCAN: usize = 5_000;

/// How monitoring is exposed.
#[derive(Debug, Clone, Default)]
pub struct MonitoringSettings {
    /// `/metrics` answers without a key (`TOKENMETER_METRICS_PUBLIC=on`, for a private network).
    pub metrics_public: bool,
}

/// Reports, the event log and the service's own metrics, for admins and (about themselves)
/// users.
#[derive(Clone)]
pub struct Reports {
    core: Core,
    settings: MonitoringSettings,
}

impl Reports {
    pub(super) fn new(core: Core, settings: MonitoringSettings) -> Self {
        Self { core, settings }
    }

    /// This instance's metrics: for admins, or for anyone when they are public.
    pub fn metrics(&self, principal: Option<&Principal>) -> Result<MetricsSnapshot, Error> {
        match principal {
            _ if self.settings.metrics_public => {}
            Some(principal) => principal.require_admin()?,
            None => return Err(Error::InvalidKey),
        }
        Ok(self.core.metrics().snapshot())
    }

    pub fn prices(&self) -> &PriceList {
        self.core.prices()
    }

    /// The report `query` asks for. A user key reads only its own user (and gets it when it
    /// names none).
    pub async fn usage(&self, principal: &Principal, mut query: ReportQuery) -> Result<UsageReport, Error> {
        query.user = scoped_user(principal, query.user)?;
        let now = self.core.now();
        let (from, _) = query.range(now);
        let since = from.min(now.month_start());
        let rollups = self.core.events.rollups(since, now, query.user.as_ref()).await.map_err(Error::store)?;
        Ok(UsageReport::from_rollups(&query, &rollups, now, self.core.prices()))
    }

    /// A page of the event log: `limit` events of `user` (everyone's for admins naming none).
    pub async fn events(
        &self,
        principal: &Principal,
        user: Option<UserId>,
        before: Option<EventId>,
        limit: usize,
        order: EventOrder,
    ) -> Result<Vec<UsageEvent>, Error> {
        let user = scoped_user(principal, user)?;
        let now = self.core.now();
        let before = before.unwrap_or_else(|| EventId::after(now));
        match order {
            EventOrder::Newest => {
                let query = EventQuery { user, before, limit };
                self.core.events.events(&query).await.map_err(Error::store)
            }
            EventOrder::Cost { hours } => {
                let since = now.minus(HOUR * hours);
                let query = EventQuery { user, before, limit: COST_ORDER_SCAN };
                let mut events = self.core.events.events(&query).await.map_err(Error::store)?;
                events.retain(|e| e.at >= since);
                events.sort_by(|a, b| b.cost.cmp(&a.cost).then_with(|| b.id.cmp(&a.id)));
                events.truncate(limit);
                Ok(events)
            }
        }
    }
}

/// The user a request is about: a user key's own (naming another is answered as a missing
/// user would be); for admins, whoever they name.
fn scoped_user(principal: &Principal, named: Option<UserId>) -> Result<Option<UserId>, Error> {
    match (principal, named) {
        (Principal::User { user, .. }, None) => Ok(Some(user.clone())),
        (principal, Some(named)) => principal.require_user(&named).map(|()| Some(named)),
        (Principal::Admin { .. }, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ErrorCode, EventKind, TokenUsage};

    /// `2026-11-30T01:00:00Z` as a timestamp.
    fn at(text: &str) -> Timestamp {
        format!("{}.000Z", text.trim_end_matches('Z')).parse().unwrap()
    }

    const BIG: &str = "vendor.big-1";
    const SMALL: &str = "vendor.small-1";

    fn prices() -> PriceList {
        PriceList::from_json(
            r#"{"models": [
                {"id": "vendor.big-1", "family": "big", "name": "Big", "perMillion": {"input": 3, "output": 15}},
                {"id": "vendor.small-1", "family": "small", "name": "Small", "perMillion": {"input": 1, "output": 5}}]}"#,
        )
        .unwrap()
    }

    fn rollup(hour: &str, model: &str, calls: u64, cost_nanos: u64) -> Rollup {
        let mut totals = Totals::default();
        for i in 0..calls {
            let event = UsageEvent {
                id: EventId::generate(at(hour)),
                at: at(hour),
                user: UserId::parse("userId", "u").unwrap(),
                model: model.into(),
                kind: EventKind::Invoke,
                outcome: (i == 0).then_some(ErrorCode::ModelThrottled),
                usage: TokenUsage { input: 10, output: 5, ..TokenUsage::default() },
                cost: Money::from_nanos(cost_nanos / calls),
                latency_ms: 100,
                time_to_first_token_ms: None,
                blocked_by: None,
                expires_at: at(hour),
            };
            totals.add(&Totals::of(&event));
        }
        Rollup { hour: at(hour).hour_start(), user: None, model: model.into(), totals }
    }

    #[test]
    fn hours_are_bounded_and_named() {
        assert_eq!(ReportQuery::new(0, None, None, Granularity::Hour).unwrap_err().field, "hours");
        assert!(ReportQuery::new(u64::from(ReportQuery::MAX_HOURS) + 1, None, None, Granularity::Hour).is_err());
        assert!(ReportQuery::new(24, None, None, Granularity::Day).is_ok());
    }

    #[test]
    fn a_report_sums_its_range_into_buckets_and_projects_the_month() {
        let prices = prices();
        let (big, small) = (BIG, SMALL);
        let rollups = [
            // Before the range but in the month: only in month-to-date.
            rollup("2026-11-02T10:00:00Z", big, 1, 1_000_000_000),
            // The range crosses midnight: 22:00 on the 29th to 01:30 on the 30th.
            rollup("2026-11-29T22:10:00Z", big, 2, 2_000),
            rollup("2026-11-29T23:59:00Z", small, 3, 3_000),
            rollup("2026-11-30T01:00:00Z", big, 4, 4_000),
        ];
        let now = at("2026-11-30T01:30:00Z");
        let query = ReportQuery::new(4, None, None, Granularity::Hour).unwrap();
        let report = UsageReport::from_rollups(&query, &rollups, now, &prices);
        assert_eq!((report.from, report.to), (at("2026-11-29T22:00:00Z"), now));
        assert_eq!(report.totals.calls, 9);
        assert_eq!(report.totals.errors, 3);
        assert_eq!(report.totals.cost, Money::from_nanos(9_000));
        let hours: Vec<(Timestamp, u64)> = report.series.iter().map(|b| (b.start, b.totals.calls)).collect();
        let expected = [("2026-11-29T22:00:00Z", 2), ("2026-11-29T23:00:00Z", 3), ("2026-11-30T00:00:00Z", 0)];
        let mut expected: Vec<(Timestamp, u64)> = expected.iter().map(|(t, n)| (at(t), *n)).collect();
        expected.push((at("2026-11-30T01:00:00Z"), 4));
        assert_eq!(hours, expected);
        assert_eq!(report.by_model[0].model, big, "most expensive first");
        assert_eq!(report.by_model[0].family.as_deref(), Some("big"));
        assert_eq!(report.by_model[1].totals.calls, 3);

        let by_day = ReportQuery::new(4, None, None, Granularity::Day).unwrap();
        let days = UsageReport::from_rollups(&by_day, &rollups, now, &prices);
        let per_model = |b: &ReportBucket| b.by_model.iter().map(|(m, t)| (m.clone(), t.calls)).collect::<Vec<_>>();
        let (first, last) = (per_model(&days.series[0]), per_model(&days.series[1]));
        assert_eq!(
            (first, last),
            (vec![(big.to_owned(), 2), (small.to_owned(), 3)], vec![(big.to_owned(), 4)]),
            "each day by model"
        );
        let days: Vec<u64> = days.series.iter().map(|b| b.totals.calls).collect();
        assert_eq!(days, [5, 4]);

        // 9,000 nanos over 3.5 h, for the 22.5 h left in November, on top of $1.000009.
        let expected = 1_000_009_000 + (9_000.0 / 3.5 * 22.5_f64).round() as u64;
        assert_eq!(report.projection.monthly_cost, Money::from_nanos(expected));
        assert!(report.projection.basis.contains("22.5 h left"), "{}", report.projection.basis);
    }

    #[test]
    fn a_model_filter_keeps_its_family_or_model() {
        let prices = prices();
        let rollups = [rollup("2026-11-30T01:00:00Z", BIG, 2, 20), rollup("2026-11-30T01:00:00Z", SMALL, 3, 30)];
        let small = ModelScope::parse("model", "small", &prices).unwrap();
        let query = ReportQuery::new(1, None, Some(small), Granularity::Hour).unwrap();
        let report = UsageReport::from_rollups(&query, &rollups, at("2026-11-30T01:30:00Z"), &prices);
        assert_eq!(report.totals.calls, 3);
        assert_eq!(report.by_model.len(), 1);
    }
}
