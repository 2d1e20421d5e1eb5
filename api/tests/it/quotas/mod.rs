//! Quotas through the HTTP API, on the store `TOKENMETER_TEST_STORE` selects: periods that
//! reset at their boundary by the test's clock, concurrent calls that never pass a rule,
//! admission that waits for held budget instead of refusing, failed and cancelled calls that
//! change nothing, the `RateLimit` headers, and guests.

mod admission;
mod concurrency;
mod failures;
mod guests;
mod headers;
mod periods;

use std::time::Duration;

use tokenmeter_api::domain::{ManualClock, Timestamp};
use tokenmeter_client::types::{self, MetricName, PeriodName, QuotaRule, QuotaState};

use crate::helpers::TestApp;

/// A point in time the tests set their clock to: `2030-01-30T23:59:59.000Z`.
pub(crate) fn at(iso: &str) -> Timestamp {
    iso.parse().unwrap_or_else(|_| panic!("not an ISO-8601 timestamp: {iso}"))
}

/// A clock standing at `iso`.
pub(crate) fn clock_at(iso: &str) -> ManualClock {
    ManualClock::at(at(iso))
}

pub(crate) fn tokens(period: PeriodName, limit: u64, model: Option<&str>) -> QuotaRule {
    QuotaRule::Tokens { limit: limit.try_into().unwrap(), model: model.map(str::to_owned), period }
}

pub(crate) fn requests(period: PeriodName, limit: u64) -> QuotaRule {
    QuotaRule::Requests { limit: limit.try_into().unwrap(), model: None, period }
}

/// A cost rule of `dollars`.
pub(crate) fn cost(period: PeriodName, dollars: f64) -> QuotaRule {
    QuotaRule::Cost { limit: dollars, model: None, period }
}

/// Creates `user` with a lifetime limit and `rules` of its own.
pub(crate) async fn user_with_rules(app: &TestApp, user: &str, limit: u64, rules: Vec<QuotaRule>) {
    app.create_user(user, limit).await;
    app.client.set_user_quotas(user, &types::RulesBody { quotas: rules }).await.expect("set the user's rules");
}

/// Every rule of `user` with its state, as `GET /users/{userId}/quotas` answers.
pub(crate) async fn quotas(app: &TestApp, user: &str) -> Vec<QuotaState> {
    app.client.get_user_quotas(user).await.expect("the user's quotas").into_inner().quotas
}

/// The state of the rule on `metric` per `period` (and `model`) among `states`.
pub(crate) fn rule<'a>(
    states: &'a [QuotaState],
    metric: MetricName,
    period: PeriodName,
    model: Option<&str>,
) -> &'a QuotaState {
    states
        .iter()
        .find(|s| s.metric == metric && s.period == period && s.model.as_deref() == model)
        .unwrap_or_else(|| panic!("no {metric:?} rule per {period:?} on {model:?} in {states:#?}"))
}

/// Dollars as the API writes them, in exact nano-dollars.
pub(crate) fn nanos(dollars: f64) -> u64 {
    (dollars * 1e9).round() as u64
}

/// No rule of `user` has anything held by calls in flight, and neither has the account.
pub(crate) async fn nothing_held(app: &TestApp, user: &str) {
    let states = quotas(app, user).await;
    for state in &states {
        assert_eq!(state.reserved, 0.0, "a hold is left on {state:?}");
    }
    assert_eq!(app.reserved(user).await, 0, "a hold is left on the account");
}

/// How long a test lets the model's stand-in take to answer.
pub(crate) const MODEL_TIMEOUT: Duration = Duration::from_secs(10);
