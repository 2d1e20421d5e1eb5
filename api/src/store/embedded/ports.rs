//! The domain's store ports on the embedded store: writes go to the writer thread; reads use
//! redb's MVCC snapshots and never wait for it. Point reads run where they are called (a read
//! transaction and one B-tree descent take microseconds); scans run on the blocking pool.

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable, TableHandle};

use super::{
    EmbeddedStore, Write,
    apply::Written,
    records::{
        COUNTERS, ClaimRecord, CounterRecord, EVENTS, EVENTS_BY_USER, IDEMPOTENCY, KEYS, KeyRecord, ROLLUPS, TIERS,
        Table, TierRecord, USERS, UserRecord, claim_id, counter_id, decode,
    },
    tables::unavailable,
};
use crate::{
    domain::{
        AccountStore, ApiKey, Counter, CounterKey, EventQuery, EventStore, Hold, HoldId, IdempotencyClaim,
        IdempotencyRecord, KeyId, KeyStore, Recording, Release, Reservation, Rollup, Settlement, StoreError,
        StoredTier, Tier, TierName, TierStore, Timestamp, UsageEvent, User, UserChange, UserId, quota::GUEST_TIER,
    },
    store::codec::{StoredEvent, StoredTotals, corrupt},
};

pub(super) type ReadTable = redb::ReadOnlyTable<&'static str, &'static [u8]>;

impl EmbeddedStore {
    /// A point lookup, run where it is called.
    fn lookup<T: for<'de> serde::Deserialize<'de>>(&self, which: Table, key: &str) -> Result<Option<T>, StoreError> {
        let txn = self.db.begin_read().map_err(unavailable)?;
        let table = txn.open_table(which).map_err(unavailable)?;
        match table.get(key).map_err(unavailable)? {
            Some(bytes) => decode(which.name(), bytes.value()).map(Some),
            None => Ok(None),
        }
    }

    /// A read that may scan, on the blocking pool.
    pub(super) async fn scan<T: Send + 'static>(
        &self,
        table: Table,
        read: impl FnOnce(&ReadTable) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = std::sync::Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(unavailable)?;
            let table = txn.open_table(table).map_err(unavailable)?;
            read(&table)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("read task failed: {e}")))?
    }
}

/// Every (key, decoded value) of a table, in key order.
fn entries<T: for<'de> serde::Deserialize<'de>>(table: &ReadTable, what: &str) -> Result<Vec<(String, T)>, StoreError> {
    let mut found = Vec::new();
    for entry in table.iter().map_err(unavailable)? {
        let (key, value) = entry.map_err(unavailable)?;
        found.push((key.value().to_owned(), decode(what, value.value())?));
    }
    Ok(found)
}

fn user_id(raw: &str) -> Result<UserId, StoreError> {
    UserId::parse("userId", raw).map_err(|e| corrupt("user ID", e))
}

#[async_trait]
impl AccountStore for EmbeddedStore {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    async fn insert_user(
        &self,
        user: &User,
        claim: Option<(&IdempotencyClaim, &serde_json::Value)>,
    ) -> Result<(), StoreError> {
        let claim = claim.map(|(c, v)| (c.clone(), v.clone()));
        self.write_nothing(Write::InsertUser(user.clone(), claim)).await
    }

