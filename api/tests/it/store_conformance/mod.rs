//! One conformance suite for every store: the same cases, generated per store by
//! `every_store!`, so a store cannot pass by being tested more gently than another.

mod accounts;
mod calls;
mod conversations;
mod keys_and_tiers;
mod usage_events;

use std::sync::Arc;

use tempfile::TempDir;
use tokenmeter_api::{
    domain::{
        Amounts, CounterKey, EventId, EventKind, Hold, HoldId, Money, Stores, Timestamp, TokenLimit, TokenUsage,
        UsageEvent, User, UserId,
    },
    store::EmbeddedStore,
};

use crate::dynamodb_local;

/// A fresh, empty store and whatever keeps it alive.
pub(crate) struct Fixture {
    pub(crate) stores: Stores,
    _keep: Option<TempDir>,
}

pub(crate) async fn embedded() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("tokenmeter.redb")).expect("open embedded store"));
    Fixture { stores: Stores::of(store), _keep: Some(dir) }
}

pub(crate) async fn dynamodb() -> Fixture {
    Fixture { stores: Stores::of(Arc::new(dynamodb_local::fresh_store().await)), _keep: None }
}

pub(crate) fn id(raw: &str) -> UserId {
    UserId::parse("userId", raw).unwrap()
}

pub(crate) fn limit(n: u64) -> TokenLimit {
    TokenLimit::new("tokenLimit", n).unwrap()
}

pub(crate) fn at(millis: i64) -> Timestamp {
    Timestamp::from_millis(millis)
}

pub(crate) fn user(raw: &str, max: u64, created: i64) -> User {
    User::new(id(raw), limit(max), at(created))
}

pub(crate) fn tokens(n: u64) -> Amounts {
    Amounts { tokens: n, ..Amounts::ZERO }
}

pub(crate) fn call(t: u64, cost: u64) -> Amounts {
    Amounts { tokens: t, requests: 1, cost: Money::from_nanos(cost) }
}

pub(crate) fn day(window: &str) -> CounterKey {
    CounterKey { window: window.into(), scope: "*".into() }
}

pub(crate) fn hold(amounts: Amounts, counters: Vec<CounterKey>, expires: i64) -> Hold {
    Hold { id: HoldId::generate(), amounts, counters, expires_at: at(expires) }
}

/// An event of `user` at `millis` with `usage` tokens in and out.
pub(crate) fn event(user: &str, millis: i64, kind: EventKind, input: u64, output: u64) -> UsageEvent {
    UsageEvent {
        id: EventId::generate(at(millis)),
        at: at(millis),
        user: id(user),
        model: "m".into(),
        kind,
        outcome: None,
        usage: TokenUsage { input, output, ..TokenUsage::default() },
        cost: Money::from_nanos(input * 3_000 + output * 15_000),
        latency_ms: 40,
        time_to_first_token_ms: None,
        blocked_by: None,
        expires_at: at(millis + 90 * 86_400_000),
    }
}

macro_rules! every_store {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(&super::super::embedded().await.stores).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    if !crate::suites::available(crate::suites::Suite::DynamoDb) {
                        return;
                    }
                    super::$case(&super::super::dynamodb().await.stores).await;
                }
            )*
        }
    };
}
pub(crate) use every_store;
