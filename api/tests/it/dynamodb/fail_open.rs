//! `TOKENMETER_ON_STORE_OUTAGE=fail-open`: with DynamoDB Local stopped, calls of users this
//! instance knows go through within its allowance, their charges wait in the outbox, and when
//! the store is back each is replayed exactly once.

use std::{num::NonZeroU64, sync::Arc};

use tokenmeter_api::{
    domain::{FailOpen, OutagePolicy, Outbox, Stores},
    store::{DynamoDbStore, FileOutbox},
};
use tokenmeter_client::types::InvokeRequest;

use crate::{
    dynamodb_local::{self, OwnedDynamoDb},
    helpers::{TestApp, ask},
};

/// The instance's allowance: a few small calls' worth.
const ALLOWANCE: u64 = 60;

fn small(prompt: &str) -> InvokeRequest {
    InvokeRequest { max_output_tokens: NonZeroU64::new(5), ..ask(prompt) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_open_lets_known_users_call_through_an_outage_and_replays_each_call_once() {
    if !crate::suites::available(crate::suites::Suite::DynamoDb) {
        return;
    }
    let store = OwnedDynamoDb::start_durable().await;
    let config = dynamodb_local::sdk_config(&store.endpoint).await;
    let dynamo = DynamoDbStore::open(config, &dynamodb_local::unique_table()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(FileOutbox::open(&dir.path().join("outbox.redb")).unwrap());
    let policy = OutagePolicy::FailOpen(FailOpen { allowance_tokens: ALLOWANCE, outbox: outbox.clone() });
    let app = TestApp::builder()
        .on(Stores::of(Arc::new(dynamo)), None)
        .settings(|s| s.invoke.on_store_outage = policy)
        .spawn()
        .await;
    app.create_user("known", 1_000).await;
    app.create_user("stranger", 1_000).await;
    let before = app.client.invoke_model("known", None, &small("hello there")).await.unwrap().into_inner();

    store.stop().await;
    // A keyed call goes through; its retry meanwhile is not called again.
    let keyed = app.client.invoke_model("known", Some("outage-1"), &small("remember me")).await;
    let keyed = keyed.expect("a known user's call goes through the outage").into_inner();
    let retried = app.client.invoke_model("known", Some("outage-1"), &small("remember me")).await.unwrap_err();
    assert_eq!(retried.status().map(|s| s.as_u16()), Some(409), "in progress until the store has it");
    // More calls go through until the allowance is spent.
    let mut charged = vec![keyed.tokens_consumed];
    let refused = loop {
        match app.client.invoke_model("known", None, &small("still here?")).await {
            Ok(answer) => charged.push(answer.into_inner().tokens_consumed),
            Err(err) => break err,
        }
        assert!(charged.len() < 50, "the allowance never ran out");
    };
    assert_eq!(refused.status().map(|s| s.as_u16()), Some(503), "past the allowance: {refused:?}");
    let unknown = app.client.invoke_model("stranger", None, &small("hi")).await.unwrap_err();
    assert_eq!(unknown.status().map(|s| s.as_u16()), Some(503), "a user this instance never admitted");
    let waiting = outbox.pending(100).unwrap();
    assert_eq!(waiting.len(), charged.len(), "each call's charge waits in the outbox");
    let metrics = app.services.core.metrics().snapshot();
    assert_eq!(metrics.outage_admissions as usize, charged.len());
    assert!(charged.iter().sum::<u64>() <= ALLOWANCE);

    store.restart().await;
    let replayed = app.services.invocations.replay_outbox().await.expect("the store is back");
    assert_eq!(replayed, charged.len());
    let expected = before.tokens_consumed + charged.iter().sum::<u64>();
    assert_eq!(app.client.get_user("known").await.unwrap().into_inner().token_usage, expected);
    assert!(outbox.pending(100).unwrap().is_empty());
    assert_eq!(app.services.invocations.outage_allowance_in_use(), 0, "the allowance is whole again");
    // The keyed call's retry now finds its answer in the store.
    let again = app.client.invoke_model("known", Some("outage-1"), &small("remember me")).await.unwrap().into_inner();
    assert_eq!((again.response, again.tokens_consumed), (keyed.response, keyed.tokens_consumed));

    // As if the process died after the store took the entries but before they were removed:
    // replayed again, they count once.
    for entry in &waiting {
        outbox.push(entry).unwrap();
    }
    assert_eq!(app.services.invocations.replay_outbox().await.unwrap(), waiting.len());
    assert_eq!(app.client.get_user("known").await.unwrap().into_inner().token_usage, expected);
}
