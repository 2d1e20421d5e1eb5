//! Users and usage records: creating, reading, listing, changing, deleting, and atomic records
//! in every counter they name, idempotent with a claim.

use std::collections::HashSet;

use futures::future::join_all;
use tokenmeter_api::domain::{
    Amounts, Ceiling, CounterCharge, EventKind, IdempotencyClaim, IdempotencyKey, IdempotencyState, Metric, ModelScope,
    Money, Period, QuotaRule, Recording, StoreError, Stores, TierName, UserChange,
};

use super::{at, day, event, every_store, id, limit, tokens, user};

fn recording(user: &str, amounts: Amounts, counters: Vec<CounterCharge>, millis: i64) -> Recording {
    Recording {
        user: id(user),
        amounts,
        account: Ceiling::default(),
        counters,
        event: event(user, millis, EventKind::Record, amounts.tokens, 0),
        idempotency: None,
    }
}

fn charge(window: &str) -> CounterCharge {
    CounterCharge { key: day(window), ceiling: Ceiling::default(), expires_at: Some(at(10_000_000_000)) }
}

async fn a_created_user_reads_back_exactly(stores: &Stores) {
    let mut alice = user("alice", 1000, 1_768_825_097_123);
    alice.tier = Some(TierName::parse("tier", "free").unwrap());
    stores.tiers.seed_tiers(&tokenmeter_api::domain::quota::default_tiers()).await.unwrap();
    stores.accounts.insert_user(&alice, None).await.unwrap();
    assert_eq!(stores.accounts.user(&id("alice")).await.unwrap(), Some(alice));
    assert_eq!(stores.accounts.user(&id("nobody")).await.unwrap(), None);
    let free = stores.tiers.tier(&TierName::parse("tier", "free").unwrap()).await.unwrap().unwrap();
    assert_eq!(free.members, 1, "creating a user on a tier counts it there");
}

async fn duplicates_and_unknown_tiers_are_refused_and_change_nothing(stores: &Stores) {
    stores.accounts.insert_user(&user("bob", 500, 1), None).await.unwrap();
    assert_eq!(stores.accounts.insert_user(&user("bob", 9, 2), None).await, Err(StoreError::AlreadyExists));
    assert_eq!(stores.accounts.user(&id("bob")).await.unwrap().unwrap().token_limit, limit(500));
    let mut lost = user("lost", 5, 3);
    lost.tier = Some(TierName::parse("tier", "nowhere").unwrap());
    assert_eq!(stores.accounts.insert_user(&lost, None).await, Err(StoreError::NotFound));
    assert_eq!(stores.accounts.user(&id("lost")).await.unwrap(), None);
}

async fn changes_bump_the_rules_version_and_stamp_the_time(stores: &Stores) {
    stores.accounts.insert_user(&user("carol", 100, 1), None).await.unwrap();
    let relimited = stores.accounts.update_user(&id("carol"), &UserChange::Limit(limit(250)), at(5)).await.unwrap();
    assert_eq!((relimited.token_limit, relimited.rules_version, relimited.last_updated), (limit(250), 1, at(5)));
    let rule = QuotaRule { metric: Metric::Cost, period: Period::Day, limit: 7, model: ModelScope::Family("f".into()) };
    let ruled =
        stores.accounts.update_user(&id("carol"), &UserChange::Quotas(vec![rule.clone()]), at(6)).await.unwrap();
    assert_eq!((ruled.quotas, ruled.rules_version), (vec![rule], 2));
    let none = UserChange::Limit(limit(1));
    assert_eq!(stores.accounts.update_user(&id("nobody"), &none, at(7)).await, Err(StoreError::NotFound));
}

