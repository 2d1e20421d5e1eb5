//! One conformance suite for every `UserStore`: the same cases, generated per store by
//! `conformance!`, so a store cannot pass by being tested more gently than another.

use std::{collections::HashSet, sync::Arc};

use futures::future::join_all;
use tempfile::TempDir;
use tokenmeter_api::{
    domain::{
        ApiKey, Hold, HoldId, KeyId, KeyStore, Money, Role, StoreError, Timestamp, TokenCount, TokenLimit, User,
        UserId, UserStore,
    },
    store::EmbeddedStore,
};

use crate::dynamodb_local;

/// A fresh, empty store and whatever keeps it alive.
pub(crate) struct Fixture {
    pub store: Arc<dyn UserStore>,
    /// The same store, seen as a key store.
    pub keys: Arc<dyn KeyStore>,
    _keep: Option<TempDir>,
}

pub(crate) async fn embedded() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("tokenmeter.redb")).expect("open embedded store"));
    Fixture { store: store.clone(), keys: store, _keep: Some(dir) }
}

pub(crate) async fn dynamodb() -> Fixture {
    let store = Arc::new(dynamodb_local::fresh_store().await);
    Fixture { store: store.clone(), keys: store, _keep: None }
}

fn id(raw: &str) -> UserId {
    UserId::parse("userId", raw).unwrap()
}

fn limit(n: u64) -> TokenLimit {
    TokenLimit::new("tokenLimit", n).unwrap()
}

fn tokens(n: u64) -> TokenCount {
    TokenCount::new("tokensConsumed", n).unwrap()
}

fn at(millis: i64) -> Timestamp {
    Timestamp::from_millis(millis)
}

fn user(raw: &str, max: u64, created: i64) -> User {
    User::new(id(raw), limit(max), at(created))
}

macro_rules! conformance {
    ($store:ident: $($case:ident),* $(,)?) => {
        mod $store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let fixture = super::$store().await;
                    super::$case(fixture.store.as_ref()).await;
                }
            )*
        }
    };
}

macro_rules! every_store {
    ($($case:ident),* $(,)?) => {
        conformance!(embedded: $($case),*);
        conformance!(dynamodb: $($case),*);
    };
}

/// Cases that need the whole fixture (keys, and keys beside users).
macro_rules! fixture_cases {
    ($module:ident = $store:ident: $($case:ident),* $(,)?) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(&super::$store().await).await;
                }
            )*
        }
    };
}

macro_rules! every_fixture {
    ($($case:ident),* $(,)?) => {
        fixture_cases!(embedded_keys = embedded: $($case),*);
        fixture_cases!(dynamodb_keys = dynamodb: $($case),*);
    };
}

every_fixture!(keys_round_trip_and_revocation_keeps_the_first_time, keys_and_users_live_side_by_side_without_mixing,);

every_store!(
    a_created_user_reads_back_exactly,
    a_duplicate_create_is_refused_and_changes_nothing,
    unknown_users_are_absent_and_not_found_everywhere,
    set_limit_changes_only_the_limit_and_stamps_the_time,
    add_usage_adds_tokens_and_cost_and_stamps_the_time,
    delete_removes_the_user_and_only_that_user,
    sixty_four_concurrent_increments_add_exactly,
    concurrent_creates_of_one_id_admit_exactly_one,
    listing_returns_every_user_sorted_by_id,
    an_increment_that_would_overflow_is_refused_and_changes_nothing,
    reservations_never_pass_the_limit,
    settling_charges_the_real_usage_and_releasing_returns_the_hold,
    limit_changes_take_holds_and_usage_into_account,
    sixty_four_concurrent_reservations_never_oversubscribe,
    expired_holds_are_found_until_released,
);

