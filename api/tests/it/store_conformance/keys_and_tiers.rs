//! API keys (issued only for existing users, in the same step), tiers (versions, member
//! counts, seeding once), and guests becoming users.

use futures::future::join_all;
use tokenmeter_api::domain::{
    Amounts, ApiKey, Ceiling, CounterCharge, EventKind, KeyId, Metric, ModelScope, Period, QuotaRule, Recording, Role,
    StoreError, Stores, Tier, TierName, quota::default_tiers,
};

use super::{at, day, event, every_store, id, tokens, user};

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

fn tier(name: &str) -> TierName {
    TierName::parse("tier", name).unwrap()
}

async fn keys_round_trip_and_revocation_keeps_the_first_time(stores: &Stores) {
    let keys = stores.keys.as_ref();
    stores.accounts.insert_user(&user("alice", 10, 0), None).await.unwrap();
    let admin = api_key(None, "ops");
    let alice = api_key(Some("alice"), "alice's laptop");
    keys.insert_key(&admin).await.unwrap();
    keys.insert_key(&alice).await.unwrap();
    assert_eq!(keys.insert_key(&alice).await, Err(StoreError::AlreadyExists));
    assert_eq!(keys.key(&alice.id).await.unwrap(), Some(alice.clone()));
    let mut both = vec![admin.clone(), alice.clone()];
    both.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(keys.keys().await.unwrap(), both);
    let revoked = keys.revoke_key(&alice.id, at(5_000)).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(at(5_000)));
    assert_eq!(keys.revoke_key(&alice.id, at(9_000)).await.unwrap().revoked_at, Some(at(5_000)));
    let unknown = KeyId::generate();
    assert_eq!(keys.revoke_key(&unknown, at(1)).await, Err(StoreError::NotFound));
    assert_eq!(keys.key(&unknown).await.unwrap(), None);
    // Users and keys share the store without mixing.
    assert_eq!(stores.accounts.users().await.unwrap().len(), 1);
}

async fn a_key_is_issued_only_for_a_user_that_exists(stores: &Stores) {
    let orphan = api_key(Some("nobody"), "k");
    assert_eq!(stores.keys.insert_key(&orphan).await, Err(StoreError::NotFound));
    assert_eq!(stores.keys.key(&orphan.id).await.unwrap(), None);
}

async fn issuing_keys_while_the_user_is_deleted_leaves_no_usable_key(stores: &Stores) {
    stores.accounts.insert_user(&user("victim", 10, 0), None).await.unwrap();
    let issues = (0..16).map(|i| async move {
        let key = api_key(Some("victim"), &format!("k{i}"));
        stores.keys.insert_key(&key).await.map(|()| key.id)
    });
    let delete = async { stores.accounts.delete_user(&id("victim"), at(2_000)).await };
    let (issued, deleted) = futures::join!(join_all(issues), delete);
    deleted.unwrap();
    for key in issued.into_iter().flatten() {
        let stored = stores.keys.key(&key).await.unwrap().unwrap();
        assert!(stored.revoked_at.is_some(), "a key issued during the delete outlived its user");
    }
}

async fn tiers_are_versioned_counted_and_seeded_once(stores: &Stores) {
    stores.tiers.seed_tiers(&default_tiers()).await.unwrap();
    let names: Vec<String> = stores.tiers.tiers().await.unwrap().iter().map(|t| t.tier.name.to_string()).collect();
    assert_eq!(names, ["free", "guest", "pro"]);
    stores.tiers.delete_tier(&tier("guest")).await.unwrap();
    stores.tiers.seed_tiers(&default_tiers()).await.unwrap();
    assert_eq!(stores.tiers.tier(&tier("guest")).await.unwrap(), None, "a deleted default stays deleted");

    let rule = QuotaRule { metric: Metric::Tokens, period: Period::Month, limit: 9, model: ModelScope::Any };
    let team = stores.tiers.put_tier(&Tier { name: tier("team"), rules: vec![rule.clone()] }).await.unwrap();
    assert_eq!((team.version, team.members, team.tier.rules.clone()), (1, 0, vec![rule]));
    let replaced = stores.tiers.put_tier(&Tier { name: tier("team"), rules: vec![] }).await.unwrap();
    assert_eq!((replaced.version, replaced.tier.rules.len()), (2, 0));

    let mut member = user("ivan", 10, 0);
    member.tier = Some(tier("team"));
    stores.accounts.insert_user(&member, None).await.unwrap();
    assert_eq!(stores.tiers.delete_tier(&tier("team")).await, Err(StoreError::InUse(1)));
    assert_eq!(stores.tiers.delete_tier(&tier("ghost")).await, Err(StoreError::NotFound));
    stores.accounts.delete_user(&id("ivan"), at(3)).await.unwrap();
    assert_eq!(stores.tiers.delete_tier(&tier("team")).await, Ok(()));
}

async fn a_guest_becomes_a_user_with_its_usage_and_counters(stores: &Stores) {
    stores.tiers.seed_tiers(&default_tiers()).await.unwrap();
    let mut guest = user("guest-abc", 1_000, 0);
    guest.tier = Some(tier("guest"));
    stores.accounts.insert_user(&guest, None).await.unwrap();
    let today = day("day:2026-11-30");
    let charge =
        CounterCharge { key: today.clone(), ceiling: Ceiling::default(), expires_at: Some(at(10_000_000_000)) };
    let recording = Recording {
        user: id("guest-abc"),
        amounts: Amounts { requests: 1, ..tokens(40) },
        account: Ceiling::default(),
        counters: vec![charge],
        event: event("guest-abc", 5, EventKind::Record, 40, 0),
        idempotency: None,
    };
    stores.accounts.record(&recording).await.unwrap();
    let key = api_key(Some("guest-abc"), "guest");
    stores.keys.insert_key(&key).await.unwrap();

    let mut real = user("zoe", 5_000, 9);
    real.tier = Some(tier("free"));
    let moved = stores.accounts.migrate_guest(&id("guest-abc"), &real).await.unwrap();
    assert_eq!((moved.token_usage(), moved.request_count(), moved.token_limit.get()), (40, 1, 5_000));
    assert_eq!(stores.accounts.counters(&id("zoe"), std::slice::from_ref(&today)).await.unwrap()[0].used.tokens, 40);
    assert_eq!(stores.accounts.user(&id("guest-abc")).await.unwrap(), None);
    assert!(stores.keys.key(&key.id).await.unwrap().unwrap().revoked_at.is_some());
    let members = |name: &'static str| async move { stores.tiers.tier(&tier(name)).await.unwrap().unwrap().members };
    assert_eq!((members("guest").await, members("free").await), (0, 1));
    assert_eq!(stores.accounts.migrate_guest(&id("guest-abc"), &user("other", 1, 0)).await, Err(StoreError::NotFound));
}

every_store!(
    keys_round_trip_and_revocation_keeps_the_first_time,
    a_key_is_issued_only_for_a_user_that_exists,
    issuing_keys_while_the_user_is_deleted_leaves_no_usable_key,
    tiers_are_versioned_counted_and_seeded_once,
    a_guest_becomes_a_user_with_its_usage_and_counters,
);
