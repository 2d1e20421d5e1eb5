//! API keys on DynamoDB: items `apikey#<keyId>`, indexed by owner. A user key is issued in
//! one transaction with a condition on its user's existence that also bumps the user's
//! `keysIssued`, so issuing a key and deleting its user are serialised.

use async_trait::async_trait;

use super::{
    DynamoDbStore,
    codec::{decode_key, encode_key},
    expr::{Change, s},
    retry::Written,
    schema::*,
};
use crate::domain::{ApiKey, KeyId, KeyStore, Role, StoreError, Timestamp};

#[async_trait]
impl KeyStore for DynamoDbStore {
    /// `PutItem` if new; for a user key, in a transaction with `ADD keysIssued 1` on the user
    /// if the user exists.
    async fn insert_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        let mut absent = Change::new();
        absent.require_absent(&[PK]);
        let Role::User(owner) = &key.role else {
            return match self.put(encode_key(key), &absent).await? {
                true => Ok(()),
                false => Err(StoreError::AlreadyExists),
            };
        };
        let mut counted = Change::new();
        counted.add(KEYS_ISSUED, 1).require_exists(&[PK]).require_exists(&[TOKEN_LIMIT]);
        let items = vec![self.tx_put(encode_key(key), &absent), self.tx_update(&user_key(owner), &counted)];
        match self.transact(items).await? {
            Written::Applied(()) => Ok(()),
            Written::Refused(which) if which.first() == Some(&true) => Err(StoreError::AlreadyExists),
            Written::Refused(_) => Err(StoreError::NotFound),
        }
    }

    /// `GetItem`, strongly consistent: a revocation is seen by the next request anywhere.
    async fn key(&self, id: &KeyId) -> Result<Option<ApiKey>, StoreError> {
        self.get(&api_key_key(id)).await?.as_ref().map(decode_key).transpose()
    }

    /// `Scan` for `apikey#` items, every page, sorted by key ID.
    async fn keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let mut filter = Change::new();
        filter.require_prefix(PK, s("apikey#"));
        let mut keys = self.scan(&filter).await?.iter().map(decode_key).collect::<Result<Vec<_>, _>>()?;
        keys.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(keys)
    }

    /// `UpdateItem SET revokedAt = if_not_exists(revokedAt, :at)` if the key exists.
    async fn revoke_key(&self, id: &KeyId, at: Timestamp) -> Result<ApiKey, StoreError> {
        let mut revoke = Change::new();
        revoke.set_once(&[REVOKED_AT], s(at.to_string())).require_exists(&[PK]);
        self.update(&api_key_key(id), &revoke).await?.as_ref().map(decode_key).transpose()?.ok_or(StoreError::NotFound)
    }
}