async fn moving_users_between_tiers_keeps_member_counts_exact(stores: &Stores) {
    stores.tiers.seed_tiers(&tokenmeter_api::domain::quota::default_tiers()).await.unwrap();
    let tier = |name: &str| TierName::parse("tier", name).unwrap();
    let members = |name: &'static str| async move { stores.tiers.tier(&tier(name)).await.unwrap().unwrap().members };
    stores.accounts.insert_user(&user("dave", 10, 1), None).await.unwrap();
    stores.accounts.update_user(&id("dave"), &UserChange::Tier(Some(tier("free"))), at(2)).await.unwrap();
    assert_eq!(members("free").await, 1);
    let moved = stores.accounts.update_user(&id("dave"), &UserChange::Tier(Some(tier("pro"))), at(3)).await.unwrap();
    assert_eq!(moved.tier, Some(tier("pro")));
    assert_eq!((members("free").await, members("pro").await), (0, 1));
    let to_nowhere = UserChange::Tier(Some(tier("nowhere")));
    assert_eq!(stores.accounts.update_user(&id("dave"), &to_nowhere, at(4)).await, Err(StoreError::Refused));
    stores.accounts.update_user(&id("dave"), &UserChange::Tier(None), at(5)).await.unwrap();
    assert_eq!(members("pro").await, 0);
    assert_eq!(stores.tiers.delete_tier(&tier("pro")).await, Ok(()));
}

async fn records_add_to_the_account_and_each_counter_exactly(stores: &Stores) {
    stores.accounts.insert_user(&user("erin", 100, 1), None).await.unwrap();
    let amounts = Amounts { tokens: 60, requests: 0, cost: Money::from_nanos(1_800) };
    let after = stores.accounts.record(&recording("erin", amounts, vec![charge("day:2026-11-30")], 2)).await.unwrap();
    assert_eq!((after.token_usage(), after.total_cost(), after.last_updated), (60, Money::from_nanos(1_800), at(2)));
    // Records are facts: past the limit too (the reference UI shows 105 %).
    let over = stores.accounts.record(&recording("erin", tokens(45), vec![], 3)).await.unwrap();
    assert_eq!(over.token_usage(), 105);
    // Rules on one window share its counter: a key may be asked for more than once.
    let keys = [day("day:2026-11-30"), day("day:2026-12-01"), day("day:2026-11-30")];
    let counters = stores.accounts.counters(&id("erin"), &keys).await.unwrap();
    assert_eq!((counters[0].used, counters[1].used, counters[2].used), (amounts, Amounts::ZERO, amounts));
    assert_eq!(
        stores.accounts.record(&recording("nobody", tokens(1), vec![], 4)).await.unwrap_err(),
        StoreError::NotFound
    );
}

/// `WRITERS` × `EACH` concurrent records of `TOKENS` (with a counter each when `counted`),
/// answering what each answer saw.
async fn record_concurrently(stores: &Stores, counted: bool) -> Vec<u64> {
    stores.accounts.insert_user(&user("hot", 1_000_000, 0), None).await.unwrap();
    let writers = (0..WRITERS).map(|w| async move {
        let mut seen = Vec::new();
        for i in 0..EACH {
            let millis = (w * EACH + i) as i64 + 1;
            let counters = if counted { vec![charge("total")] } else { vec![] };
            let record = recording("hot", tokens(TOKENS), counters, millis);
            seen.push(stores.accounts.record(&record).await.unwrap().token_usage());
        }
        seen
    });
    let seen: Vec<u64> = join_all(writers).await.into_iter().flatten().collect();
    assert_eq!(stores.accounts.user(&id("hot")).await.unwrap().unwrap().token_usage(), WRITERS * EACH * TOKENS);
    seen
}

const WRITERS: u64 = 64;
const EACH: u64 = 5;
const TOKENS: u64 = 7;

async fn sixty_four_concurrent_records_add_exactly(stores: &Stores) {
    let seen = record_concurrently(stores, false).await;
    // Every answer is a state after its own record: at least one record in, at most all.
    assert!(seen.iter().all(|usage| usage % TOKENS == 0 && *usage >= TOKENS && *usage <= WRITERS * EACH * TOKENS));
    // The embedded store's single writer answers each record with the state right after it
    // alone; DynamoDB writes a record and its event in one transaction, which answers nothing,
    // so its answer is read just after and may include other records.
    if stores.accounts.kind() == "embedded" {
        let distinct: HashSet<u64> = seen.iter().copied().collect();
        assert_eq!(distinct.len() as u64, WRITERS * EACH);
    }
}

async fn sixty_four_concurrent_records_add_exactly_to_their_counters_too(stores: &Stores) {
    record_concurrently(stores, true).await;
    let counter = stores.accounts.counters(&id("hot"), &[day("total")]).await.unwrap()[0];
    assert_eq!(counter.used.tokens, WRITERS * EACH * TOKENS);
}

