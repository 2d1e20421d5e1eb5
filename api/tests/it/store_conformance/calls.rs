//! Holds for model calls: reservations within every ceiling and guard, settlement, release,
//! renewal and expiry, and claims made with a reservation.

use futures::future::join_all;
use tokenmeter_api::domain::{
    Amounts, Ceiling, CounterCharge, CounterKey, EventId, EventKind, EventQuery, Guards, Hold, IdempotencyClaim,
    IdempotencyKey, IdempotencyState, Money, Release, Reservation, Settlement, StoreError, Stores, TierName,
    UserChange,
};

use super::{at, call, day, event, every_store, hold, id, limit, user};

fn reservation(user: &str, hold: &Hold, account: Ceiling, counters: Vec<CounterCharge>, version: u64) -> Reservation {
    Reservation {
        user: id(user),
        hold: hold.clone(),
        account,
        counters,
        guards: Guards { rules_version: version, tier_version: None },
        idempotency: None,
    }
}

fn tokens_within(max: u64) -> Ceiling {
    Ceiling { tokens: Some(max), ..Ceiling::default() }
}

fn charge(key: &CounterKey, ceiling: Ceiling) -> CounterCharge {
    CounterCharge { key: key.clone(), ceiling, expires_at: Some(at(10_000_000_000)) }
}

fn settlement(user: &str, hold: &Hold, used: Amounts, millis: i64) -> Settlement {
    Settlement {
        user: id(user),
        hold: hold.clone(),
        used,
        at: at(millis),
        events: vec![event(user, millis, EventKind::Invoke, used.tokens, 0)],
        keep: None,
        claims: Vec::new(),
    }
}

fn release(user: &str, hold: &Hold, expired_before: Option<i64>) -> Release {
    Release {
        user: id(user),
        hold: hold.clone(),
        expired_before: expired_before.map(at),
        event: None,
        idempotency: None,
    }
}

async fn reservations_never_pass_the_account_ceiling(stores: &Stores) {
    stores.accounts.insert_user(&user("alice", 100, 1), None).await.unwrap();
    let first = hold(call(60, 10), vec![], 1_000);
    let after = stores.accounts.reserve(&reservation("alice", &first, tokens_within(100), vec![], 0)).await.unwrap();
    assert_eq!((after.token_reserved(), after.remaining_tokens()), (60, 40));
    let second = hold(call(41, 10), vec![], 1_000);
    let refused = stores.accounts.reserve(&reservation("alice", &second, tokens_within(100), vec![], 0)).await;
    assert_eq!(refused.unwrap_err(), StoreError::Refused);
    let fits = hold(call(40, 10), vec![], 1_000);
    assert_eq!(
        stores
            .accounts
            .reserve(&reservation("alice", &fits, tokens_within(100), vec![], 0))
            .await
            .unwrap()
            .remaining_tokens(),
        0
    );
    let ghost = reservation("nobody", &fits, tokens_within(100), vec![], 0);
    assert_eq!(stores.accounts.reserve(&ghost).await.unwrap_err(), StoreError::NotFound);
}

async fn a_counter_ceiling_refuses_the_whole_reservation(stores: &Stores) {
    stores.accounts.insert_user(&user("bob", 1_000, 1), None).await.unwrap();
    let today = day("day:2026-11-30");
    let requests = Ceiling { requests: Some(2), cost: Some(Money::from_nanos(25)), ..Ceiling::default() };
    for _ in 0..2 {
        let h = hold(call(1, 10), vec![today.clone()], 1_000);
        stores
            .accounts
            .reserve(&reservation("bob", &h, Ceiling::default(), vec![charge(&today, requests)], 0))
            .await
            .unwrap();
    }
    let third = hold(call(1, 1), vec![today.clone()], 1_000);
    let refused = reservation("bob", &third, Ceiling::default(), vec![charge(&today, requests)], 0);
    assert_eq!(stores.accounts.reserve(&refused).await.unwrap_err(), StoreError::Refused);
    // Nothing of the refused step landed anywhere.
    let bob = stores.accounts.user(&id("bob")).await.unwrap().unwrap();
    assert_eq!(bob.account.held, Amounts { tokens: 2, requests: 2, cost: Money::from_nanos(20) });
    let counter = stores.accounts.counters(&id("bob"), &[today]).await.unwrap()[0];
    assert_eq!(counter.held.requests, 2);
}

