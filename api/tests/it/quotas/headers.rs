//! `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers): each a Structured
//! Fields list of one item, the tightest rule's name as a String with its parameters —
//! `"day-requests";q=10;w=86400;qu="requests"` and `"day-requests";r=9;t=21600` — where `q` is
//! the quota, `w` the window and `t` the seconds until it resets (both absent for `total`), `r`
//! what is left after the call, and `qu` the unit (`requests`, `tokens`, or `usd-micros`).

use reqwest::header::HeaderMap;
use serde_json::json;
use tokenmeter_client::types::PeriodName as P;

use super::{clock_at, cost, requests, tokens, user_with_rules};
use crate::{
    helpers::{ADMIN_KEY, TestApp, ask},
    sse::SseReader,
};

/// Half a second past 18:00 UTC on 30 January 2030: 21,599.5 s before the day ends, which `t`
/// rounds up to 21,600 (a client waiting `t` seconds must find the quota reset).
const SIX_PM: &str = "2030-01-30T18:00:00.500Z";

fn rate_limit(headers: &HeaderMap) -> (String, String) {
    let text = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    (text("ratelimit-policy").expect("a RateLimit-Policy header"), text("ratelimit").expect("a RateLimit header"))
}

/// The headers of a one-shot call as `user` (and its `X-Tokens-Remaining`).
async fn one_shot(app: &TestApp, user: &str) -> ((String, String), u64) {
    let answer = app.client.invoke_model(user, None, &ask("hello there world")).await.expect("the call");
    (rate_limit(answer.headers()), answer.remaining_tokens)
}

async fn app_at_six_pm() -> TestApp {
    TestApp::builder().clock(clock_at(SIX_PM)).spawn().await
}

#[tokio::test]
async fn a_daily_request_quota_is_named_with_its_window_and_the_requests_left() {
    let app = app_at_six_pm().await;
    user_with_rules(&app, "req", 1_000_000, vec![requests(P::Day, 10)]).await;

    let (headers, _) = one_shot(&app, "req").await;
    assert_eq!(
        headers,
        (r#""day-requests";q=10;w=86400;qu="requests""#.into(), r#""day-requests";r=9;t=21600"#.into())
    );
    // A stream's headers go out while it runs: its own request already counts.
    let answer = app
        .http
        .post(app.url("/invoke/req/stream"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({ "prompt": "hello" }))
        .send()
        .await
        .unwrap();
    assert_eq!(rate_limit(answer.headers()).1, r#""day-requests";r=8;t=21600"#);
    SseReader::of_response(answer).all(std::time::Duration::from_secs(10)).await;
}

#[tokio::test]
async fn a_token_quota_on_one_model_says_what_is_left_after_the_call() {
    let app = app_at_six_pm().await;
    user_with_rules(&app, "tok", 1_000_000, vec![tokens(P::Day, 1_000, Some("sonnet"))]).await;

    // The echo model: 3 words + 1 in, 4 out; the call's hold was much larger (its output cap).
    let (headers, _) = one_shot(&app, "tok").await;
    assert_eq!(
        headers,
        (r#""day-tokens-sonnet";q=1000;w=86400;qu="tokens""#.into(), r#""day-tokens-sonnet";r=992;t=21600"#.into())
    );
}

#[tokio::test]
async fn the_lifetime_limit_has_no_window_and_agrees_with_x_tokens_remaining() {
    let app = app_at_six_pm().await;
    app.create_user("life", 100).await;

    let (headers, remaining) = one_shot(&app, "life").await;
    assert_eq!(remaining, 92);
    assert_eq!(headers, (r#""total-tokens";q=100;qu="tokens""#.into(), r#""total-tokens";r=92"#.into()));
}

#[tokio::test]
async fn a_monthly_cost_quota_counts_in_micro_dollars_over_the_month() {
    let app = app_at_six_pm().await;
    user_with_rules(&app, "cash", 1_000_000, vec![cost(P::Month, 0.001), requests(P::Day, 1_000)]).await;

    // 4 tokens in at $3 and 4 out at $15 per million: $0.000072 of $0.001 (January: 31 days).
    let (headers, _) = one_shot(&app, "cash").await;
    assert_eq!(
        headers,
        (r#""month-cost";q=1000;w=2678400;qu="usd-micros""#.into(), r#""month-cost";r=928;t=108000"#.into())
    );
}
