//! Day counters reset at 00:00 UTC and month counters on the 1st, by the clock the test moves,
//! with no job running: a counter is keyed by its window, so a new window starts at zero. On
//! the last second of a period, `resetsAt` and `Retry-After` say 1 s.

use tokenmeter_api::domain::{CounterKey, UserId};
use tokenmeter_client::types::{MetricName as M, PeriodName as P, QuotaDetails};

use super::{at, clock_at, quotas, requests, rule, tokens, user_with_rules};
use crate::helpers::{TestApp, ask, usage};

/// A call refused by a quota: the rule it names, `Retry-After`, and `retryAfterSeconds`.
struct Refused {
    quota: QuotaDetails,
    retry_after: Option<String>,
    retry_after_seconds: Option<u64>,
}

/// Calls the model as `user`: the tokens charged when answered, else the 429 `quota_exceeded`
/// it got.
async fn call(app: &TestApp, user: &str) -> Result<u64, Refused> {
    match app.client.invoke_model(user, None, &ask("hello there")).await {
        Ok(answer) => Ok(answer.tokens_consumed),
        Err(tokenmeter_client::Error::ErrorResponse(answer)) => {
            assert_eq!(answer.status(), 429, "{answer:?}");
            let retry_after = answer.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            let body = answer.into_inner();
            assert_eq!(body.error, "quota_exceeded", "{}", body.message);
            let details = body.details.expect("the refusal's details");
            Err(Refused {
                quota: details.quota.expect("the rule that refused"),
                retry_after,
                retry_after_seconds: details.retry_after_seconds,
            })
        }
        Err(other) => panic!("the call failed: {other:?}"),
    }
}

/// Asserts the call is refused by the rule on requests per `period`, resetting at `resets_at`,
/// with `Retry-After: seconds`.
async fn refused_by(app: &TestApp, user: &str, period: &str, resets_at: &str, seconds: u64) {
    let refused = call(app, user).await.err().unwrap_or_else(|| panic!("a call passed the {period} quota"));
    let quota = &refused.quota;
    assert_eq!((quota.metric.as_str(), quota.period.as_str()), ("requests", period), "{quota:?}");
    assert_eq!((quota.remaining, quota.resets_at.as_deref()), (0.0, Some(resets_at)), "{quota:?}");
    assert_eq!(refused.retry_after, Some(seconds.to_string()), "Retry-After");
    assert_eq!(refused.retry_after_seconds, Some(seconds), "details.retryAfterSeconds");
}

/// The requests per day and per month `user` has used, and when each resets.
async fn requests_used(app: &TestApp, user: &str) -> ((f64, Option<String>), (f64, Option<String>)) {
    let states = quotas(app, user).await;
    let (day, month) = (rule(&states, M::Requests, P::Day, None), rule(&states, M::Requests, P::Month, None));
    ((day.used, day.resets_at.clone()), (month.used, month.resets_at.clone()))
}

#[tokio::test]
async fn day_and_month_counters_reset_exactly_at_their_boundary_by_the_clock() {
    let clock = clock_at("2030-01-30T12:00:00.000Z");
    let app = TestApp::builder().clock(clock.clone()).spawn().await;
    let rules = vec![requests(P::Day, 2), requests(P::Month, 3), tokens(P::Day, 10_000, None)];
    user_with_rules(&app, "cal", 1_000_000, rules).await;
    let (jan_31, feb_1, mar_1) = ("2030-01-31T00:00:00.000Z", "2030-02-01T00:00:00.000Z", "2030-03-01T00:00:00.000Z");

    // Two calls use the day's two requests; the third waits until midnight: 12 h.
    call(&app, "cal").await.ok().expect("the first call");
    call(&app, "cal").await.ok().expect("the second call");
    refused_by(&app, "cal", "day", jan_31, 43_200).await;

    // The last second of the day: it resets in 1 s, and says so.
    clock.set(at("2030-01-30T23:59:59.000Z"));
    assert_eq!(requests_used(&app, "cal").await, ((2.0, Some(jan_31.into())), (2.0, Some(feb_1.into()))));
    refused_by(&app, "cal", "day", jan_31, 1).await;
    clock.set(at("2030-01-30T23:59:59.999Z"));
    refused_by(&app, "cal", "day", jan_31, 1).await;

    // 00:00:00.000 UTC: a new day, with nothing used; the month goes on.
    clock.set(at(jan_31));
    assert_eq!(requests_used(&app, "cal").await, ((0.0, Some(feb_1.into())), (2.0, Some(feb_1.into()))));
    let day_tokens = |states: &[_]| rule(states, M::Tokens, P::Day, None).used;
    assert_eq!(day_tokens(&quotas(&app, "cal").await), 0.0, "the day's tokens start at zero too");
    app.client.record_usage("cal", None, &usage(40)).await.expect("recorded usage counts in the day");
    let charged = call(&app, "cal").await.ok().expect("the new day's first call");
    assert_eq!(day_tokens(&quotas(&app, "cal").await), (40 + charged) as f64);
    // The month's three requests are spent: the refusal names the month, 1 day away.
    refused_by(&app, "cal", "month", feb_1, 86_400).await;

    // The month's last second, then the 1st: both counters start again.
    clock.set(at("2030-01-31T23:59:59.000Z"));
    refused_by(&app, "cal", "month", feb_1, 1).await;
    clock.set(at(feb_1));
    call(&app, "cal").await.ok().expect("the new month's first call");
    assert_eq!(
        requests_used(&app, "cal").await,
        ((1.0, Some("2030-02-02T00:00:00.000Z".into())), (1.0, Some(mar_1.into())))
    );

    // Nothing zeroed the old counters: they are still in the store, under their own window.
    let id = UserId::parse("userId", "cal").unwrap();
    let old = [
        CounterKey { window: "day:2030-01-30".into(), scope: "*".into() },
        CounterKey { window: "month:2030-01".into(), scope: "*".into() },
    ];
    let kept = app.stores.accounts.counters(&id, &old).await.unwrap();
    assert_eq!((kept[0].used.requests, kept[1].used.requests), (2, 3));
}

#[tokio::test]
async fn resets_at_names_the_next_boundary_for_every_period_and_none_for_total() {
    // The last second of a leap year's February.
    let clock = clock_at("2028-02-29T23:59:59.000Z");
    let app = TestApp::builder().clock(clock.clone()).spawn().await;
    user_with_rules(&app, "leap", 1_000, vec![requests(P::Day, 5), requests(P::Month, 5)]).await;
    let states = quotas(&app, "leap").await;
    let resets = |metric, period| rule(&states, metric, period, None).resets_at.clone();
    assert_eq!(resets(M::Requests, P::Day).as_deref(), Some("2028-03-01T00:00:00.000Z"));
    assert_eq!(resets(M::Requests, P::Month).as_deref(), Some("2028-03-01T00:00:00.000Z"));
    assert_eq!(resets(M::Tokens, P::Total), None, "the lifetime limit never resets");
}
