//! Users, their counters and holds, and idempotency claims on DynamoDB. Every step is one
//! conditional `UpdateItem`, or one `TransactWriteItems` when it touches several items (the
//! account, period counters, the claim, the usage event): never read-then-write.
//!
//! Conditions cannot do arithmetic, so every item keeps `committed*` (used plus held) current;
//! a reservation of `h` under a ceiling `c` is `ADD committed h` guarded by
//! `committed <= c − h`, computed by the service.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;

use super::{
    DynamoDbStore,
    codec::{Item, decode_claim, decode_user, encode_claim, encode_new_user},
    expr::{Change, n, s},
    retry::Written,
    schema::*,
};
use crate::{
    domain::{
        AccountStore, Counter, CounterKey, Hold, HoldId, IdempotencyClaim, IdempotencyRecord, IdempotencyState,
        Recording, Release, Reservation, Settlement, StoreError, Timestamp, User, UserChange, UserId,
        quota::GUEST_TIER,
    },
    store::codec::encode_rules,
};

/// The claim's put: only where no live claim of the key is.
pub(super) fn claim_condition(claim: &IdempotencyClaim) -> Change {
    let mut condition = Change::new();
    let now = claim.expires_at.minus(crate::domain::IDEMPOTENCY_TTL);
    condition.require_absent_or_less(&[PK], &[EXPIRES], n(now.millis()));
    condition
}

impl DynamoDbStore {
    /// The claim of `claim`'s key as stored, to answer a refused claim with.
    pub(super) async fn claimed(&self, claim: &IdempotencyClaim) -> Result<StoreError, StoreError> {
        let item = self.get(&claim_key(&claim.scope, claim.key.as_str())).await?;
        let item = item.ok_or_else(|| StoreError::Unavailable("an idempotency claim vanished".into()))?;
        Ok(StoreError::Claimed(Box::new(decode_claim(&item, &claim.scope, claim.key.as_str())?)))
    }

    /// The user after a step applied in a transaction (which answers nothing).
    pub(super) async fn user_after(&self, id: &UserId) -> Result<User, StoreError> {
        self.get(&user_key(id)).await?.as_ref().map(decode_user).transpose()?.ok_or(StoreError::NotFound)
    }

    /// Why a step on `id` was refused when the account's condition failed: the user is gone,
    /// or `otherwise`.
    pub(super) async fn explain(&self, id: &UserId, otherwise: StoreError) -> Result<StoreError, StoreError> {
        Ok(match self.get(&user_key(id)).await? {
            None => StoreError::NotFound,
            Some(_) => otherwise,
        })
    }

    /// Sends one account step: a single `UpdateItem` when it is alone, else a transaction with
    /// `others` (the account first). `Ok(Ok(user))` when applied; `Ok(Err(which))` when refused.
    pub(super) async fn step(
        &self,
        id: &UserId,
        account: &Change,
        others: Vec<TransactWriteItem>,
    ) -> Result<Result<User, Vec<bool>>, StoreError> {
        if others.is_empty() {
            return Ok(match self.update(&user_key(id), account).await? {
                Some(item) => Ok(decode_user(&item)?),
                None => Err(vec![true]),
            });
        }
        let mut items = vec![self.tx_update(&user_key(id), account)];
        items.extend(others);
        match self.transact(items).await? {
            Written::Applied(()) => Ok(Ok(self.user_after(id).await?)),
            Written::Refused(which) => Ok(Err(which)),
        }
    }

    /// Adds the events' sums to their roll-ups, after the step that wrote them.
    pub(super) async fn roll_up(&self, events: &[crate::domain::UsageEvent]) {
        if let Err(err) = self.add_to_rollups(events).await {
            let first = events.first().map(|e| e.id.to_string()).unwrap_or_default();
            tracing::warn!(event = %first, events = events.len(), error = %err, "could not add events to their roll-ups");
        }
    }
}