async fn a_created_user_reads_back_exactly(store: &dyn UserStore) {
    let mut alice = user("alice@example.com", 1000, 1_768_825_097_123);
    alice.token_usage = 12;
    alice.total_cost = Money::from_nanos(486_000);
    store.insert(&alice).await.unwrap();
    assert_eq!(store.get(&alice.id).await.unwrap(), Some(alice.clone()));
    assert_eq!(store.list().await.unwrap(), [alice]);
}

async fn a_duplicate_create_is_refused_and_changes_nothing(store: &dyn UserStore) {
    let bob = user("bob", 500, 1);
    store.insert(&bob).await.unwrap();
    store.add_usage(&bob.id, tokens(7), Money::from_nanos(9), at(2)).await.unwrap();
    assert_eq!(store.insert(&user("bob", 9, 3)).await, Err(StoreError::AlreadyExists));
    let stored = store.get(&bob.id).await.unwrap().unwrap();
    assert_eq!((stored.token_limit, stored.token_usage, stored.total_cost), (limit(500), 7, Money::from_nanos(9)));
    assert_eq!(stored.last_updated, at(2));
}

async fn unknown_users_are_absent_and_not_found_everywhere(store: &dyn UserStore) {
    let ghost = id("ghost");
    assert_eq!(store.get(&ghost).await, Ok(None));
    assert_eq!(store.set_limit(&ghost, limit(5), at(1)).await, Err(StoreError::NotFound));
    assert_eq!(store.add_usage(&ghost, tokens(1), Money::ZERO, at(1)).await, Err(StoreError::NotFound));
    assert_eq!(store.delete(&ghost).await, Err(StoreError::NotFound));
    // A failed condition creates nothing.
    assert_eq!(store.list().await, Ok(vec![]));
}

async fn set_limit_changes_only_the_limit_and_stamps_the_time(store: &dyn UserStore) {
    let dave = user("dave", 100, 1_000);
    store.insert(&dave).await.unwrap();
    store.add_usage(&dave.id, tokens(40), Money::from_nanos(120), at(2_000)).await.unwrap();
    let updated = store.set_limit(&dave.id, limit(200_000), at(3_000)).await.unwrap();
    let expected = User {
        token_limit: limit(200_000),
        token_usage: 40,
        total_cost: Money::from_nanos(120),
        last_updated: at(3_000),
        ..dave.clone()
    };
    assert_eq!(updated, expected);
    assert_eq!(store.get(&dave.id).await.unwrap(), Some(expected));
}

async fn add_usage_adds_tokens_and_cost_and_stamps_the_time(store: &dyn UserStore) {
    let erin = user("erin", 100, 1_000);
    store.insert(&erin).await.unwrap();
    let first = store.add_usage(&erin.id, tokens(60), Money::from_nanos(180_000), at(1_500)).await.unwrap();
    assert_eq!((first.token_usage, first.total_cost, first.last_updated), (60, Money::from_nanos(180_000), at(1_500)));
    // Recorded usage may pass the limit: it already happened.
    let second = store.add_usage(&erin.id, tokens(45), Money::from_nanos(675_000), at(2_500)).await.unwrap();
    assert_eq!(
        (second.token_usage, second.total_cost, second.last_updated),
        (105, Money::from_nanos(855_000), at(2_500))
    );
    assert_eq!(second.token_limit, limit(100));
    // Zero tokens is a valid record: it still stamps the time.
    let third = store.add_usage(&erin.id, tokens(0), Money::ZERO, at(3_500)).await.unwrap();
    assert_eq!((third.token_usage, third.last_updated), (105, at(3_500)));
    assert_eq!(store.get(&erin.id).await.unwrap(), Some(third));
}

