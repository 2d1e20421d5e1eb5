//! Live views share reads: a store that counts them, and time that stands still.
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use futures::StreamExt;

use super::*;
use crate::domain::{
    AccountStore, ApiKey, CoreParts, Counter, CounterKey, EventQuery, EventStore, Hold, HoldId, IdempotencyClaim,
    IdempotencyRecord, KeyId, KeyStore, ManualClock, PriceList, Recording, Release, Reservation, Rollup, Settlement,
    StoreError, Timestamp, TokenLimit, UsageEvent, UserChange,
};

/// A store holding one user that counts how often it is read; live views do nothing else.
struct CountingReads {
    user: User,
    reads: AtomicU64,
}

const ONLY_READS: &str = "live views only read users";

#[async_trait]
impl AccountStore for CountingReads {
    fn kind(&self) -> &'static str {
        "counting"
    }
    async fn user(&self, _: &UserId) -> Result<Option<User>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        Ok(Some(self.user.clone()))
    }
    async fn users(&self) -> Result<Vec<User>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        Ok(vec![self.user.clone()])
    }
    async fn insert_user(
        &self,
        _: &User,
        _: Option<(&IdempotencyClaim, &serde_json::Value)>,
    ) -> Result<(), StoreError> {
        unreachable!("{ONLY_READS}")
    }
    async fn update_user(&self, _: &UserId, _: &UserChange, _: Timestamp) -> Result<User, StoreError> {
        unreachable!("{ONLY_READS}")
    }
    async fn delete_user(&self, _: &UserId, _: Timestamp) -> Result<(), StoreError> {
        unreachable!("{ONLY_READS}")
    }
    async fn counters(&self, _: &UserId, _: &[CounterKey]) -> Result<Vec<Counter>, StoreError> {
        unreachable!("{ONLY_READS}")
    }
    async fn reserve(&self, _: &Reservation) -> Result<User, StoreError> {
        unreachable!("{ONLY_READS}")
    }
    async fn settle(&self, _: &Settlement) -> Result<User, StoreError> {
        unreachable!("{ONLY_READS}")
    }
    async fn release(&self, _: &Release) -> Result<Option<User>, StoreError> {
        unreachable!("{ONLY_READS}")
    }
    async fn renew(&self, _: &UserId, _: &HoldId, _: Timestamp) -> Result<(), StoreError> {
        unreachable!("{ONLY_READS}")
    }
    async fn expired_holds(&self, _: Timestamp) -> Result<Vec<(UserId, Hold)>, StoreError> {
        unreachable!("{ONLY_READS}")
    }
    async fn record(&self, _: &Recording) -> Result<User, StoreError> {
        unreachable!("{ONLY_READS}")
    }
    async fn idempotency(&self, _: &str, _: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        unreachable!("{ONLY_READS}")
    }
    async fn complete_idempotency(&self, _: &IdempotencyClaim, _: &serde_json::Value) -> Result<(), StoreError> {
        unreachable!("{ONLY_READS}")
    }
    async fn migrate_guest(&self, _: &UserId, _: &User) -> Result<User, StoreError> {
        unreachable!("{ONLY_READS}")
    }
    async fn idle_guests(&self, _: Timestamp) -> Result<Vec<UserId>, StoreError> {
        unreachable!("{ONLY_READS}")
    }
}

#[async_trait]
impl EventStore for CountingReads {
    async fn put_event(&self, _: &UsageEvent) -> Result<(), StoreError> {
        unreachable!("{ONLY_READS}")
    }
    async fn events(&self, _: &EventQuery) -> Result<Vec<UsageEvent>, StoreError> {
        unreachable!("{ONLY_READS}")
    }
    async fn rollups(&self, _: Timestamp, _: Timestamp, _: Option<&UserId>) -> Result<Vec<Rollup>, StoreError> {
        unreachable!("{ONLY_READS}")
    }
}

#[async_trait]
impl KeyStore for CountingReads {
    async fn insert_key(&self, _: &ApiKey) -> Result<(), StoreError> {
        unreachable!("{ONLY_READS}")
    }
    async fn key(&self, _: &KeyId) -> Result<Option<ApiKey>, StoreError> {
        unreachable!("the start-up admin key is never read")
    }
    async fn keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        unreachable!("{ONLY_READS}")
    }
    async fn revoke_key(&self, _: &KeyId, _: Timestamp) -> Result<ApiKey, StoreError> {
        unreachable!("{ONLY_READS}")
    }
}

/// Twenty streams of one user share one feed: one store read per poll, not twenty. Time
/// is paused, so the polls are counted exactly.
#[tokio::test(start_paused = true)]
async fn every_stream_of_one_user_shares_one_read_per_poll() {
    const STREAMS: usize = 20;
    const POLLS: u32 = 5;
    let id = UserId::parse("userId", "popular").unwrap();
    let user = User::new(id.clone(), TokenLimit::new("tokenLimit", 1_000).unwrap(), Timestamp::from_millis(0));
    let store = Arc::new(CountingReads { user: user.clone(), reads: AtomicU64::new(0) });
    let core = Core::new(CoreParts {
        clock: Arc::new(ManualClock::at(Timestamp::from_millis(0))),
        accounts: store.clone(),
        events: store.clone(),
        prices: PriceList::from_json(
            r#"{"models": [{"id": "m", "family": "f", "name": "M", "perMillion": {"input": 1, "output": 1}}]}"#,
        )
        .unwrap(),
        default_model: "m".into(),
        retention: Duration::from_secs(86_400),
    });
    let keys = Keys::new(store.clone(), None, Arc::new(ManualClock::at(Timestamp::from_millis(0))));
    let live = Live::new(core, keys);
    let admin = Principal::Admin { key: None };
    let mut streams: Vec<_> = (0..STREAMS).map(|_| Box::pin(live.user(&admin, user.clone()))).collect();
    for stream in &mut streams {
        assert_eq!(stream.next().await.map(|u| u.id), Some(id.clone()), "the current snapshot first");
    }
    let before = store.reads.load(Ordering::SeqCst);
    tokio::time::sleep(POLL_EVERY * POLLS + POLL_EVERY / 2).await;
    let reads = store.reads.load(Ordering::SeqCst) - before;
    assert_eq!(reads, u64::from(POLLS), "{STREAMS} streams cost one read per poll");
}