#[async_trait]
impl AccountStore for DynamoDbStore {
    fn kind(&self) -> &'static str {
        "dynamodb"
    }

    async fn insert_user(
        &self,
        user: &User,
        claim: Option<(&IdempotencyClaim, &serde_json::Value)>,
    ) -> Result<(), StoreError> {
        let mut absent = Change::new();
        absent.require_absent(&[PK]);
        let mut items = vec![self.tx_put(encode_new_user(user), &absent)];
        if let Some(tier) = &user.tier {
            let mut member = Change::new();
            member.add(MEMBERS, 1).require_exists(&[PK]);
            items.push(self.tx_update(&tier_key(tier.as_str()), &member));
        }
        if let Some((claim, outcome)) = claim {
            let state = IdempotencyState::Applied(Some(outcome.clone()));
            items.push(self.tx_put(encode_claim(claim, &state), &claim_condition(claim)));
        }
        if items.len() == 1 {
            return match self.put(encode_new_user(user), &absent).await? {
                true => Ok(()),
                false => Err(StoreError::AlreadyExists),
            };
        }
        match self.transact(items).await? {
            Written::Applied(()) => Ok(()),
            Written::Refused(which) => {
                if let Some((claim, _)) = claim
                    && which.last() == Some(&true)
                {
                    return Err(self.claimed(claim).await?);
                }
                if which.first() == Some(&true) {
                    return Err(StoreError::AlreadyExists);
                }
                Err(StoreError::NotFound)
            }
        }
    }

    async fn user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        self.get(&user_key(id)).await?.as_ref().map(decode_user).transpose()
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        let mut filter = Change::new();
        filter.require_exists(&[TOKEN_LIMIT]);
        let mut users = self.scan(&filter).await?.iter().map(decode_user).collect::<Result<Vec<_>, _>>()?;
        users.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(users)
    }

    async fn update_user(&self, id: &UserId, change: &UserChange, at: Timestamp) -> Result<User, StoreError> {
        let mut account = Change::new();
        account.require_exists(&[PK]).add(RULES_VERSION, 1).set(&[LAST_UPDATED], s(at.to_string()));
        match change {
            UserChange::Limit(limit) => {
                account.set(&[TOKEN_LIMIT], n(limit.get()));
            }
            UserChange::Quotas(rules) if rules.is_empty() => {
                account.remove(&[QUOTAS]);
            }
            UserChange::Quotas(rules) => {
                account.set(&[QUOTAS], s(encode_rules(rules)));
            }
            UserChange::Tier(to) => {
                // The member counts move with the user: guarded by the tier it is on now.
                let current = self.user(id).await?.ok_or(StoreError::NotFound)?;
                if current.tier == *to {
                    return self
                        .update(&user_key(id), &account)
                        .await?
                        .as_ref()
                        .map(decode_user)
                        .transpose()?
                        .ok_or(StoreError::NotFound);
                }
                let mut others = Vec::new();
                match to {
                    Some(tier) => {
                        account.set(&[TIER], s(tier.to_string()));
                        let mut join = Change::new();
                        join.add(MEMBERS, 1).require_exists(&[PK]);
                        others.push(self.tx_update(&tier_key(tier.as_str()), &join));
                    }
                    None => {
                        account.remove(&[TIER]);
                    }
                }
                match &current.tier {
                    Some(old) => {
                        account.require_equal(TIER, s(old.to_string()));
                        let mut leave = Change::new();
                        leave.add(MEMBERS, -1);
                        others.push(self.tx_update(&tier_key(old.as_str()), &leave));
                    }
                    None => {
                        account.require_absent(&[TIER]);
                    }
                }
                return match self.step(id, &account, others).await? {
                    Ok(user) => Ok(user),
                    // The tier does not exist, or the user moved meanwhile: the caller retries.
                    Err(which) if which.first() == Some(&true) => Err(self.explain(id, StoreError::Refused).await?),
                    Err(_) => Err(StoreError::Refused),
                };
            }
        }
        self.update(&user_key(id), &account).await?.as_ref().map(decode_user).transpose()?.ok_or(StoreError::NotFound)
    }

    async fn delete_user(&self, id: &UserId, at: Timestamp) -> Result<(), StoreError> {
        loop {
            let Some(item) = self.get(&user_key(id)).await? else { return Err(StoreError::NotFound) };
            let user = decode_user(&item)?;
            let issued = super::codec::Reader::new(&item).number(KEYS_ISSUED)?;
            // Every key of the user, revoked first; the index may lag behind the key count.
            let keys = self.query((GSI1, GSI1_PK, GSI1_SK), &keys_of(id), super::Sort::All, false, 0).await?;
            if (keys.len() as u64) < issued {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
            for key in &keys {
                let pk = key.get(PK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                let mut revoke = Change::new();
                revoke.set_once(&[REVOKED_AT], s(at.to_string())).require_exists(&[PK]);
                self.update(&pk, &revoke).await?;
            }
            let counters =
                self.query((GSI1, GSI1_PK, GSI1_SK), &format!("ctr#{id}"), super::Sort::All, false, 0).await?;
            let conversations = self.conversation_index(id).await?;
            // The user goes only if no key was issued since it was read.
            let mut gone = Change::new();
            gone.require_equal(KEYS_ISSUED, n(issued));
            let forget_conversations = self.tx_delete(&super::conversations::index_key(id), &Change::new());
            let mut items = vec![self.tx_delete(&user_key(id), &gone), forget_conversations];
            if let Some(tier) = &user.tier {
                let mut leave = Change::new();
                leave.add(MEMBERS, -1);
                items.push(self.tx_update(&tier_key(tier.as_str()), &leave));
            }
            for counter in counters.iter().take(super::MAX_TRANSACTION_ITEMS - items.len()) {
                let pk = counter.get(PK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                items.push(self.tx_delete(&pk, &Change::new()));
            }
            match self.transact(items).await? {
                Written::Applied(()) => {
                    self.forget_turns(conversations.as_ref()).await;
                    return Ok(());
                }
                // A key was issued (or the user changed) meanwhile: look again.
                Written::Refused(_) => continue,
            }
        }
    }

    async fn counters(&self, id: &UserId, keys: &[CounterKey]) -> Result<Vec<Counter>, StoreError> {
        let pks: Vec<String> = keys.iter().map(|k| counter_key(id, k)).collect();
        let found = self.get_many(&pks).await?;
        pks.iter()
            .map(|pk| match found.get(pk) {
                Some(item) => super::codec::Reader::new(item).counter(&COUNTER_USED),
                None => Ok(Counter::default()),
            })
            .collect()
    }

    async fn reserve(&self, r: &Reservation) -> Result<User, StoreError> {
        self.reserve_hold(r).await
    }

    async fn settle(&self, st: &Settlement) -> Result<User, StoreError> {
        self.settle_hold(st).await
    }

    async fn release(&self, r: &Release) -> Result<Option<User>, StoreError> {
        self.release_hold(r).await
    }

    async fn renew(&self, user: &UserId, hold: &HoldId, expires_at: Timestamp) -> Result<(), StoreError> {
        self.renew_hold(user, hold, expires_at).await
    }

    async fn expired_holds(&self, now: Timestamp) -> Result<Vec<(UserId, Hold)>, StoreError> {
        self.expired_holds_scan(now).await
    }

    async fn record(&self, r: &Recording) -> Result<User, StoreError> {
        self.record_usage(r).await
    }

    async fn idempotency(&self, scope: &str, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.get(&claim_key(scope, key)).await?.map(|item| decode_claim(&item, scope, key)).transpose()
    }

    async fn complete_idempotency(
        &self,
        claim: &IdempotencyClaim,
        outcome: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let state = IdempotencyState::Applied(Some(outcome.clone()));
        self.put(encode_claim(claim, &state), &Change::new()).await.map(drop)
    }

    async fn migrate_guest(&self, guest: &UserId, into: &User) -> Result<User, StoreError> {
        let Some(item) = self.get(&user_key(guest)).await? else { return Err(StoreError::NotFound) };
        let old = decode_user(&item)?;
        let issued = super::codec::Reader::new(&item).number(KEYS_ISSUED)?;
        let mut moved = into.clone();
        moved.account = old.account;
        let mut absent = Change::new();
        absent.require_absent(&[PK]);
        let mut unchanged = Change::new();
        unchanged.require_equal(KEYS_ISSUED, n(issued)).require_empty(HOLDS);
        let mut items =
            vec![self.tx_put(encode_new_user(&moved), &absent), self.tx_delete(&user_key(guest), &unchanged)];
        if let Some(tier) = &old.tier {
            let mut leave = Change::new();
            leave.add(MEMBERS, -1);
            items.push(self.tx_update(&tier_key(tier.as_str()), &leave));
        }
        if let Some(tier) = &into.tier {
            let mut join = Change::new();
            join.add(MEMBERS, 1).require_exists(&[PK]);
            items.push(self.tx_update(&tier_key(tier.as_str()), &join));
        }
        if let Some(mut conversations) = self.conversation_index(guest).await? {
            conversations.insert(PK.to_owned(), s(super::conversations::index_key(&into.id)));
            items.push(self.tx_put(conversations, &absent));
            items.push(self.tx_delete(&super::conversations::index_key(guest), &Change::new()));
        }
        let counters =
            self.query((GSI1, GSI1_PK, GSI1_SK), &format!("ctr#{guest}"), super::Sort::All, false, 0).await?;
        for counter in &counters {
            let pk = counter.get(PK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            let Some(rest) = pk.strip_prefix(&counter_prefix(guest)) else { continue };
            let mut copy: Item = counter.clone();
            copy.insert(PK.to_owned(), s(format!("{}{rest}", counter_prefix(&into.id))));
            copy.insert(GSI1_PK.to_owned(), s(format!("ctr#{}", into.id)));
            items.push(self.tx_put(copy, &Change::new()));
            items.push(self.tx_delete(&pk, &Change::new()));
        }
        let keys = self.query((GSI1, GSI1_PK, GSI1_SK), &keys_of(guest), super::Sort::All, false, 0).await?;
        for key in &keys {
            let pk = key.get(PK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            let mut revoke = Change::new();
            revoke.set_once(&[REVOKED_AT], s(into.last_updated.to_string()));
            items.push(self.tx_update(&pk, &revoke));
        }
        match self.transact(items).await? {
            Written::Applied(()) => self.user_after(&into.id).await,
            Written::Refused(which) if which.first() == Some(&true) => Err(StoreError::AlreadyExists),
            Written::Refused(which) if which.get(1) == Some(&true) => Err(StoreError::Refused),
            Written::Refused(_) => Err(StoreError::NotFound),
        }
    }

    async fn idle_guests(&self, before: Timestamp) -> Result<Vec<UserId>, StoreError> {
        let mut filter = Change::new();
        filter.require_equal(TIER, s(GUEST_TIER)).require_less(&[LAST_UPDATED], s(before.to_string()));
        self.scan(&filter).await?.iter().map(|item| decode_user(item).map(|u| u.id)).collect()
    }
}
