//! The calls' steps on DynamoDB: reserving a hold under the account's and every counter's
//! ceiling, settling or releasing it, renewing it, and recording usage that needs no hold.
//! Each is one conditional `UpdateItem` or one `TransactWriteItems` (see `accounts`).

use super::{
    DynamoDbStore,
    accounts::claim_condition,
    codec::{decode_holds, decode_user, encode_claim, encode_hold},
    events::rollup_changes,
    expr::{Change, n, s},
    schema::*,
};
use crate::domain::{
    AccountStore, Amounts, Ceiling, CounterKey, Hold, HoldId, IdempotencyState, MAX_TOKENS, Recording, Release,
    Reservation, Settlement, StoreError, Timestamp, User, UserId,
};

/// The most usage one account may record (2^53 − 1, exact in every JSON reader): past this, a
/// record is refused as an overflow.
const MAX_USAGE: u128 = MAX_TOKENS as u128;

fn signed(a: u64) -> i128 {
    i128::from(a)
}

/// `ADD` each metric of `by` to the `names` attributes (negated with `sign = -1`).
fn add_amounts(change: &mut Change, names: &Metrics, by: Amounts, sign: i128) {
    change.add(names.tokens, sign * signed(by.tokens));
    change.add(names.requests, sign * signed(by.requests));
    change.add(names.cost, sign * signed(by.cost.nanos()));
}

/// Guards `committed + adding` within `ceiling`; `false` when it cannot hold at all.
fn within(change: &mut Change, ceiling: &Ceiling, adding: Amounts) -> bool {
    let limits = [
        (COMMITTED.tokens, ceiling.tokens, adding.tokens),
        (COMMITTED.requests, ceiling.requests, adding.requests),
        (COMMITTED.cost, ceiling.cost.map(|c| c.nanos()), adding.cost.nanos()),
    ];
    for (attr, max, add) in limits {
        if let Some(max) = max {
            match max.checked_sub(add) {
                Some(room) => {
                    change.require_at_most(attr, u128::from(room));
                }
                None => return false,
            }
        }
    }
    true
}

/// The change to a counter item: its index keys and expiry, then the caller's part.
fn counter_change(user: &UserId, key: &CounterKey, expires_at: Option<Timestamp>) -> Change {
    let mut change = Change::new();
    change.set(&[GSI1_PK], s(format!("ctr#{user}"))).set(&[GSI1_SK], s(format!("{}#{}", key.window, key.scope)));
    if let Some(at) = expires_at {
        change.set(&[TTL], n(at.seconds()));
    }
    change
}

impl DynamoDbStore {
    pub(super) async fn reserve_hold(&self, r: &Reservation) -> Result<User, StoreError> {
        let amounts = r.hold.amounts;
        let mut account = Change::new();
        account
            .require_exists(&[PK])
            .require_equal(RULES_VERSION, n(r.guards.rules_version))
            .set(&[HOLDS, r.hold.id.as_str()], encode_hold(&r.hold));
        add_amounts(&mut account, &COMMITTED, amounts, 1);
        if !within(&mut account, &r.account, amounts) {
            return Err(StoreError::Refused);
        }
        let mut others = Vec::new();
        for charge in &r.counters {
            let mut counter = counter_change(&r.user, &charge.key, charge.expires_at);
            add_amounts(&mut counter, &COMMITTED, amounts, 1);
            if !within(&mut counter, &charge.ceiling, amounts) {
                return Err(StoreError::Refused);
            }
            others.push(self.tx_update(&counter_key(&r.user, &charge.key), &counter));
        }
        if let Some((tier, version)) = &r.guards.tier_version {
            let mut unchanged = Change::new();
            unchanged.require_equal(VERSION, n(version));
            others.push(self.tx_check(&tier_key(tier.as_str()), &unchanged));
        }
        if let Some(claim) = &r.idempotency {
            others.push(self.tx_put(encode_claim(claim, &IdempotencyState::Pending), &claim_condition(claim)));
        }
        match self.step(&r.user, &account, others).await? {
            Ok(user) => Ok(user),
            Err(which) => {
                if let Some(claim) = &r.idempotency
                    && which.last() == Some(&true)
                {
                    return Err(self.claimed(claim).await?);
                }
                if which.first() == Some(&true) {
                    return Err(self.explain(&r.user, StoreError::Refused).await?);
                }
                Err(StoreError::Refused)
            }
        }
    }