    async fn user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        self.lookup::<UserRecord>(USERS, id.as_str())?.map(|record| record.to_user(id)).transpose()
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        self.scan(USERS, |table| {
            entries::<UserRecord>(table, "users")?
                .into_iter()
                .map(|(id, record)| record.to_user(&user_id(&id)?))
                .collect()
        })
        .await
    }

    async fn update_user(&self, id: &UserId, change: &UserChange, at: Timestamp) -> Result<User, StoreError> {
        self.write_user(Write::UpdateUser(id.clone(), change.clone(), at)).await
    }

    async fn delete_user(&self, id: &UserId, at: Timestamp) -> Result<(), StoreError> {
        self.write_nothing(Write::DeleteUser(id.clone(), at)).await
    }

    async fn counters(&self, id: &UserId, keys: &[CounterKey]) -> Result<Vec<Counter>, StoreError> {
        let txn = self.db.begin_read().map_err(unavailable)?;
        let table = txn.open_table(COUNTERS).map_err(unavailable)?;
        keys.iter()
            .map(|key| match table.get(counter_id(id, key).as_str()).map_err(unavailable)? {
                Some(bytes) => decode::<CounterRecord>("counters", bytes.value()).map(|c| c.counter()),
                None => Ok(Counter::default()),
            })
            .collect()
    }

    async fn reserve(&self, reservation: &Reservation) -> Result<User, StoreError> {
        self.write_user(Write::Reserve(reservation.clone())).await
    }

    async fn settle(&self, settlement: &Settlement) -> Result<User, StoreError> {
        self.write_user(Write::Settle(settlement.clone())).await
    }

    async fn release(&self, release: &Release) -> Result<Option<User>, StoreError> {
        match self.write(Write::Release(release.clone())).await? {
            Written::MaybeUser(user) => Ok(user),
            _ => Err(StoreError::Corrupt("a release answered no user".into())),
        }
    }

    async fn renew(&self, user: &UserId, hold: &HoldId, expires_at: Timestamp) -> Result<(), StoreError> {
        self.write_nothing(Write::Renew(user.clone(), hold.clone(), expires_at)).await
    }

    async fn expired_holds(&self, now: Timestamp) -> Result<Vec<(UserId, Hold)>, StoreError> {
        self.scan(USERS, move |table| {
            let mut expired = Vec::new();
            for (id, record) in entries::<UserRecord>(table, "users")? {
                for hold_id in record.holds.keys() {
                    if let Some(hold) = record.hold(hold_id)?
                        && hold.expires_at < now
                    {
                        expired.push((user_id(&id)?, hold));
                    }
                }
            }
            Ok(expired)
        })
        .await
    }

    async fn record(&self, recording: &Recording) -> Result<User, StoreError> {
        self.write_user(Write::Record(recording.clone())).await
    }

    async fn idempotency(&self, scope: &str, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.lookup::<ClaimRecord>(IDEMPOTENCY, &claim_id(scope, key))?.map(|c| c.to_record(scope, key)).transpose()
    }

    async fn complete_idempotency(
        &self,
        claim: &IdempotencyClaim,
        outcome: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.write_nothing(Write::CompleteClaim(claim.clone(), outcome.clone())).await
    }

    async fn migrate_guest(&self, guest: &UserId, into: &User) -> Result<User, StoreError> {
        self.write_user(Write::MigrateGuest(guest.clone(), into.clone())).await
    }

    async fn idle_guests(&self, before: Timestamp) -> Result<Vec<UserId>, StoreError> {
        self.scan(USERS, move |table| {
            let mut idle = Vec::new();
            for (id, record) in entries::<UserRecord>(table, "users")? {
                if record.tier.as_deref() == Some(GUEST_TIER) && record.updated_ms < before.millis() {
                    idle.push(user_id(&id)?);
                }
            }
            Ok(idle)
        })
        .await
    }
}

#[async_trait]
impl KeyStore for EmbeddedStore {
    async fn insert_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        self.write_nothing(Write::InsertKey(key.clone())).await
    }

    async fn key(&self, id: &KeyId) -> Result<Option<ApiKey>, StoreError> {
        self.lookup::<KeyRecord>(KEYS, id.as_str())?.map(|record| record.to_key(id.clone())).transpose()
    }

    async fn keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        self.scan(KEYS, |table| {
            entries::<KeyRecord>(table, "keys")?
                .into_iter()
                .map(|(id, record)| record.to_key(KeyId::parse(&id).ok_or_else(|| corrupt("key ID", &id))?))
                .collect()
        })
        .await
    }

    async fn revoke_key(&self, id: &KeyId, at: Timestamp) -> Result<ApiKey, StoreError> {
        match self.write(Write::RevokeKey(id.clone(), at)).await? {
            Written::Key(key) => Ok(key),
            _ => Err(StoreError::Corrupt("a revocation answered no key".into())),
        }
    }
}

