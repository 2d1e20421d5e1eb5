//! Live usage over server-sent events, through the generated client: the current snapshot
//! first, then every change, from this instance (pushed) and from another instance sharing
//! the store (polled), each well within a second.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures::StreamExt;
use tokenmeter_api::domain::{
    Hold, Money, StoreError, Timestamp, TokenCount, TokenLimit, User as DomainUser, UserId, UserStore, live::POLL_EVERY,
};
use tokenmeter_client::{
    ByteStream,
    types::{UpdateLimitRequest, User, UserList},
};

use crate::helpers::{AppOptions, error_of, fresh_store, spawn_app, spawn_app_on};

/// The longest a change may take to reach a subscriber.
const WITHIN: Duration = Duration::from_secs(1);

/// Reads JSON events off a server-sent-events body.
struct Events {
    body: ByteStream,
    buffer: String,
}

impl Events {
    fn new(body: ByteStream) -> Self {
        Self { body, buffer: String::new() }
    }

    /// The next event's JSON, or `None` when the stream ended; fails after `within`.
    async fn next<T: serde::de::DeserializeOwned>(&mut self, within: Duration) -> Option<T> {
        tokio::time::timeout(within, async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let event: String = self.buffer.drain(..end + 2).collect();
                    let data: Vec<&str> = event.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
                    if !data.is_empty() {
                        return Some(serde_json::from_str(&data.join("\n")).expect("event data is JSON"));
                    }
                    continue;
                }
                match self.body.next().await {
                    Some(chunk) => self.buffer.push_str(std::str::from_utf8(&chunk.expect("stream chunk")).unwrap()),
                    None => return None,
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no event within {within:?}"))
    }
}

#[tokio::test]
async fn a_user_stream_answers_every_change_made_through_any_instance() {
    let app = spawn_app().await;
    let other = app.second_instance().await;
    app.create_user("alice", 1000).await;
    let mut events = Events::new(app.client.user_events("alice").await.expect("open stream").into_inner());
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
    other.client.update_user_limit("alice", &UpdateLimitRequest { new_limit: 10 }).await.unwrap();
    let relimited: User = events.next(WITHIN).await.expect("limit changes too");
    assert_eq!((relimited.token_limit, relimited.remaining_tokens, relimited.percentage_used), (10, 0, 120.0));

    // Deleting the user ends the stream.
    app.client.delete_user("alice").await.unwrap();
    assert_eq!(events.next::<User>(WITHIN).await, None);
}

#[tokio::test]
async fn the_list_stream_answers_users_created_and_spent_on_any_instance() {
    let app = spawn_app().await;
    let other = app.second_instance().await;
    app.create_user("alice", 1000).await;
    let mut events = Events::new(app.client.users_events().await.expect("open stream").into_inner());
    let first: UserList = events.next(WITHIN).await.unwrap();
    assert_eq!(first.users.iter().map(|u| u.user_id.as_str()).collect::<Vec<_>>(), ["alice"]);

    other.create_user("bob", 50).await;
    let created: UserList = events.next(WITHIN).await.unwrap();
    assert_eq!(created.users.iter().map(|u| u.user_id.as_str()).collect::<Vec<_>>(), ["alice", "bob"]);
    app.record("bob", 50).await;
    let spent: UserList = events.next(WITHIN).await.unwrap();
    assert_eq!(spent.users[1].percentage_used, 100.0);
}

#[tokio::test]
async fn streams_refuse_what_the_key_may_not_see_before_they_start() {
    let app = spawn_app().await;
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
    let mut own = Events::new(alice.user_events("alice").await.unwrap().into_inner());
    assert_eq!(own.next::<User>(WITHIN).await.unwrap().user_id, "alice");
}

#[tokio::test]
async fn revoking_the_key_ends_its_open_streams() {
    let app = spawn_app().await;
    app.create_user("alice", 10).await;
    let key = app.user_key("alice").await;
    let mut events = Events::new(app.client_with(&key).user_events("alice").await.unwrap().into_inner());
    assert_eq!(events.next::<User>(WITHIN).await.unwrap().user_id, "alice");
    let key_id = key.split('_').nth(1).unwrap();
    app.second_instance().await.client.revoke_key(key_id).await.unwrap();
    assert_eq!(events.next::<User>(WITHIN).await, None, "the stream ends within a poll");
}

#[tokio::test]
async fn every_stream_of_one_user_shares_one_read_per_poll() {
    const STREAMS: usize = 20;
    const POLLS: u32 = 5;
    let (users, keys, data) = fresh_store().await;
    let counted = Arc::new(CountingStore { inner: users, reads: AtomicU64::new(0) });
    let app = spawn_app_on(counted.clone(), keys, data, AppOptions::default()).await;
    app.create_user("popular", 1000).await;
    let mut streams = Vec::new();
    for _ in 0..STREAMS {
        let mut events = Events::new(app.client.user_events("popular").await.unwrap().into_inner());
        assert_eq!(events.next::<User>(WITHIN).await.unwrap().token_usage, 0);
        streams.push(events);
    }

    let before = counted.reads.load(Ordering::SeqCst);
    tokio::time::sleep(POLL_EVERY * POLLS).await;
    let reads = counted.reads.load(Ordering::SeqCst) - before;
    // One feed for all of them: about a read per poll (ticks at the window's edges can add a
    // couple), where a read per stream would be STREAMS per poll.
    assert!(reads <= u64::from(2 * POLLS), "{reads} reads in {POLLS} polls of {STREAMS} streams");

    app.record("popular", 3).await;
    for events in &mut streams {
        assert_eq!(events.next::<User>(WITHIN).await.unwrap().token_usage, 3, "every stream sees the change");
    }
}

/// A user store that counts the reads live views make (`get` and `list`).
struct CountingStore {
    inner: Arc<dyn UserStore>,
    reads: AtomicU64,
}

#[async_trait::async_trait]
impl UserStore for CountingStore {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    async fn insert(&self, user: &DomainUser) -> Result<(), StoreError> {
        self.inner.insert(user).await
    }
    async fn get(&self, id: &UserId) -> Result<Option<DomainUser>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.get(id).await
    }
    async fn list(&self) -> Result<Vec<DomainUser>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.list().await
    }
    async fn set_limit(&self, id: &UserId, limit: TokenLimit, at: Timestamp) -> Result<DomainUser, StoreError> {
        self.inner.set_limit(id, limit, at).await
    }
    async fn add_usage(
        &self,
        id: &UserId,
        tokens: TokenCount,
        cost: Money,
        at: Timestamp,
    ) -> Result<DomainUser, StoreError> {
        self.inner.add_usage(id, tokens, cost, at).await
    }
    async fn delete(&self, id: &UserId) -> Result<(), StoreError> {
        self.inner.delete(id).await
    }
    async fn reserve(&self, id: &UserId, hold: &Hold) -> Result<DomainUser, StoreError> {
        self.inner.reserve(id, hold).await
    }
    async fn settle(
        &self,
        id: &UserId,
        hold: &Hold,
        tokens: u64,
        cost: Money,
        at: Timestamp,
    ) -> Result<DomainUser, StoreError> {
        self.inner.settle(id, hold, tokens, cost, at).await
    }
    async fn release(&self, id: &UserId, hold: &Hold) -> Result<DomainUser, StoreError> {
        self.inner.release(id, hold).await
    }
    async fn expired_holds(&self, now: Timestamp) -> Result<Vec<(UserId, Hold)>, StoreError> {
        self.inner.expired_holds(now).await
    }
}