async fn delete_removes_the_user_and_only_that_user(store: &dyn UserStore) {
    store.insert(&user("frank", 10, 1)).await.unwrap();
    store.insert(&user("grace", 20, 1)).await.unwrap();
    store.delete(&id("frank")).await.unwrap();
    assert_eq!(store.get(&id("frank")).await, Ok(None));
    assert_eq!(store.delete(&id("frank")).await, Err(StoreError::NotFound));
    assert_eq!(store.add_usage(&id("frank"), tokens(1), Money::ZERO, at(2)).await, Err(StoreError::NotFound));
    let left: Vec<_> = store.list().await.unwrap().into_iter().map(|u| u.id).collect();
    assert_eq!(left, [id("grace")]);
    // The ID is free again.
    store.insert(&user("frank", 30, 3)).await.unwrap();
    assert_eq!(store.get(&id("frank")).await.unwrap().map(|u| u.token_usage), Some(0));
}

async fn sixty_four_concurrent_increments_add_exactly(store: &dyn UserStore) {
    const WRITERS: u64 = 64;
    const EACH: u64 = 5;
    const TOKENS: u64 = 7;
    const NANOS: u64 = 3;
    let hot = id("hot");
    store.insert(&User::new(hot.clone(), limit(1_000_000), at(0))).await.unwrap();
    let writers = (0..WRITERS).map(|w| {
        let hot = &hot;
        async move {
            let mut seen = Vec::new();
            for i in 0..EACH {
                let stamp = at((w * EACH + i) as i64 + 1);
                let user = store.add_usage(hot, tokens(TOKENS), Money::from_nanos(NANOS), stamp).await.unwrap();
                seen.push(user.token_usage);
            }
            seen
        }
    });
    let seen: Vec<u64> = join_all(writers).await.into_iter().flatten().collect();
    let total = store.get(&hot).await.unwrap().unwrap();
    assert_eq!(total.token_usage, WRITERS * EACH * TOKENS);
    assert_eq!(total.total_cost, Money::from_nanos(WRITERS * EACH * NANOS));
    // Each increment was applied once and alone: every answer saw a different running total.
    let distinct: HashSet<u64> = seen.iter().copied().collect();
    assert_eq!(distinct.len() as u64, WRITERS * EACH);
    assert!(seen.iter().all(|usage| usage % TOKENS == 0));
}

async fn concurrent_creates_of_one_id_admit_exactly_one(store: &dyn UserStore) {
    let candidates: Vec<User> = (1..=32u64).map(|i| user("contested", i, i as i64)).collect();
    let results = join_all(candidates.iter().map(|candidate| store.insert(candidate))).await;
    let winners: Vec<u64> = results.iter().zip(1u64..).filter(|(r, _)| r.is_ok()).map(|(_, limit)| limit).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert!(results.iter().filter(|r| r.is_err()).all(|r| *r == Err(StoreError::AlreadyExists)));
    assert_eq!(store.get(&id("contested")).await.unwrap().unwrap().token_limit, limit(winners[0]));
}

async fn listing_returns_every_user_sorted_by_id(store: &dyn UserStore) {
    const USERS: usize = 300;
    // Inserted in an order unrelated to their IDs.
    let ids: Vec<String> = (0..USERS).map(|i| format!("user-{:04}", (i * 7919) % USERS)).collect();
    for chunk in ids.chunks(32) {
        let users: Vec<User> = chunk.iter().map(|raw| user(raw, 1000, 5)).collect();
        assert!(join_all(users.iter().map(|u| store.insert(u))).await.iter().all(Result::is_ok));
    }
    let listed = store.list().await.unwrap();
    let listed_ids: Vec<&str> = listed.iter().map(|u| u.id.as_str()).collect();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(listed_ids, expected);
    assert!(listed.iter().all(|u| u.token_limit == limit(1000) && u.last_updated == at(5)));
}

async fn an_increment_that_would_overflow_is_refused_and_changes_nothing(store: &dyn UserStore) {
    let mut full = user("full", 1000, 1);
    full.token_usage = u64::MAX - 5;
    store.insert(&full).await.unwrap();
    assert_eq!(store.add_usage(&full.id, tokens(10), Money::from_nanos(1), at(2)).await, Err(StoreError::Overflow));
    assert_eq!(store.get(&full.id).await.unwrap(), Some(full.clone()));
    let topped = store.add_usage(&full.id, tokens(5), Money::ZERO, at(3)).await.unwrap();
    assert_eq!(topped.token_usage, u64::MAX);
}

