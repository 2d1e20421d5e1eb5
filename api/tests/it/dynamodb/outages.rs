//! The network between the service and DynamoDB failing: the store stopped, unreachable or
//! hanging, alone or under load. Fail closed: 503 within the store timeout, recovery without a
//! restart, every acknowledged count exactly once. Fail open: see `fail_open`.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use reqwest::Method;
use tokenmeter_api::{domain::Stores, store::DynamoDbStore};

use super::OUTAGE_ANSWER_BOUND;
use crate::{
    dynamodb_local::{self, FlakyProxy, Link, OwnedDynamoDb},
    helpers::{TestApp, eventually},
};

/// An app on a fresh table at `endpoint`, with one user holding `acknowledged` tokens.
async fn app_with_usage(endpoint: &str, acknowledged: u64) -> TestApp {
    let store =
        DynamoDbStore::open(dynamodb_local::sdk_config(endpoint).await, &dynamodb_local::unique_table()).await.unwrap();
    let app = TestApp::builder().on(Stores::of(Arc::new(store)), None).spawn().await;
    app.create_user("steady", 1_000_000).await;
    for expected in 1..=acknowledged {
        assert_eq!(app.record("steady", 1).await.token_usage, expected);
    }
    app
}

/// Records `tokens` and expects 503 `store_unavailable` within [`OUTAGE_ANSWER_BOUND`].
async fn record_during_outage(app: &TestApp, tokens: u64) {
    let started = Instant::now();
    let body = format!(r#"{{"tokensConsumed": {tokens}}}"#);
    let (status, answer) = app.send_raw(Method::POST, "/users/steady/usage", Some(&body)).await;
    assert_eq!((status, answer["error"].as_str()), (503, Some("store_unavailable")), "{answer}");
    assert!(started.elapsed() < OUTAGE_ANSWER_BOUND, "answered after {:?}", started.elapsed());
}

/// Waits (bounded) until the service answers about the user again: it recovers by itself,
/// with no restart and no reconnect call.
async fn wait_for_recovery(app: &TestApp) {
    eventually("the service recovers", Duration::from_secs(30), || async {
        let (status, body) = app.send_raw(Method::GET, "/users/steady", None).await;
        assert!(status == 200 || body["error"] == "store_unavailable", "{status}: {body}");
        status == 200
    })
    .await;
}

/// The store goes down (its container is stopped; the data is kept in a file), usage and
/// reads answer 503 `store_unavailable` at once, and when it is started again the service
/// recovers by itself with every acknowledged count exactly once and none of the refused
/// ones. With `AWS_ENDPOINT_URL_DYNAMODB` set (no container of ours), a proxy in front of
/// that endpoint closes every connection instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_store_answers_503_then_recovers_with_every_count_exactly_once() {
    if !crate::suites::available(crate::suites::Suite::DynamoDb) {
        return;
    }
    enum Outage {
        Container(OwnedDynamoDb),
        Proxy(FlakyProxy),
    }
    let outage = if dynamodb_local::uses_external_endpoint() {
        Outage::Proxy(FlakyProxy::start(&dynamodb_local::shared_endpoint().await).await)
    } else {
        Outage::Container(OwnedDynamoDb::start_durable().await)
    };
    let endpoint = match &outage {
        Outage::Container(c) => c.endpoint.clone(),
        Outage::Proxy(p) => p.endpoint.clone(),
    };
    let app = app_with_usage(&endpoint, 10).await;

    match &outage {
        Outage::Container(c) => c.stop().await,
        Outage::Proxy(p) => p.set(Link::Down),
    }
    for tokens in [100, 1_000] {
        record_during_outage(&app, tokens).await;
    }
    let (status, body) = app.send_raw(Method::GET, "/users", None).await;
    assert_eq!((status, body["error"].as_str()), (503, Some("store_unavailable")), "{body}");

    match &outage {
        Outage::Container(c) => c.restart().await,
        Outage::Proxy(p) => p.set(Link::Up),
    }
    wait_for_recovery(&app).await;
    for expected in 11..=20 {
        assert_eq!(app.record("steady", 1).await.token_usage, expected);
    }
    // A failed condition is an answer, not an outage.
    let (status, body) = app.send_raw(Method::POST, "/users/nobody/usage", Some(r#"{"tokensConsumed": 1}"#)).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("user_not_found")));
    assert_eq!(app.client.get_user("steady").await.unwrap().into_inner().token_usage, 20);
}

/// The store hangs (a proxy in front of it stops passing bytes on): usage and reads answer
/// 503 `store_unavailable` within the timeout budget, and when it answers again the service
/// recovers by itself. A write that timed out may still be applied when the store wakes up
/// (its bytes were already on the way); the test proves no acknowledged count is lost and
/// none is applied twice: records sent during the hang use distinct powers of 4, so whatever
/// subset was applied shows as base-4 digits 0 or 1 at their places, and a double as a 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hanging_store_answers_503_then_recovers_without_losing_or_doubling_counts() {
    if !crate::suites::available(crate::suites::Suite::DynamoDb) {
        return;
    }
    let proxy = FlakyProxy::start(&dynamodb_local::shared_endpoint().await).await;
    let app = app_with_usage(&proxy.endpoint, 10).await;

    proxy.set(Link::Hung);
    let hung_amounts = [1u64 << 8, 1 << 10, 1 << 12];
    for tokens in hung_amounts {
        record_during_outage(&app, tokens).await;
    }
    let (status, body) = app.send_raw(Method::GET, "/users/steady", None).await;
    assert_eq!((status, body["error"].as_str()), (503, Some("store_unavailable")), "{body}");

    proxy.set(Link::Up);
    wait_for_recovery(&app).await;
    for _ in 0..10 {
        app.record("steady", 1).await;
    }
    let acknowledged = 20;
    let usage = app.client.get_user("steady").await.unwrap().into_inner().token_usage;
    assert!(usage >= acknowledged, "acknowledged counts were lost: {usage} < {acknowledged}");
    let extra = usage - acknowledged;
    eprintln!("records that timed out during the hang and were applied afterwards: {extra} tokens");
    let allowed: u64 = hung_amounts.iter().sum();
    let (mut digits, mut place) = (extra, 1u64);
    while digits > 0 {
        assert!(digits % 4 <= 1, "a record was applied twice: extra usage {extra}");
        assert!(digits % 4 == 0 || allowed & place != 0, "extra usage {extra} came from nowhere");
        digits /= 4;
        place *= 4;
    }
}

/// A usage record that timed out may still be applied after its 503 (the request reached
/// DynamoDB); retried with the same `Idempotency-Key` it counts once either way, because the
/// claim is written in the same transaction as the usage.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_record_retried_with_its_idempotency_key_after_a_store_timeout_counts_once() {
    if !crate::suites::available(crate::suites::Suite::DynamoDb) {
        return;
    }
    let proxy = FlakyProxy::start(&dynamodb_local::shared_endpoint().await).await;
    let app = app_with_usage(&proxy.endpoint, 10).await;
    let record = |key: &'static str| {
        app.http
            .post(app.url("/users/steady/usage"))
            .bearer_auth(crate::helpers::ADMIN_KEY)
            .header("idempotency-key", key)
            .json(&serde_json::json!({ "tokensConsumed": 256 }))
            .send()
    };

    proxy.set(Link::Hung);
    for key in ["retry-a", "retry-b"] {
        let answer = record(key).await.unwrap();
        assert_eq!(answer.status(), 503, "{key} times out while the store hangs");
    }
    proxy.set(Link::Up);
    wait_for_recovery(&app).await;
    for key in ["retry-a", "retry-b", "retry-a"] {
        let answer = record(key).await.unwrap();
        assert_eq!(answer.status(), 200, "the retry of {key} is answered");
    }
    let usage = app.client.get_user("steady").await.unwrap().into_inner().token_usage;
    assert_eq!(usage, 10 + 2 * 256, "each record counted exactly once");
    let replayed = record("retry-b").await.unwrap();
    assert_eq!(replayed.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
}

