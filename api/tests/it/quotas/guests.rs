//! Guests through the HTTP API, with guests on: `POST /guests` answers a key for `guest-<id>`
//! on the `guest` tier; the guest chats until its 50 requests a day are spent (429 naming that
//! rule); `POST /users` with `fromGuest` moves its usage, cost and period counters into a real
//! user and revokes the guest's key; guest creation is limited per client address (the
//! connection's, not a header the client could set).

use std::net::{IpAddr, Ipv4Addr};

use tokenmeter_client::{
    Client,
    types::{CreateUserRequest, MetricName as M, NewGuestBody, PeriodName as P},
};

use super::{clock_at, nanos, nothing_held, quotas, rule};
use crate::helpers::{TestApp, ask, error_of, new_user};

/// The guest tier's daily requests.
const GUEST_REQUESTS: usize = 50;

async fn guests_on(per_address: u32) -> TestApp {
    TestApp::builder()
        .clock(clock_at("2030-01-30T12:00:00.000Z"))
        .settings(|s| {
            s.guests.enabled = true;
            s.guests.per_address = per_address;
        })
        .spawn()
        .await
}

#[tokio::test]
async fn a_guest_chats_to_its_daily_limit_and_becomes_a_user_with_its_counters() {
    let app = guests_on(5).await;
    let NewGuestBody { user, api_key } = app.anonymous().create_guest().await.expect("a guest").into_inner();
    let guest = user.user_id;
    assert!(guest.starts_with("guest-") && guest.len() > "guest-".len(), "{guest}");
    assert_eq!((user.tier.as_deref(), api_key.user_id.as_deref()), (Some("guest"), Some(guest.as_str())));
    let as_guest = app.client_with(&api_key.api_key);

    // The guest reads its own quotas: the lifetime limit and the tier's 50 requests a day.
    let mine = as_guest.get_user_quotas(&guest).await.expect("its own quotas").into_inner();
    assert_eq!(mine.tier.as_deref(), Some("guest"));
    let daily = rule(&mine.quotas, M::Requests, P::Day, None);
    assert_eq!((daily.limit, daily.used, daily.source.as_str()), (50.0, 0.0, "tier"));

    let (mut tokens, mut cost) = (0, 0);
    for i in 0..GUEST_REQUESTS {
        let answer = as_guest.invoke_model(&guest, None, &ask(&format!("question {i}"))).await.expect("a call");
        tokens += answer.tokens_consumed;
        cost += nanos(answer.cost.total_cost);
    }
    let (status, refused) = error_of(as_guest.invoke_model(&guest, None, &ask("one more")).await);
    assert_eq!((status, refused.error.as_str()), (429, "quota_exceeded"), "{}", refused.message);
    let details = refused.details.expect("details");
    let quota = details.quota.expect("the rule");
    assert_eq!((quota.metric.as_str(), quota.period.as_str(), quota.source.as_str()), ("requests", "day", "tier"));
    assert_eq!((quota.limit, quota.used, quota.remaining), (50.0, 50.0, 0.0));
    assert_eq!(quota.resets_at.as_deref(), Some("2030-01-31T00:00:00.000Z"));
    assert_eq!(details.retry_after_seconds, Some(43_200));

    // An administrator turns the guest into `gina` on the free tier.
    let request = CreateUserRequest {
        tier: Some("free".into()),
        from_guest: Some(api_key.api_key.clone()),
        ..new_user("gina", 200_000)
    };
    let gina = app.client.create_user(None, &request).await.expect("the guest becomes gina").into_inner().user;
    assert_eq!((gina.token_usage, nanos(gina.total_cost), gina.request_count), (tokens, cost, 50));
    // The guest's day counter (every metric) is gina's now. (Its tier counted nothing by the
    // month, so gina's month starts here.)
    let states = quotas(&app, "gina").await;
    assert_eq!(rule(&states, M::Requests, P::Day, None).used, 50.0);
    assert_eq!(rule(&states, M::Tokens, P::Day, None).used, tokens as f64);
    assert_eq!(nanos(rule(&states, M::Cost, P::Day, None).used), cost);
    nothing_held(&app, "gina").await;
    // The guest is gone, and so is its key.
    let (status, _) = error_of(app.client.get_user(&guest).await);
    assert_eq!(status, 404);
    let (status, body) = error_of(as_guest.who_am_i().await);
    assert_eq!((status, body.error.as_str()), (401, "invalid_api_key"));
    // Gina's calls go on counting from the guest's.
    app.client.invoke_model("gina", None, &ask("hello again")).await.expect("gina's call");
    assert_eq!(rule(&quotas(&app, "gina").await, M::Requests, P::Day, None).used, 51.0);
    // The same key cannot be migrated twice.
    let again = CreateUserRequest { from_guest: Some(api_key.api_key), ..new_user("gina2", 1_000) };
    let (status, body) = error_of(app.client.create_user(None, &again).await);
    assert_eq!((status, body.error.as_str()), (404, "guest_not_found"), "{}", body.message);
}

/// The generated client over connections from `address` (any 127.x.y.z is this machine).
fn client_from(app: &TestApp, address: Ipv4Addr) -> Client {
    let http = reqwest::Client::builder().local_address(IpAddr::V4(address)).build().unwrap();
    Client::new_with_client(&app.url(""), http)
}

#[tokio::test]
async fn guest_creation_is_limited_per_client_address() {
    let app = guests_on(3).await;
    let here = client_from(&app, Ipv4Addr::new(127, 0, 0, 1));
    for _ in 0..3 {
        here.create_guest().await.expect("within the address's allowance");
    }
    let answer = here.create_guest().await.expect_err("past the allowance");
    let tokenmeter_client::Error::ErrorResponse(refused) = answer else { panic!("{answer:?}") };
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((3_590..=3_600).contains(&retry_after), "Retry-After {retry_after} s: the hour's window");
    let body = refused.into_inner();
    assert_eq!(body.error, "guest_rate_limited");
    assert_eq!(body.details.and_then(|d| d.retry_after_seconds), Some(retry_after));

    // A header naming another address changes nothing: the connection's address counts.
    let spoofed = app
        .http
        .post(app.url("/guests"))
        .header("x-forwarded-for", "203.0.113.7")
        .header("forwarded", "for=203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_eq!(spoofed.status(), 429);
    // Another address has an allowance of its own.
    client_from(&app, Ipv4Addr::new(127, 0, 0, 2)).create_guest().await.expect("another address");
}

#[tokio::test]
async fn with_guests_off_there_are_none() {
    let app = TestApp::spawn().await;
    let (status, body) = error_of(app.anonymous().create_guest().await);
    assert_eq!((status, body.error.as_str()), (404, "guests_disabled"), "{}", body.message);
}