/// Far in the future: holds that do not expire during a test.
const FAR: i64 = 4_000_000_000_000;

fn hold(tokens: u64, expires: i64) -> Hold {
    Hold { id: HoldId::generate(), tokens, expires_at: at(expires) }
}

async fn reservations_never_pass_the_limit(store: &dyn UserStore) {
    let r = id("r");
    store.insert(&user("r", 100, 0)).await.unwrap();
    let held = store.reserve(&r, &hold(60, FAR)).await.unwrap();
    assert_eq!((held.token_reserved, held.remaining_tokens(), held.token_usage), (60, 40, 0));
    assert_eq!(store.reserve(&r, &hold(41, FAR)).await, Err(StoreError::InsufficientTokens { available: 40 }));
    assert_eq!(store.reserve(&r, &hold(40, FAR)).await.unwrap().remaining_tokens(), 0);
    assert_eq!(store.reserve(&r, &hold(1, FAR)).await, Err(StoreError::InsufficientTokens { available: 0 }));
    assert_eq!(store.reserve(&id("ghost"), &hold(1, FAR)).await, Err(StoreError::NotFound));
    assert_eq!(store.get(&r).await.unwrap().unwrap().token_reserved, 100);
}

async fn settling_charges_the_real_usage_and_releasing_returns_the_hold(store: &dyn UserStore) {
    let s = id("s");
    store.insert(&user("s", 100, 0)).await.unwrap();
    let call = hold(50, FAR);
    store.reserve(&s, &call).await.unwrap();
    let settled = store.settle(&s, &call, 30, Money::from_nanos(90), at(5)).await.unwrap();
    assert_eq!((settled.token_usage, settled.token_reserved, settled.remaining_tokens()), (30, 0, 70));
    assert_eq!((settled.total_cost, settled.last_updated), (Money::from_nanos(90), at(5)));

    let failed = hold(20, FAR);
    assert_eq!(store.reserve(&s, &failed).await.unwrap().remaining_tokens(), 50);
    let released = store.release(&s, &failed).await.unwrap();
    assert_eq!((released.token_usage, released.token_reserved, released.remaining_tokens()), (30, 0, 70));
    // Releasing twice changes nothing; settling a hold that is gone still charges the usage.
    assert_eq!(store.release(&s, &failed).await.unwrap().remaining_tokens(), 70);
    let late = store.settle(&s, &failed, 10, Money::from_nanos(1), at(9)).await.unwrap();
    assert_eq!((late.token_usage, late.token_reserved, late.remaining_tokens()), (40, 0, 60));
    assert_eq!(store.release(&id("ghost"), &failed).await, Err(StoreError::NotFound));
}

async fn limit_changes_take_holds_and_usage_into_account(store: &dyn UserStore) {
    let l = id("l");
    store.insert(&user("l", 100, 0)).await.unwrap();
    store.reserve(&l, &hold(60, FAR)).await.unwrap();
    store.add_usage(&l, tokens(10), Money::ZERO, at(1)).await.unwrap();
    assert_eq!(store.set_limit(&l, limit(50), at(2)).await.unwrap().remaining_tokens(), 0);
    assert_eq!(store.reserve(&l, &hold(1, FAR)).await, Err(StoreError::InsufficientTokens { available: 0 }));
    assert_eq!(store.set_limit(&l, limit(200), at(3)).await.unwrap().remaining_tokens(), 130);
    assert_eq!(store.reserve(&l, &hold(130, FAR)).await.unwrap().remaining_tokens(), 0);
    assert_eq!(store.reserve(&l, &hold(1, FAR)).await, Err(StoreError::InsufficientTokens { available: 0 }));
}