/// DynamoDB Local stopped and started again while 64 clients record: every request is
/// answered 200 or 503 (or 409 while a retry's first attempt is still running), and once the
/// 503s are sent again with their keys, usage is exactly what was acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_stopped_and_restarted_under_64_way_load_counts_every_record_once() {
    if !crate::suites::available(crate::suites::Suite::DynamoDb) {
        return;
    }
    use crate::faults::{CLIENTS, RECORDS_EACH, TOKENS, load, refused_or_dropped};
    let store = OwnedDynamoDb::start_durable().await;
    let config = dynamodb_local::sdk_config(&store.endpoint).await;
    let dynamo = DynamoDbStore::open(config, &dynamodb_local::unique_table()).await.unwrap();
    let app = TestApp::builder().on(Stores::of(Arc::new(dynamo)), None).spawn().await;
    app.create_user("loaded", 1_000_000).await;

    let running = tokio::spawn(load(app.url(""), "loaded"));
    eventually("the load is under way", Duration::from_secs(30), || async {
        app.client.get_user("loaded").await.is_ok_and(|u| u.into_inner().token_usage >= 100 * TOKENS)
    })
    .await;
    store.stop().await;
    // Requests meet the outage while it lasts (each answered 503 within the store timeout).
    eventually("requests meet the outage", Duration::from_secs(10), || async {
        app.send_raw(Method::GET, "/users/loaded", None).await.0 == 503
    })
    .await;
    store.restart().await;
    let attempts = running.await.expect("the load ran");

    let total = (CLIENTS * RECORDS_EACH) as u64 * TOKENS;
    assert_eq!(app.client.get_user("loaded").await.unwrap().into_inner().token_usage, total);
    assert!(refused_or_dropped(&attempts) > 0, "the outage met requests under load");
}
