//! What only the DynamoDB store has: a table that is created when missing, a Scan that spans
//! several pages, and a network between the service and its data that can fail.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use aws_sdk_dynamodb::types::AttributeValue;
use reqwest::Method;
use tokenmeter_api::{
    domain::{
        AccountStore, Amounts, Ceiling, EventId, EventKind, KeyStore, Money, Recording, StoreError, Stores, Timestamp,
        TokenLimit, TokenUsage, UsageEvent, User, UserChange, UserId,
    },
    store::DynamoDbStore,
};

use crate::{
    dynamodb_local::{self, FlakyProxy, Link, OwnedDynamoDb},
    helpers::{TestApp, eventually},
};

/// The longest an operation on an unreachable store may take to answer (3 s budget + slack).
const OUTAGE_ANSWER_BOUND: Duration = Duration::from_millis(4_500);

fn id(raw: &str) -> UserId {
    UserId::parse("userId", raw).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_creates_a_missing_table_and_reopening_keeps_its_data() {
    let endpoint = dynamodb_local::shared_endpoint().await;
    let table = dynamodb_local::unique_table();
    let first = DynamoDbStore::open(dynamodb_local::sdk_config(&endpoint).await, &table).await.unwrap();
    let raw = aws_sdk_dynamodb::Client::from_conf(dynamodb_local::sdk_config(&endpoint).await);
    let described = raw.describe_table().table_name(&table).send().await.unwrap();
    let description = described.table().unwrap();
    let key: Vec<_> = description.key_schema().iter().map(|k| (k.attribute_name(), k.key_type().as_str())).collect();
    assert_eq!(key, [("userId", "HASH")]);
    let billing = description.billing_mode_summary().and_then(|b| b.billing_mode()).map(|m| m.as_str());
    assert_eq!(billing, Some("PAY_PER_REQUEST"));

    let user = User::new(id("kept"), TokenLimit::new("tokenLimit", 10).unwrap(), Timestamp::from_millis(1));
    first.insert_user(&user, None).await.unwrap();
    let again = DynamoDbStore::open(dynamodb_local::sdk_config(&endpoint).await, &table).await.unwrap();
    assert_eq!(again.user(&user.id).await.unwrap(), Some(user));
}

fn record_of(user: &UserId, tokens: u64, cost: u64, at: Timestamp) -> Recording {
    Recording {
        user: user.clone(),
        amounts: Amounts { tokens, requests: 0, cost: Money::from_nanos(cost) },
        account: Ceiling::default(),
        counters: Vec::new(),
        event: UsageEvent {
            id: EventId::generate(at),
            at,
            user: user.clone(),
            model: "unspecified".into(),
            kind: EventKind::Record,
            outcome: None,
            usage: TokenUsage { input: tokens, ..TokenUsage::default() },
            cost: Money::from_nanos(cost),
            latency_ms: 0,
            time_to_first_token_ms: None,
            blocked_by: None,
            expires_at: at.plus(Duration::from_secs(86_400)),
        },
        idempotency: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_are_stored_in_the_documented_schema() {
    let store = dynamodb_local::fresh_store().await;
    let user = User::new(id("schema"), TokenLimit::new("tokenLimit", 1000).unwrap(), Timestamp::from_millis(0))
        .with_usage(Amounts { tokens: 3, ..Amounts::ZERO });
    store.insert_user(&user, None).await.unwrap();
    let at = Timestamp::from_millis(1_768_825_097_123);
    store.record(&record_of(&user.id, 4, 486_000, at)).await.unwrap();
    store.update_user(&user.id, &UserChange::Limit(TokenLimit::new("tokenLimit", 900).unwrap()), at).await.unwrap();

    let raw =
        aws_sdk_dynamodb::Client::from_conf(dynamodb_local::sdk_config(&dynamodb_local::shared_endpoint().await).await);
    let item = raw
        .get_item()
        .table_name(store.table())
        .key("userId", AttributeValue::S("schema".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let n = |v: &str| AttributeValue::N(v.into());
    let expected = HashMap::from([
        ("userId".to_owned(), AttributeValue::S("schema".into())),
        ("tokenLimit".to_owned(), n("900")),
        ("tokenUsage".to_owned(), n("7")),
        ("requestCount".to_owned(), n("0")),
        ("totalCost".to_owned(), n("486000")),
        // No call in flight: committed is what was used.
        ("committedTokens".to_owned(), n("7")),
        ("committedRequests".to_owned(), n("0")),
        ("committedCost".to_owned(), n("486000")),
        ("lastUpdated".to_owned(), AttributeValue::S("2026-01-19T12:18:17.123Z".into())),
        ("createdAt".to_owned(), AttributeValue::S("1970-01-01T00:00:00.000Z".into())),
        ("rulesVersion".to_owned(), n("1")),
        ("keysIssued".to_owned(), n("0")),
        ("holds".to_owned(), AttributeValue::M(HashMap::new())),
    ]);
    assert_eq!(item, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_follows_the_scan_past_one_megabyte_page() {
    const PADDED: usize = 12;
    let store = dynamodb_local::fresh_store().await;
    let raw =
        aws_sdk_dynamodb::Client::from_conf(dynamodb_local::sdk_config(&dynamodb_local::shared_endpoint().await).await);
    // 12 items of ~100 KB: 1.2 MB, more than one Scan page (1 MB) holds. Attributes the
    // store does not know are ignored.
    let padding = AttributeValue::S("p".repeat(100 * 1024));
    for i in 0..PADDED {
        raw.put_item()
            .table_name(store.table())
            .item("userId", AttributeValue::S(format!("padded-{i:02}")))
            .item("tokenLimit", AttributeValue::N("100".into()))
            .item("tokenUsage", AttributeValue::N(i.to_string()))
            .item("totalCost", AttributeValue::N("0".into()))
            .item("lastUpdated", AttributeValue::S("2026-01-19T12:18:17.123Z".into()))
            .item("padding", padding.clone())
            .send()
            .await
            .unwrap();
    }
    store
        .insert_user(
            &User::new(id("a-first"), TokenLimit::new("tokenLimit", 1).unwrap(), Timestamp::from_millis(0)),
            None,
        )
        .await
        .unwrap();
    let first_page = raw.scan().table_name(store.table()).consistent_read(true).send().await.unwrap();
    assert!(first_page.last_evaluated_key().is_some(), "the table must span more than one Scan page");
    assert!(first_page.items().len() < PADDED + 1);

    let listed = store.users().await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|u| u.id.as_str()).collect();
    let mut expected = vec!["a-first".to_owned()];
    expected.extend((0..PADDED).map(|i| format!("padded-{i:02}")));
    assert_eq!(ids, expected);
    assert_eq!(listed.last().unwrap().token_usage(), PADDED as u64 - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_is_unavailable_quickly_on_every_operation() {
    // A port that was just free: connections are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let config = dynamodb_local::sdk_config(&endpoint).await;

    let started = Instant::now();
    assert!(matches!(DynamoDbStore::open(config.clone(), "tokenmeter").await, Err(StoreError::Unavailable(_))));
    assert!(started.elapsed() < OUTAGE_ANSWER_BOUND, "open took {:?}", started.elapsed());

    let store = DynamoDbStore::connect(config, "tokenmeter");
    let ghost = id("ghost");
    let limit = TokenLimit::new("tokenLimit", 5).unwrap();
    let now = Timestamp::from_millis(0);
    let answers: Vec<(&str, Result<(), StoreError>)> = vec![
        ("insert", store.insert_user(&User::new(ghost.clone(), limit, now), None).await),
        ("get", store.user(&ghost).await.map(drop)),
        ("list", store.users().await.map(drop)),
        ("set_limit", store.update_user(&ghost, &UserChange::Limit(limit), now).await.map(drop)),
        ("record", store.record(&record_of(&ghost, 1, 0, now)).await.map(drop)),
        ("delete", store.delete_user(&ghost, now).await),
        ("keys", store.keys().await.map(drop)),
    ];
    for (operation, answer) in answers {
        assert!(
            matches!(&answer, Err(StoreError::Unavailable(why)) if why.contains("DynamoDB")),
            "{operation}: {answer:?}"
        );
    }
    assert!(started.elapsed() < OUTAGE_ANSWER_BOUND * 7, "took {:?}", started.elapsed());
}

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