async fn a_reservation_planned_under_older_rules_is_refused(stores: &Stores) {
    stores.accounts.insert_user(&user("carol", 100, 1), None).await.unwrap();
    stores.accounts.update_user(&id("carol"), &UserChange::Limit(limit(50)), at(2)).await.unwrap();
    let h = hold(call(10, 1), vec![], 1_000);
    let stale = stores.accounts.reserve(&reservation("carol", &h, tokens_within(100), vec![], 0)).await;
    assert_eq!(stale.unwrap_err(), StoreError::Refused);
    assert!(stores.accounts.reserve(&reservation("carol", &h, tokens_within(50), vec![], 1)).await.is_ok());
    // A tier's version guards too.
    stores.tiers.seed_tiers(&tokenmeter_api::domain::quota::default_tiers()).await.unwrap();
    let free = TierName::parse("tier", "free").unwrap();
    stores.accounts.update_user(&id("carol"), &UserChange::Tier(Some(free.clone())), at(3)).await.unwrap();
    let version = stores.tiers.tier(&free).await.unwrap().unwrap().version;
    let mut guarded = reservation("carol", &hold(call(1, 1), vec![], 1_000), tokens_within(50), vec![], 2);
    guarded.guards.tier_version = Some((free.clone(), version + 1));
    assert_eq!(stores.accounts.reserve(&guarded).await.unwrap_err(), StoreError::Refused);
    guarded.guards.tier_version = Some((free, version));
    assert!(stores.accounts.reserve(&guarded).await.is_ok());
}

async fn settling_charges_what_was_used_everywhere_it_held(stores: &Stores) {
    stores.accounts.insert_user(&user("dave", 1_000, 1), None).await.unwrap();
    let today = day("day:2026-11-30");
    let h = hold(call(500, 9_000), vec![today.clone()], 1_000);
    stores
        .accounts
        .reserve(&reservation("dave", &h, Ceiling::default(), vec![charge(&today, Ceiling::default())], 0))
        .await
        .unwrap();
    let used = call(120, 2_500);
    let settled = stores.accounts.settle(&settlement("dave", &h, used, 5)).await.unwrap();
    assert_eq!((settled.account.used, settled.account.held, settled.last_updated), (used, Amounts::ZERO, at(5)));
    let counter = stores.accounts.counters(&id("dave"), &[today]).await.unwrap()[0];
    assert_eq!((counter.used, counter.held), (used, Amounts::ZERO));
    // Settling it again finds no hold and changes nothing.
    assert_eq!(stores.accounts.settle(&settlement("dave", &h, used, 6)).await.unwrap_err(), StoreError::HoldGone);
    assert_eq!(stores.accounts.user(&id("dave")).await.unwrap().unwrap().token_usage(), 120);
}

async fn a_lease_settles_part_of_its_hold_and_keeps_the_rest(stores: &Stores) {
    stores.accounts.insert_user(&user("lena", 10_000, 1), None).await.unwrap();
    let today = day("day:2026-11-30");
    let lease = hold(call(1_000, 10_000).times(4), vec![today.clone()], 1_000);
    let planned = reservation("lena", &lease, tokens_within(10_000), vec![charge(&today, Ceiling::default())], 0);
    stores.accounts.reserve(&planned).await.unwrap();
    // Two calls of 120 and 80 tokens settle together; the lease keeps what it still holds.
    let (first, second) = (call(120, 1_500), call(80, 900));
    let used = first.saturating_add(second);
    let keep = lease.amounts.saturating_sub(used);
    let mut part = settlement("lena", &lease, used, 5);
    part.events.push(event("lena", 6, EventKind::Invoke, 80, 0));
    part.at = at(6);
    part.keep = Some(keep);
    let after = stores.accounts.settle(&part).await.unwrap();
    assert_eq!((after.account.used, after.account.held, after.last_updated), (used, keep, at(6)));
    let counter = stores.accounts.counters(&id("lena"), std::slice::from_ref(&today)).await.unwrap()[0];
    assert_eq!((counter.used, counter.held), (used, keep));
    assert_eq!(stores.accounts.expired_holds(at(2_000)).await.unwrap()[0].1.amounts, keep, "the hold as kept");
    // Its last settlement removes it, giving back what it held unused.
    let kept = Hold { amounts: keep, ..lease.clone() };
    let last = stores.accounts.settle(&settlement("lena", &kept, call(50, 500), 7)).await.unwrap();
    assert_eq!((last.token_usage(), last.account.held), (250, Amounts::ZERO));
    let counter = stores.accounts.counters(&id("lena"), &[today]).await.unwrap()[0];
    assert_eq!((counter.used.tokens, counter.held), (250, Amounts::ZERO));
    let query = EventQuery { user: Some(id("lena")), before: EventId::after(at(1_000)), limit: 10 };
    let events = stores.events.events(&query).await.unwrap();
    assert_eq!(events.len(), 3, "every call's event, the batch's two included");
}

async fn releasing_gives_everything_back_once(stores: &Stores) {
    stores.accounts.insert_user(&user("erin", 100, 1), None).await.unwrap();
    let today = day("day:2026-11-30");
    let h = hold(call(70, 5), vec![today.clone()], 1_000);
    stores
        .accounts
        .reserve(&reservation("erin", &h, tokens_within(100), vec![charge(&today, Ceiling::default())], 0))
        .await
        .unwrap();
    let released = stores.accounts.release(&release("erin", &h, None)).await.unwrap().unwrap();
    assert_eq!((released.remaining_tokens(), released.token_usage()), (100, 0));
    assert_eq!(stores.accounts.release(&release("erin", &h, None)).await.unwrap(), None);
    let counter = stores.accounts.counters(&id("erin"), &[today]).await.unwrap()[0];
    assert_eq!(counter.held, Amounts::ZERO);
}

