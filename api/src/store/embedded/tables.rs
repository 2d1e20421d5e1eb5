//! The tables one batch transaction of the writer writes, with the reads and writes the
//! steps share: records by key, claims, tier members, events with their roll-ups, counters.

use redb::{ReadableTable, TableHandle};

use super::records::{
    COUNTERS, ClaimRecord, CounterRecord, EVENTS, EVENTS_BY_USER, IDEMPOTENCY, ROLLUPS, TIERS, Table, TierRecord,
    USERS, UserRecord, claim_id, counter_id, decode, encode,
};
use crate::{
    domain::{
        Amounts, CounterCharge, IdempotencyClaim, IdempotencyState, StoreError, Timestamp, Totals, UsageEvent, UserId,
    },
    store::codec::{StoredEvent, StoredTotals},
};

pub(super) fn unavailable(err: impl Into<redb::Error>) -> StoreError {
    StoreError::Unavailable(format!("embedded store: {}", err.into()))
}

/// The tables one batch writes, open for the length of its transaction.
pub(super) struct Tables<'t> {
    tables: Vec<redb::Table<'t, &'static str, &'static [u8]>>,
}

impl<'t> Tables<'t> {
    pub(super) fn open(txn: &'t redb::WriteTransaction) -> Result<Self, StoreError> {
        let tables = super::records::ALL_TABLES
            .iter()
            .map(|table| txn.open_table(*table).map_err(unavailable))
            .collect::<Result<_, _>>()?;
        Ok(Self { tables })
    }

    pub(super) fn table(&mut self, which: Table) -> &mut redb::Table<'t, &'static str, &'static [u8]> {
        let index = super::records::ALL_TABLES.iter().position(|t| t.name() == which.name()).expect("a known table");
        &mut self.tables[index]
    }

    pub(super) fn get<T: for<'de> serde::Deserialize<'de>>(
        &mut self,
        which: Table,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let table = self.table(which);
        match table.get(key).map_err(unavailable)? {
            Some(bytes) => decode(which.name(), bytes.value()).map(Some),
            None => Ok(None),
        }
    }

    pub(super) fn put<T: serde::Serialize>(&mut self, which: Table, key: &str, record: &T) -> Result<(), StoreError> {
        self.table(which).insert(key, encode(record).as_slice()).map_err(unavailable)?;
        Ok(())
    }

    pub(super) fn remove(&mut self, which: Table, key: &str) -> Result<bool, StoreError> {
        Ok(self.table(which).remove(key).map_err(unavailable)?.is_some())
    }

    /// The keys of `which` that start with `prefix`.
    pub(super) fn keys_with_prefix(&mut self, which: Table, prefix: &str) -> Result<Vec<String>, StoreError> {
        let table = self.table(which);
        let mut found = Vec::new();
        for entry in table.range(prefix..).map_err(unavailable)? {
            let (key, _) = entry.map_err(unavailable)?;
            if !key.value().starts_with(prefix) {
                break;
            }
            found.push(key.value().to_owned());
        }
        Ok(found)
    }

    pub(super) fn user(&mut self, id: &UserId) -> Result<Option<UserRecord>, StoreError> {
        self.get(USERS, id.as_str())
    }

    pub(super) fn save_user(&mut self, id: &UserId, record: &UserRecord) -> Result<(), StoreError> {
        self.put(USERS, id.as_str(), record)
    }

    pub(super) fn counter(&mut self, id: &str) -> Result<CounterRecord, StoreError> {
        Ok(self.get(COUNTERS, id)?.unwrap_or_default())
    }

    /// A claim made before `claim` and not yet expired when `claim` was made.
    pub(super) fn claimed(&mut self, claim: &IdempotencyClaim) -> Result<Option<StoreError>, StoreError> {
        let now = claim.expires_at.minus(crate::domain::IDEMPOTENCY_TTL);
        let id = claim_id(&claim.scope, claim.key.as_str());
        let Some(stored) = self.get::<ClaimRecord>(IDEMPOTENCY, &id)? else { return Ok(None) };
        if stored.expired(now) {
            return Ok(None);
        }
        Ok(Some(StoreError::Claimed(Box::new(stored.to_record(&claim.scope, claim.key.as_str())?))))
    }

    pub(super) fn put_claim(&mut self, claim: &IdempotencyClaim, state: IdempotencyState) -> Result<(), StoreError> {
        self.put(IDEMPOTENCY, &claim_id(&claim.scope, claim.key.as_str()), &ClaimRecord::new(claim, state))
    }

    pub(super) fn tier(&mut self, name: &str) -> Result<Option<TierRecord>, StoreError> {
        self.get(TIERS, name)
    }

    /// Adds `by` (±1) to a tier's member count; `false` when there is no such tier.
    pub(super) fn count_member(&mut self, name: &str, by: i64) -> Result<bool, StoreError> {
        let Some(mut tier) = self.tier(name)? else { return Ok(false) };
        tier.members = tier.members.saturating_add_signed(by);
        self.put(TIERS, name, &tier)?;
        Ok(true)
    }

    /// Writes an event, its place in its user's log, and what it adds to its two roll-ups.
    pub(super) fn put_event(&mut self, event: &UsageEvent) -> Result<(), StoreError> {
        let id = event.id.to_string();
        self.put(EVENTS, &id, &StoredEvent::from(event))?;
        self.table(EVENTS_BY_USER).insert(format!("{}|{id}", event.user).as_str(), &[][..]).map_err(unavailable)?;
        let hour = event.at.hour_start();
        let expires = hour.plus(event.at.until(event.expires_at));
        let totals = Totals::of(event);
        for user in [event.user.as_str(), "*"] {
            let key = format!("{:013}|{user}|{}", hour.millis(), event.model);
            let mut sums = self.get::<StoredTotals>(ROLLUPS, &key)?.map(|s| s.to_totals()).unwrap_or_default();
            sums.add(&totals);
            self.put(ROLLUPS, &key, &StoredTotals::from_totals(&sums, expires))?;
        }
        Ok(())
    }

    /// Checks `amounts` more against each counter's ceiling; `true` when all admit them.
    pub(super) fn counters_admit(
        &mut self,
        user: &UserId,
        charges: &[CounterCharge],
        amounts: Amounts,
    ) -> Result<bool, StoreError> {
        for charge in charges {
            let counter = self.counter(&counter_id(user, &charge.key))?.counter();
            if !charge.ceiling.admits(counter.committed().saturating_add(amounts)) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Changes each named counter of `user` by `change`, keeping its expiry.
    pub(super) fn change_counters<'k>(
        &mut self,
        user: &UserId,
        keys: impl Iterator<Item = (&'k crate::domain::CounterKey, Option<Timestamp>)>,
        change: impl Fn(&mut CounterRecord),
    ) -> Result<(), StoreError> {
        for (key, expires_at) in keys {
            let id = counter_id(user, key);
            let mut counter = self.counter(&id)?;
            change(&mut counter);
            if let Some(at) = expires_at {
                counter.expires_ms = Some(at.millis());
            }
            self.put(COUNTERS, &id, &counter)?;
        }
        Ok(())
    }
}