    pub(super) async fn settle_hold(&self, st: &Settlement) -> Result<User, StoreError> {
        let held = st.hold.amounts;
        // A lease keeps its hold, holding less; a call's hold goes.
        let left = st.keep.unwrap_or(Amounts::ZERO);
        let hold_path = [HOLDS, st.hold.id.as_str()];
        let mut account = Change::new();
        account.require_exists(&hold_path);
        match st.keep {
            Some(keep) => account.set(&hold_path, encode_hold(&Hold { amounts: keep, ..st.hold.clone() })),
            None => account.remove(&hold_path),
        };
        account.set(&[LAST_UPDATED], s(st.at.to_string()));
        add_amounts(&mut account, &ACCOUNT_USED, st.used, 1);
        let delta = |used: u64, held: u64, left: u64| signed(used) - signed(held) + signed(left);
        let committed = |change: &mut Change| {
            change.add(COMMITTED.tokens, delta(st.used.tokens, held.tokens, left.tokens));
            change.add(COMMITTED.requests, delta(st.used.requests, held.requests, left.requests));
            change.add(COMMITTED.cost, delta(st.used.cost.nanos(), held.cost.nanos(), left.cost.nanos()));
        };
        committed(&mut account);
        let mut others = Vec::new();
        for key in &st.hold.counters {
            let mut counter = Change::new();
            add_amounts(&mut counter, &COUNTER_USED, st.used, 1);
            committed(&mut counter);
            others.push(self.tx_update(&counter_key(&st.user, key), &counter));
        }
        for event in &st.events {
            others.push(self.tx_put(self.event_item(event), &Change::new()));
        }
        // A lease's batch adds to its roll-ups in the same step (one write for the batch); a
        // call's settlement adds after it, so calls of many users do not contend for a model's
        // roll-up items inside their transactions.
        let batch = st.keep.is_some() || st.events.len() > 1;
        if batch {
            others.extend(rollup_changes(&st.events).iter().map(|(pk, change)| self.tx_update(pk, change)));
        }
        for (claim, outcome) in &st.claims {
            let state = IdempotencyState::Applied(Some(outcome.clone()));
            others.push(self.tx_put(encode_claim(claim, &state), &Change::new()));
        }
        match self.step(&st.user, &account, others).await? {
            Ok(user) => {
                if !batch {
                    self.roll_up(&st.events).await;
                }
                Ok(user)
            }
            Err(_) => Err(self.explain(&st.user, StoreError::HoldGone).await?),
        }
    }

    pub(super) async fn release_hold(&self, r: &Release) -> Result<Option<User>, StoreError> {
        let held = r.hold.amounts;
        let mut account = Change::new();
        account.require_exists(&[HOLDS, r.hold.id.as_str()]).remove(&[HOLDS, r.hold.id.as_str()]);
        if let Some(before) = r.expired_before {
            account.require_less(&[HOLDS, r.hold.id.as_str(), HOLD_EXPIRES], n(before.millis()));
        }
        add_amounts(&mut account, &COMMITTED, held, -1);
        let mut others = Vec::new();
        for key in &r.hold.counters {
            let mut counter = Change::new();
            add_amounts(&mut counter, &COMMITTED, held, -1);
            others.push(self.tx_update(&counter_key(&r.user, key), &counter));
        }
        let released = self.step(&r.user, &account, others).await?;
        // A failed call's event and its forgotten claim stand on their own.
        if let Some(event) = &r.event {
            self.put(self.event_item(event), &Change::new()).await?;
            self.roll_up(std::slice::from_ref(event)).await;
        }
        if let Some(claim) = &r.idempotency {
            self.delete(&claim_key(&claim.scope, claim.key.as_str())).await?;
        }
        Ok(released.ok())
    }

    pub(super) async fn renew_hold(
        &self,
        user: &UserId,
        hold: &HoldId,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut change = Change::new();
        change
            .require_exists(&[HOLDS, hold.as_str()])
            .set(&[HOLDS, hold.as_str(), HOLD_EXPIRES], n(expires_at.millis()));
        match self.update(&user_key(user), &change).await? {
            Some(_) => Ok(()),
            None => Err(StoreError::HoldGone),
        }
    }

    pub(super) async fn expired_holds_scan(&self, now: Timestamp) -> Result<Vec<(UserId, Hold)>, StoreError> {
        let mut filter = Change::new();
        filter.require_exists(&[TOKEN_LIMIT]).require_nonempty(HOLDS);
        let mut expired = Vec::new();
        for item in self.scan(&filter).await? {
            let user = decode_user(&item)?;
            for hold in decode_holds(&item)? {
                if hold.expires_at < now {
                    expired.push((user.id.clone(), hold));
                }
            }
        }
        Ok(expired)
    }

    pub(super) async fn record_usage(&self, r: &Recording) -> Result<User, StoreError> {
        let amounts = r.amounts;
        let mut account = Change::new();
        account
            .require_exists(&[PK])
            .require_at_most(TOKEN_USAGE, MAX_USAGE - u128::from(amounts.tokens))
            .set(&[LAST_UPDATED], s(r.event.at.to_string()));
        add_amounts(&mut account, &ACCOUNT_USED, amounts, 1);
        add_amounts(&mut account, &COMMITTED, amounts, 1);
        if !within(&mut account, &r.account, amounts) {
            return Err(StoreError::Refused);
        }
        let mut others = Vec::new();
        for charge in &r.counters {
            let mut counter = counter_change(&r.user, &charge.key, charge.expires_at);
            add_amounts(&mut counter, &COUNTER_USED, amounts, 1);
            add_amounts(&mut counter, &COMMITTED, amounts, 1);
            if !within(&mut counter, &charge.ceiling, amounts) {
                return Err(StoreError::Refused);
            }
            others.push(self.tx_update(&counter_key(&r.user, &charge.key), &counter));
        }
        others.push(self.tx_put(self.event_item(&r.event), &Change::new()));
        if let Some(claim) = &r.idempotency {
            let state = IdempotencyState::Applied(None);
            others.push(self.tx_put(encode_claim(claim, &state), &claim_condition(claim)));
        }
        match self.step(&r.user, &account, others).await? {
            Ok(user) => {
                self.roll_up(std::slice::from_ref(&r.event)).await;
                Ok(user)
            }
            Err(which) => {
                if let Some(claim) = &r.idempotency
                    && which.last() == Some(&true)
                {
                    return Err(self.claimed(claim).await?);
                }
                match self.user(&r.user).await? {
                    None => Err(StoreError::NotFound),
                    Some(user) if user.token_usage().checked_add(amounts.tokens).is_none() => Err(StoreError::Overflow),
                    Some(_) => Err(StoreError::Refused),
                }
            }
        }
    }
}