async fn renewed_holds_outlive_the_sweep_and_expired_ones_do_not(stores: &Stores) {
    stores.accounts.insert_user(&user("frank", 100, 1), None).await.unwrap();
    let stale = hold(call(60, 0), vec![], 1_000);
    let renewed = hold(call(30, 0), vec![], 1_000);
    for h in [&stale, &renewed] {
        stores.accounts.reserve(&reservation("frank", h, tokens_within(100), vec![], 0)).await.unwrap();
    }
    stores.accounts.renew(&id("frank"), &renewed.id, at(5_000)).await.unwrap();
    let expired = stores.accounts.expired_holds(at(2_000)).await.unwrap();
    assert_eq!(
        expired.iter().map(|(u, h)| (u.as_str(), h.id.clone())).collect::<Vec<_>>(),
        [("frank", stale.id.clone())]
    );
    // The sweeper, with the renewed hold's old copy, cannot release it.
    assert_eq!(stores.accounts.release(&release("frank", &renewed, Some(2_000))).await.unwrap(), None);
    assert!(stores.accounts.release(&release("frank", &stale, Some(2_000))).await.unwrap().is_some());
    assert_eq!(stores.accounts.user(&id("frank")).await.unwrap().unwrap().token_reserved(), 30);
    assert_eq!(stores.accounts.renew(&id("frank"), &stale.id, at(9_000)).await, Err(StoreError::HoldGone));
}

async fn sixty_four_concurrent_reservations_never_oversubscribe(stores: &Stores) {
    stores.accounts.insert_user(&user("hot", 1_000, 1), None).await.unwrap();
    let today = day("day:2026-11-30");
    let tries = (0..64).map(|_| {
        let today = today.clone();
        async move {
            let h = hold(call(30, 1), vec![today.clone()], 1_000);
            let counters = vec![charge(&today, Ceiling { requests: Some(40), ..Ceiling::default() })];
            stores.accounts.reserve(&reservation("hot", &h, tokens_within(1_000), counters, 0)).await
        }
    });
    let results = join_all(tries).await;
    let admitted = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(admitted, 33, "33 × 30 fit in 1000; {results:?}");
    assert!(results.iter().filter(|r| r.is_err()).all(|r| *r.as_ref().unwrap_err() == StoreError::Refused));
    assert_eq!(stores.accounts.user(&id("hot")).await.unwrap().unwrap().token_reserved(), 990);
}

async fn a_reservation_claims_its_key_and_a_release_frees_it(stores: &Stores) {
    stores.accounts.insert_user(&user("grace", 100, 1), None).await.unwrap();
    let claim = IdempotencyClaim::new("invoke:grace".into(), IdempotencyKey::parse("k1").unwrap(), "[\"hi\"]", at(5));
    let h = hold(call(10, 1), vec![], 1_000);
    let mut first = reservation("grace", &h, tokens_within(100), vec![], 0);
    first.idempotency = Some(claim.clone());
    stores.accounts.reserve(&first).await.unwrap();
    let mut retry = reservation("grace", &hold(call(10, 1), vec![], 1_000), tokens_within(100), vec![], 0);
    retry.idempotency = Some(claim.clone());
    match stores.accounts.reserve(&retry).await {
        Err(StoreError::Claimed(record)) => assert_eq!(record.state, IdempotencyState::Pending),
        other => panic!("a retry during the call answered {other:?}"),
    }
    let mut failed = release("grace", &h, None);
    failed.idempotency = Some(claim.clone());
    stores.accounts.release(&failed).await.unwrap();
    assert!(stores.accounts.reserve(&retry).await.is_ok(), "a failed call's key can be used again");
    let mut settled = settlement("grace", &retry.hold, call(5, 1), 9);
    settled.claims = vec![(claim.clone(), serde_json::json!({"text": "done"}))];
    stores.accounts.settle(&settled).await.unwrap();
    let stored = stores.accounts.idempotency("invoke:grace", "k1").await.unwrap().unwrap();
    assert_eq!(stored.state, IdempotencyState::Applied(Some(serde_json::json!({"text": "done"}))));
}

every_store!(
    reservations_never_pass_the_account_ceiling,
    a_counter_ceiling_refuses_the_whole_reservation,
    a_reservation_planned_under_older_rules_is_refused,
    settling_charges_what_was_used_everywhere_it_held,
    a_lease_settles_part_of_its_hold_and_keeps_the_rest,
    releasing_gives_everything_back_once,
    renewed_holds_outlive_the_sweep_and_expired_ones_do_not,
    sixty_four_concurrent_reservations_never_oversubscribe,
    a_reservation_claims_its_key_and_a_release_frees_it,
);