#[async_trait]
impl TierStore for EmbeddedStore {
    async fn tiers(&self) -> Result<Vec<StoredTier>, StoreError> {
        self.scan(TIERS, |table| {
            entries::<TierRecord>(table, "tiers")?.into_iter().map(|(name, record)| record.to_tier(&name)).collect()
        })
        .await
    }

    async fn tier(&self, name: &TierName) -> Result<Option<StoredTier>, StoreError> {
        self.lookup::<TierRecord>(TIERS, name.as_str())?.map(|record| record.to_tier(name.as_str())).transpose()
    }

    async fn put_tier(&self, tier: &Tier) -> Result<StoredTier, StoreError> {
        match self.write(Write::PutTier(tier.clone())).await? {
            Written::Tier(stored) => Ok(stored),
            _ => Err(StoreError::Corrupt("a tier write answered no tier".into())),
        }
    }

    async fn delete_tier(&self, name: &TierName) -> Result<(), StoreError> {
        self.write_nothing(Write::DeleteTier(name.clone())).await
    }

    async fn seed_tiers(&self, tiers: &[Tier]) -> Result<(), StoreError> {
        self.write_nothing(Write::SeedTiers(tiers.to_vec())).await
    }
}

#[async_trait]
impl EventStore for EmbeddedStore {
    async fn put_event(&self, event: &UsageEvent) -> Result<(), StoreError> {
        self.write_nothing(Write::PutEvent(event.clone())).await
    }

    async fn events(&self, query: &EventQuery) -> Result<Vec<UsageEvent>, StoreError> {
        let query = query.clone();
        let db = std::sync::Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(unavailable)?;
            let events = txn.open_table(EVENTS).map_err(unavailable)?;
            let ids: Vec<String> = match &query.user {
                Some(user) => {
                    let index = txn.open_table(EVENTS_BY_USER).map_err(unavailable)?;
                    let prefix = format!("{user}|");
                    let end = format!("{prefix}{}", query.before);
                    let mut ids = Vec::new();
                    for entry in index.range(prefix.as_str()..end.as_str()).map_err(unavailable)?.rev() {
                        let (key, _) = entry.map_err(unavailable)?;
                        ids.push(key.value()[prefix.len()..].to_owned());
                        if ids.len() == query.limit {
                            break;
                        }
                    }
                    ids
                }
                None => {
                    let end = query.before.to_string();
                    let mut ids = Vec::new();
                    for entry in events.range(..end.as_str()).map_err(unavailable)?.rev() {
                        let (key, _) = entry.map_err(unavailable)?;
                        ids.push(key.value().to_owned());
                        if ids.len() == query.limit {
                            break;
                        }
                    }
                    ids
                }
            };
            ids.into_iter()
                .filter_map(|id| events.get(id.as_str()).transpose())
                .map(|found| {
                    let bytes = found.map_err(unavailable)?;
                    decode::<StoredEvent>("events", bytes.value())?.into_event()
                })
                .collect()
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("read task failed: {e}")))?
    }

    async fn rollups(&self, from: Timestamp, to: Timestamp, user: Option<&UserId>) -> Result<Vec<Rollup>, StoreError> {
        let wanted = user.map_or_else(|| "*".to_owned(), UserId::to_string);
        self.scan(ROLLUPS, move |table| {
            let (start, end) = (format!("{:013}", from.hour_start().millis()), format!("{:013}", to.millis()));
            let mut found = Vec::new();
            for entry in table.range(start.as_str()..end.as_str()).map_err(unavailable)? {
                let (key, value) = entry.map_err(unavailable)?;
                let mut parts = key.value().splitn(3, '|');
                let (Some(hour), Some(owner), Some(model)) = (parts.next(), parts.next(), parts.next()) else {
                    return Err(corrupt("roll-up key", key.value()));
                };
                if owner != wanted {
                    continue;
                }
                let hour = Timestamp::from_millis(hour.parse().map_err(|e| corrupt("roll-up hour", e))?);
                let totals = decode::<StoredTotals>("rollups", value.value())?.to_totals();
                let user = (owner != "*").then(|| user_id(owner)).transpose()?;
                found.push(Rollup { hour, user, model: model.to_owned(), totals });
            }
            Ok(found)
        })
        .await
    }
}
