//! Monitoring reads: usage reports over a range of hours (`/reports/usage`) and the log of
//! recent events (`/events`). Admins see everyone; a user key sees its own user.

use poem_openapi::{Enum, Object, OpenApi, param::Query, payload::Json};

use super::{
    ApiTags,
    auth::Caller,
    error::{AUTH, ApiResult, INPUT, ONE_USER, codes},
    params::user_id,
    strings::{EventIdParam, ModelScopeText, UserIdPath},
};
use crate::domain::{
    EventId, EventOrder, Granularity, ModelScope, Projection, ReportBucket, ReportQuery, Reports, UsageEvent,
    UsageReport, ValidationError,
};

pub(super) struct ReportsApi {
    pub(super) reports: Reports,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub(super) enum GranularityName {
    Hour,
    Day,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub(super) enum EventSort {
    /// Newest first, page by page.
    Time,
    /// Most expensive first, among the last `hours`.
    Cost,
}

/// Latency of successful calls, from the roll-ups' histogram (p50/p99 are the upper bounds of
/// the buckets holding those ranks).
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct LatencyView {
    mean_ms: Option<f64>,
    p50_ms: Option<u64>,
    p99_ms: Option<u64>,
}

/// Calls that ended in an error (refusals included).
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct ErrorsView {
    count: u64,
    /// Errors over calls, from 0 to 1 (0 without calls).
    rate: f64,
    /// Error code → count.
    by_code: std::collections::BTreeMap<String, u64>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct ModelUsageView {
    /// The model's family in the price list, when it has one.
    family: Option<String>,
    model: String,
    invocations: u64,
    input_tokens: u64,
    output_tokens: u64,
    /// US dollars.
    cost: f64,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct SeriesPoint {
    /// The start of the hour or day (ISO-8601 UTC).
    start: String,
    invocations: u64,
    input_tokens: u64,
    output_tokens: u64,
    /// US dollars.
    cost: f64,
    errors: u64,
    /// Each model's part of this hour or day: the models with any activity in it, by model ID.
    by_model: Vec<ModelPointView>,
}

/// One model's part of an hour or day of a report.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct ModelPointView {
    model: String,
    invocations: u64,
    input_tokens: u64,
    output_tokens: u64,
    /// US dollars.
    cost: f64,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct ProjectionView {
    /// What the calendar month (UTC) is projected to cost, in US dollars.
    monthly_cost: f64,
    /// How the projection was worked out.
    basis: String,
}

/// Usage over a range of whole hours, computed from hourly roll-ups.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct UsageReportView {
    /// The start of the first hour covered (ISO-8601 UTC).
    from: String,
    /// Now: the end of the range.
    to: String,
    /// Model calls: answered, failed and refused.
    invocations: u64,
    /// Usage records (`POST /users/{userId}/usage`), whose tokens and cost count below too.
    records: u64,
    input_tokens: u64,
    output_tokens: u64,
    cache_read_tokens: u64,
    cache_write_tokens: u64,
    total_tokens: u64,
    /// US dollars.
    cost: f64,
    latency: LatencyView,
    errors: ErrorsView,
    /// Most expensive first.
    by_model: Vec<ModelUsageView>,
    /// One point per hour or day of the range, oldest first, empty ones included.
    series: Vec<SeriesPoint>,
    projection: ProjectionView,
}

impl From<&UsageReport> for UsageReportView {
    fn from(report: &UsageReport) -> Self {
        let t = &report.totals;
        let Projection { monthly_cost, basis } = &report.projection;
        Self {
            from: report.from.to_string(),
            to: report.to.to_string(),
            invocations: t.calls,
            records: t.records,
            input_tokens: t.input_tokens,
            output_tokens: t.output_tokens,
            cache_read_tokens: t.cache_read_tokens,
            cache_write_tokens: t.cache_write_tokens,
            total_tokens: t.all_input_tokens().saturating_add(t.output_tokens),
            cost: t.cost.dollars(),
            latency: LatencyView {
                mean_ms: t.mean_latency_ms(),
                p50_ms: t.latency_quantile_ms(0.5),
                p99_ms: t.latency_quantile_ms(0.99),
            },
            errors: ErrorsView {
                count: t.errors,
                rate: if t.calls == 0 { 0.0 } else { t.errors as f64 / t.calls as f64 },
                by_code: t.errors_by_code.clone(),
            },
            by_model: report
                .by_model
                .iter()
                .map(|m| ModelUsageView {
                    family: m.family.clone(),
                    model: m.model.clone(),
                    invocations: m.totals.calls,
                    input_tokens: m.totals.input_tokens,
                    output_tokens: m.totals.output_tokens,
                    cost: m.totals.cost.dollars(),
                })
                .collect(),
            series: report.series.iter().map(point).collect(),
            projection: ProjectionView { monthly_cost: monthly_cost.dollars(), basis: basis.clone() },
        }
    }
}

fn point(bucket: &ReportBucket) -> SeriesPoint {
    let t = &bucket.totals;
    SeriesPoint {
        start: bucket.start.to_string(),
        invocations: t.calls,
        input_tokens: t.input_tokens,
        output_tokens: t.output_tokens,
        cost: t.cost.dollars(),
        errors: t.errors,
        by_model: bucket
            .by_model
            .iter()
            .map(|(model, t)| ModelPointView {
                model: model.clone(),
                invocations: t.calls,
                input_tokens: t.input_tokens,
                output_tokens: t.output_tokens,
                cost: t.cost.dollars(),
            })
            .collect(),
    }
}

/// One model call or usage record.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct EventView {
    /// Sorts by time; pass the last one as `before` for the next page.
    event_id: String,
    at: String,
    user_id: String,
    model: String,
    /// `invoke`, `stream` or `record`.
    kind: String,
    /// `ok`, or the error code the call ended with.
    outcome: String,
    input_tokens: u64,
    output_tokens: u64,
    cache_read_tokens: u64,
    cache_write_tokens: u64,
    /// US dollars.
    cost: f64,
    latency_ms: u64,
    time_to_first_token_ms: Option<u64>,
    /// The rule that refused the call, when one did.
    blocked_by: Option<String>,
}

impl From<&UsageEvent> for EventView {
    fn from(e: &UsageEvent) -> Self {
        Self {
            event_id: e.id.to_string(),
            at: e.at.to_string(),
            user_id: e.user.to_string(),
            model: e.model.clone(),
            kind: e.kind.as_str().to_owned(),
            outcome: e.outcome_str().to_owned(),
            input_tokens: e.usage.input,
            output_tokens: e.usage.output,
            cache_read_tokens: e.usage.cache_read,
            cache_write_tokens: e.usage.cache_write,
            cost: e.cost.dollars(),
            latency_ms: e.latency_ms,
            time_to_first_token_ms: e.time_to_first_token_ms,
            blocked_by: e.blocked_by.clone(),
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct EventPage {
    events: Vec<EventView>,
    /// The `before` of the next page; absent on the last page (and for `sort=cost`).
    next_before: Option<String>,
}

codes!(UsageReportCodes: AUTH, INPUT, ONE_USER);
codes!(ListEvents: AUTH, INPUT, ONE_USER);

/// The most events one page holds.
const MAX_PAGE: u64 = 500;

#[OpenApi(tag = "ApiTags::Monitoring")]
impl ReportsApi {
    /// Usage report
    ///
    /// Invocations, tokens, cost, latency (mean, p50, p99), errors by code, a breakdown by
    /// model, a series per hour or day, and a projection of the month's cost, over the last
    /// `hours` whole hours (the current one up to now). Admins see everyone's usage or one
    /// user's (`userId`); a user key sees its own.
    #[oai(path = "/reports/usage", method = "get", operation_id = "usageReport")]
    async fn usage(
        &self,
        caller: Caller,
        /// Hours covered, the current one included (1–8784).
        #[oai(validator(minimum(value = "1"), maximum(value = "8784")))]
        hours: Query<Option<u64>>,
        /// Only this user's usage.
        #[oai(name = "userId")]
        user: Query<Option<UserIdPath>>,
        /// Only calls to this model family or model ID.
        model: Query<Option<ModelScopeText>>,
        /// One series point per `hour` (the default) or `day`.
        granularity: Query<Option<GranularityName>>,
    ) -> ApiResult<Json<UsageReportView>, UsageReportCodes> {
        let user = user.0.as_deref().map(user_id).transpose()?;
        let model = self.model_scope(model.0.as_deref())?;
        let granularity = match granularity.0 {
            Some(GranularityName::Day) => Granularity::Day,
            Some(GranularityName::Hour) | None => Granularity::Hour,
        };
        let query = ReportQuery::new(hours.0.unwrap_or(24), user, model, granularity)?;
        let report = self.reports.usage(&caller.0, query).await?;
        Ok(Json((&report).into()))
    }

    /// Recent events
    ///
    /// The log of model calls (answered, failed and refused) and usage records, newest first,
    /// `limit` at a time (1–500, default 50; `before` pages back). `sort=cost` answers the most
    /// expensive of the last `hours` instead (default 24). Admins see everyone's or one user's;
    /// a user key sees its own.
    #[oai(path = "/events", method = "get", operation_id = "listEvents")]
    async fn events(
        &self,
        caller: Caller,
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))] limit: Query<Option<u64>>,
        /// Only this user's events.
        #[oai(name = "userId")]
        user: Query<Option<UserIdPath>>,
        /// The `eventId` (or `nextBefore`) the page starts after.
        before: Query<Option<EventIdParam>>,
        /// `time` (the default) or `cost`.
        sort: Query<Option<EventSort>>,
        /// For `sort=cost`: the hours looked at (1–8784, default 24).
        #[oai(validator(minimum(value = "1"), maximum(value = "8784")))]
        hours: Query<Option<u64>>,
    ) -> ApiResult<Json<EventPage>, ListEvents> {
        let user = user.0.as_deref().map(user_id).transpose()?;
        let before = before
            .0
            .as_deref()
            .map(|raw| EventId::parse(raw).ok_or_else(|| ValidationError::new("before", "must be an eventId")))
            .transpose()?;
        let limit = limit.0.unwrap_or(50).clamp(1, MAX_PAGE) as usize;
        let order = match sort.0 {
            Some(EventSort::Cost) => EventOrder::Cost { hours: ReportQuery::hours(hours.0.unwrap_or(24))? },
            Some(EventSort::Time) | None => EventOrder::Newest,
        };
        let events = self.reports.events(&caller.0, user, before, limit, order).await?;
        let next_before = match order {
            EventOrder::Newest if events.len() == limit => events.last().map(|e| e.id.to_string()),
            _ => None,
        };
        Ok(Json(EventPage { events: events.iter().map(EventView::from).collect(), next_before }))
    }
}

impl ReportsApi {
    fn model_scope(&self, raw: Option<&str>) -> Result<Option<ModelScope>, ValidationError> {
        raw.map(|raw| ModelScope::parse("model", raw, self.reports.prices())).transpose()
    }
}
