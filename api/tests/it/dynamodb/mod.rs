//! What only the DynamoDB store has: a table that is created when missing, a Scan that spans
//! several pages, and a network between the service and its data that can fail (`outages`,
//! `fail_open`).

mod fail_open;
mod outages;

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use aws_sdk_dynamodb::types::AttributeValue;
use tokenmeter_api::{
    domain::{
        AccountStore, Amounts, Ceiling, EventId, EventKind, KeyStore, Money, Recording, StoreError, Timestamp,
        TokenLimit, TokenUsage, UsageEvent, User, UserChange, UserId,
    },
    store::DynamoDbStore,
};

use crate::dynamodb_local::{self};

/// The longest an operation on an unreachable store may take to answer (3 s budget + slack).
const OUTAGE_ANSWER_BOUND: Duration = Duration::from_millis(4_500);

fn id(raw: &str) -> UserId {
    UserId::parse("userId", raw).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_creates_a_missing_table_and_reopening_keeps_its_data() {
    if !crate::suites::available(crate::suites::Suite::DynamoDb) {
        return;
    }
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
    if !crate::suites::available(crate::suites::Suite::DynamoDb) {
        return;
    }
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
    if !crate::suites::available(crate::suites::Suite::DynamoDb) {
        return;
    }
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
    if !crate::suites::available(crate::suites::Suite::DynamoDb) {
        return;
    }
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
