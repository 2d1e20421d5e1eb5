//! Live usage over server-sent events, through the generated client: the current snapshot
//! first, then every change, from this instance (pushed) and from another instance sharing
//! the store (polled), each well within a second.

use std::time::{Duration, Instant};

use tokenmeter_client::types::{User, UsersChanged};

use crate::{
    helpers::{TestApp, error_of, new_limit},
    sse::SseReader,
};

/// The longest a change may take to reach a subscriber.
const WITHIN: Duration = Duration::from_secs(1);

#[tokio::test]
async fn a_user_stream_answers_every_change_made_through_any_instance() {
    let app = TestApp::spawn().await;
    let other = app.second_instance().await;
    app.create_user("alice", 1000).await;
    let mut events = SseReader::of(app.client.user_events("alice").await.expect("open stream").into_inner());
    let first: User = events.next(WITHIN).await.expect("the current snapshot first");
    assert_eq!((first.token_usage, first.token_limit), (0, 1000));

    let started = Instant::now();
    app.record("alice", 7).await;
    let pushed: User = events.next(WITHIN).await.expect("a change here is pushed");
    assert_eq!((pushed.token_usage, pushed.remaining_tokens), (7, 993));
    assert!(started.elapsed() < WITHIN);

    // Another instance's change is found by polling the store.
    other.record("alice", 5).await;
    let polled: User = events.next(WITHIN).await.expect("a change elsewhere is found");
    assert_eq!(polled.token_usage, 12);
    other.client.update_user_limit("alice", &new_limit(10)).await.unwrap();
    let relimited: User = events.next(WITHIN).await.expect("limit changes too");
    assert_eq!((relimited.token_limit, relimited.remaining_tokens, relimited.percentage_used), (10, 0, 120.0));

    // Deleting the user ends the stream.
    app.client.delete_user("alice").await.unwrap();
    assert_eq!(events.next::<User>(WITHIN).await, None);
}

#[tokio::test]
async fn the_list_stream_answers_users_created_and_spent_on_any_instance() {
    let app = TestApp::spawn().await;
    let other = app.second_instance().await;
    app.create_user("alice", 1000).await;
    let mut events = SseReader::of(app.client.users_events().await.expect("open stream").into_inner());
    let first: UsersChanged = events.next(WITHIN).await.unwrap();
    assert!(first.full);
    assert_eq!(first.users.iter().map(|u| u.user_id.as_str()).collect::<Vec<_>>(), ["alice"]);

    // Another instance's change is found by the next poll; only what changed is sent.
    other.create_user("bob", 50).await;
    let created: UsersChanged = events.next(Duration::from_secs(2)).await.unwrap();
    assert!(!created.full);
    assert_eq!(created.users.iter().map(|u| u.user_id.as_str()).collect::<Vec<_>>(), ["bob"]);
    // A change made here is pushed at once.
    let started = Instant::now();
    app.record("bob", 50).await;
    let spent: UsersChanged = events.next(WITHIN).await.unwrap();
    assert_eq!((spent.users.len(), spent.users[0].percentage_used), (1, 100.0));
    assert!(started.elapsed() < WITHIN);
    app.client.delete_user("alice").await.unwrap();
    let deleted: UsersChanged = events.next(WITHIN).await.unwrap();
    assert_eq!((deleted.users.len(), deleted.deleted.as_slice()), (0, ["alice".to_owned()].as_slice()));
}

#[tokio::test]
async fn streams_refuse_what_the_key_may_not_see_before_they_start() {
    let app = TestApp::spawn().await;
    app.create_user("alice", 10).await;
    app.create_user("bob", 10).await;
    let alice = app.client_with(&app.user_key("alice").await);
    let (status, err) = error_of(alice.user_events("bob").await.map(|_| ()));
    assert_eq!((status, err.error.as_str()), (404, "user_not_found"));
    assert_eq!(error_of(alice.users_events().await.map(|_| ())).0, 403);
    assert_eq!(error_of(app.client.user_events("nobody").await.map(|_| ())).1.error, "user_not_found");
    let (status, err) = error_of(app.client.user_events("not an id").await.map(|_| ()));
    assert_eq!((status, err.details.and_then(|d| d.field).as_deref()), (400, Some("userId")));
    // Her own stream opens.
    let mut own = SseReader::of(alice.user_events("alice").await.unwrap().into_inner());
    assert_eq!(own.next::<User>(WITHIN).await.unwrap().user_id, "alice");
}

#[tokio::test]
async fn revoking_the_key_ends_its_open_streams() {
    let app = TestApp::spawn().await;
    app.create_user("alice", 10).await;
    let key = app.user_key("alice").await;
    let mut events = SseReader::of(app.client_with(&key).user_events("alice").await.unwrap().into_inner());
    assert_eq!(events.next::<User>(WITHIN).await.unwrap().user_id, "alice");
    let key_id = key.split('_').nth(1).unwrap();
    app.second_instance().await.client.revoke_key(key_id).await.unwrap();
    assert_eq!(events.next::<User>(WITHIN).await, None, "the stream ends within a poll");
}