async fn sixty_four_concurrent_reservations_never_oversubscribe(store: &dyn UserStore) {
    let c = id("c");
    store.insert(&user("c", 1000, 0)).await.unwrap();
    let holds: Vec<Hold> = (0..64).map(|_| hold(30, FAR)).collect();
    let results = join_all(holds.iter().map(|h| store.reserve(&c, h))).await;
    let granted = results.iter().filter(|r| r.is_ok()).count() as u64;
    assert!(
        results.iter().filter_map(|r| r.as_ref().err()).all(|e| matches!(e, StoreError::InsufficientTokens { .. }))
    );
    // 1000 / 30: exactly 33 fit, whatever the interleaving.
    assert_eq!(granted, 33);
    assert_eq!(store.get(&c).await.unwrap().unwrap().token_reserved, 33 * 30);
}

async fn expired_holds_are_found_until_released(store: &dyn UserStore) {
    let (a, b) = (id("a"), id("b"));
    store.insert(&user("a", 100, 0)).await.unwrap();
    store.insert(&user("b", 100, 0)).await.unwrap();
    let stale = hold(40, 1_000);
    store.reserve(&a, &stale).await.unwrap();
    store.reserve(&a, &hold(10, FAR)).await.unwrap();
    store.reserve(&b, &hold(5, FAR)).await.unwrap();
    assert_eq!(store.expired_holds(at(2_000)).await.unwrap(), vec![(a.clone(), stale.clone())]);
    store.release(&a, &stale).await.unwrap();
    assert_eq!(store.expired_holds(at(2_000)).await.unwrap(), vec![]);
    assert_eq!(store.get(&a).await.unwrap().unwrap().remaining_tokens(), 90);
}

fn api_key(owner: Option<&str>, label: &str) -> ApiKey {
    ApiKey {
        id: KeyId::generate(),
        secret_hash: [7; 32],
        role: owner.map_or(Role::Admin, |o| Role::User(id(o))),
        label: Some(label.into()),
        created_at: at(1_000),
        revoked_at: None,
    }
}

async fn keys_round_trip_and_revocation_keeps_the_first_time(fixture: &Fixture) {
    let keys = fixture.keys.as_ref();
    let admin = api_key(None, "ops");
    let alice = api_key(Some("alice"), "alice's laptop");
    keys.insert_key(&admin).await.unwrap();
    keys.insert_key(&alice).await.unwrap();
    assert_eq!(keys.insert_key(&alice).await, Err(StoreError::AlreadyExists));
    assert_eq!(keys.get_key(&alice.id).await.unwrap(), Some(alice.clone()));
    let mut both = vec![admin.clone(), alice.clone()];
    both.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(keys.list_keys().await.unwrap(), both);

    let revoked = keys.revoke_key(&alice.id, at(5_000)).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(at(5_000)));
    assert_eq!(keys.revoke_key(&alice.id, at(9_000)).await.unwrap().revoked_at, Some(at(5_000)));
    assert_eq!(keys.get_key(&alice.id).await.unwrap().unwrap().revoked_at, Some(at(5_000)));
    let unknown = KeyId::generate();
    assert_eq!(keys.revoke_key(&unknown, at(1)).await, Err(StoreError::NotFound));
    assert_eq!(keys.get_key(&unknown).await.unwrap(), None);
}

async fn keys_and_users_live_side_by_side_without_mixing(fixture: &Fixture) {
    fixture.store.insert(&user("carol", 10, 0)).await.unwrap();
    fixture.keys.insert_key(&api_key(Some("carol"), "k")).await.unwrap();
    let users = fixture.store.list().await.unwrap();
    assert_eq!(users.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(), ["carol"]);
    assert_eq!(fixture.keys.list_keys().await.unwrap().len(), 1);
    assert_eq!(fixture.store.expired_holds(at(i64::MAX / 2)).await.unwrap(), vec![]);
}
