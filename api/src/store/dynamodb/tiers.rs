//! Tiers on DynamoDB: items `tier#<name>` with their rules (JSON), a version every change
//! bumps (reservations guard on it), and the count of users on them (kept by the transactions
//! that move users, so a tier in use cannot be deleted).

use async_trait::async_trait;

use super::{
    DynamoDbStore,
    codec::{Reader, decode_tier},
    expr::{Change, n, s},
    schema::*,
};
use crate::{
    domain::{StoreError, StoredTier, Tier, TierName, TierStore},
    store::codec::encode_rules,
};

#[async_trait]
impl TierStore for DynamoDbStore {
    async fn tiers(&self) -> Result<Vec<StoredTier>, StoreError> {
        let mut filter = Change::new();
        filter.require_prefix(PK, s("tier#"));
        let mut tiers = self.scan(&filter).await?.iter().map(decode_tier).collect::<Result<Vec<_>, _>>()?;
        tiers.sort_by(|a, b| a.tier.name.cmp(&b.tier.name));
        Ok(tiers)
    }

    async fn tier(&self, name: &TierName) -> Result<Option<StoredTier>, StoreError> {
        self.get(&tier_key(name.as_str())).await?.as_ref().map(decode_tier).transpose()
    }

    /// `UpdateItem SET rules ADD version 1, members 0`: creates or replaces.
    async fn put_tier(&self, tier: &Tier) -> Result<StoredTier, StoreError> {
        let mut change = Change::new();
        change.set(&[RULES], s(encode_rules(&tier.rules))).add(VERSION, 1).set_once(&[MEMBERS], n(0));
        let item = self.update(&tier_key(tier.name.as_str()), &change).await?;
        decode_tier(&item.ok_or_else(|| StoreError::Corrupt("an unconditional update was refused".into()))?)
    }

    /// `DeleteItem` if it exists and no user is on it.
    async fn delete_tier(&self, name: &TierName) -> Result<(), StoreError> {
        let mut unused = Change::new();
        unused.require_exists(&[PK]).require_equal(MEMBERS, n(0));
        let items = vec![self.tx_delete(&tier_key(name.as_str()), &unused)];
        match self.transact(items).await? {
            super::retry::Written::Applied(()) => Ok(()),
            super::retry::Written::Refused(_) => match self.get(&tier_key(name.as_str())).await? {
                None => Err(StoreError::NotFound),
                Some(item) => Err(StoreError::InUse(Reader::new(&item).number(MEMBERS)?)),
            },
        }
    }

    /// Each tier `PutItem` if absent, then the marker that they were seeded.
    async fn seed_tiers(&self, tiers: &[Tier]) -> Result<(), StoreError> {
        if self.get(TIERS_SEEDED).await?.is_some() {
            return Ok(());
        }
        let mut absent = Change::new();
        absent.require_absent(&[PK]);
        for tier in tiers {
            let item = std::collections::HashMap::from([
                (PK.to_owned(), s(tier_key(tier.name.as_str()))),
                (RULES.to_owned(), s(encode_rules(&tier.rules))),
                (VERSION.to_owned(), n(1)),
                (MEMBERS.to_owned(), n(0)),
            ]);
            self.put(item, &absent).await?;
        }
        let marker = std::collections::HashMap::from([(PK.to_owned(), s(TIERS_SEEDED))]);
        self.put(marker, &Change::new()).await.map(drop)
    }
}