async fn a_record_with_a_claim_is_applied_once(stores: &Stores) {
    stores.accounts.insert_user(&user("frank", 100, 1), None).await.unwrap();
    let key = IdempotencyKey::parse("retry-me").unwrap();
    let claim = IdempotencyClaim::new("usage:frank".into(), key.clone(), "[5]", at(10));
    let mut first = recording("frank", tokens(5), vec![], 10);
    first.idempotency = Some(claim.clone());
    stores.accounts.record(&first).await.unwrap();
    let mut again = recording("frank", tokens(5), vec![], 11);
    again.idempotency = Some(claim.clone());
    match stores.accounts.record(&again).await {
        Err(StoreError::Claimed(record)) => {
            assert_eq!(record.claim.fingerprint, claim.fingerprint);
            assert_eq!(record.state, IdempotencyState::Applied(None));
        }
        other => panic!("a second record with the claim answered {other:?}"),
    }
    assert_eq!(stores.accounts.user(&id("frank")).await.unwrap().unwrap().token_usage(), 5);
    // A claim from past its 24 hours is free again.
    let later = IdempotencyClaim::new("usage:frank".into(), key, "[5]", at(10 + 25 * 3_600_000));
    let mut late = recording("frank", tokens(5), vec![], 12);
    late.idempotency = Some(later);
    assert_eq!(stores.accounts.record(&late).await.unwrap().token_usage(), 10);
}

async fn listing_returns_every_user_sorted_by_id(stores: &Stores) {
    const USERS: usize = 120;
    let ids: Vec<String> = (0..USERS).map(|i| format!("u{:03}", (i * 37) % USERS)).collect();
    join_all(ids.iter().map(|raw| async move { stores.accounts.insert_user(&user(raw, 10, 1), None).await })).await;
    let listed: Vec<String> = stores.accounts.users().await.unwrap().iter().map(|u| u.id.to_string()).collect();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(listed, expected);
}

async fn deleting_a_user_removes_it_and_its_counters_and_revokes_its_keys(stores: &Stores) {
    use tokenmeter_api::domain::{ApiKey, KeyId, Role};
    stores.accounts.insert_user(&user("grace", 10, 1), None).await.unwrap();
    stores.accounts.insert_user(&user("heidi", 10, 1), None).await.unwrap();
    stores.accounts.record(&recording("grace", tokens(3), vec![charge("day:2026-11-30")], 2)).await.unwrap();
    let key = ApiKey {
        id: KeyId::generate(),
        secret_hash: [7; 32],
        role: Role::User(id("grace")),
        label: None,
        created_at: at(2),
        revoked_at: None,
    };
    stores.keys.insert_key(&key).await.unwrap();
    stores.accounts.delete_user(&id("grace"), at(9)).await.unwrap();
    assert_eq!(stores.accounts.user(&id("grace")).await.unwrap(), None);
    assert_eq!(stores.keys.key(&key.id).await.unwrap().unwrap().revoked_at, Some(at(9)));
    assert_eq!(stores.accounts.delete_user(&id("grace"), at(10)).await, Err(StoreError::NotFound));
    // The ID is free again, with nothing of the old user.
    stores.accounts.insert_user(&user("grace", 30, 11), None).await.unwrap();
    let counter = stores.accounts.counters(&id("grace"), &[day("day:2026-11-30")]).await.unwrap()[0];
    assert_eq!(counter.used, Amounts::ZERO);
    assert!(stores.accounts.user(&id("heidi")).await.unwrap().is_some());
}

every_store!(
    a_created_user_reads_back_exactly,
    duplicates_and_unknown_tiers_are_refused_and_change_nothing,
    changes_bump_the_rules_version_and_stamp_the_time,
    moving_users_between_tiers_keeps_member_counts_exact,
    records_add_to_the_account_and_each_counter_exactly,
    sixty_four_concurrent_records_add_exactly,
    sixty_four_concurrent_records_add_exactly_to_their_counters_too,
    a_record_with_a_claim_is_applied_once,
    listing_returns_every_user_sorted_by_id,
    deleting_a_user_removes_it_and_its_counters_and_revokes_its_keys,
);
