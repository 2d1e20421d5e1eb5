//! API keys: issued at random, shown once, stored only as a SHA-256 hash, compared in
//! constant time, revocable.
//!
//! A key reads `tmk_<id>_<secret>`: `id` (12 hex digits) finds the stored record, `secret`
//! (192 random bits, 48 hex digits) is checked against its hash. A secret with 192 bits of
//! entropy needs no slow hash: nothing can be guessed from SHA-256 of it.

use std::{fmt, sync::Arc};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Bootstrap, Error, KeyLabel, KeyStore, Principal, SharedClock, StoreError, Timestamp, UserId};

const PREFIX: &str = "tmk_";

/// The public part of a key: safe to log, show and use in URLs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(String);

impl KeyId {
    pub fn generate() -> Self {
        Self(hex(&rand::random::<[u8; 6]>()))
    }

    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 12 && raw.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
            .then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a key may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Admin,
    User(UserId),
}

/// A stored key: everything but the secret, which exists only as its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: KeyId,
    pub secret_hash: [u8; 32],
    pub role: Role,
    pub label: Option<String>,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// A key just issued: the only moment its full text exists.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    pub key: ApiKey,
    pub token: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The admin key given at start-up (`TOKENMETER_ADMIN_KEY`), kept only as its hash.
#[derive(Clone)]
pub struct StartupAdminKey([u8; 32]);

impl StartupAdminKey {
    /// The shortest start-up key accepted: shorter ones are guessable.
    pub const MIN_LEN: usize = 20;

    pub fn new(key: &str) -> Result<Self, String> {
        if key.len() < Self::MIN_LEN {
            return Err(format!("TOKENMETER_ADMIN_KEY must be at least {} characters long", Self::MIN_LEN));
        }
        Ok(Self(hash(key)))
    }
}

/// Issuing, checking and revoking keys.
#[derive(Clone)]
pub struct Keys {
    store: Arc<dyn KeyStore>,
    startup_admin: Option<StartupAdminKey>,
    clock: SharedClock,
}

impl Keys {
    pub fn new(store: Arc<dyn KeyStore>, startup_admin: Option<StartupAdminKey>, clock: SharedClock) -> Self {
        Self { store, startup_admin, clock }
    }

    /// Who presents `token`? Unknown, malformed and revoked keys are all [`Error::InvalidKey`].
    pub async fn authenticate(&self, token: &str) -> Result<Principal, Error> {
        if let Some(startup) = &self.startup_admin
            && bool::from(hash(token).ct_eq(&startup.0))
        {
            return Ok(Principal::Admin { key: None });
        }
        let (id, secret) = token
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once('_'))
            .and_then(|(id, secret)| Some((KeyId::parse(id)?, secret)))
            .ok_or(Error::InvalidKey)?;
        let key = self.store.key(&id).await.map_err(Error::store)?.ok_or(Error::InvalidKey)?;
        // Compare even for revoked keys, so timing does not tell revoked from wrong.
        let matches = bool::from(hash(secret).ct_eq(&key.secret_hash));
        if !matches || key.revoked_at.is_some() {
            return Err(Error::InvalidKey);
        }
        Ok(match key.role {
            Role::Admin => Principal::Admin { key: Some(key.id) },
            Role::User(user) => Principal::User { user, key: key.id },
        })
    }

    /// Issues a new key. Only admins issue keys; a user key needs an existing user, checked in
    /// the same step as the key is stored (so no key outlives a concurrently deleted user).
    pub async fn issue(&self, by: &Principal, role: Role, label: Option<KeyLabel>) -> Result<IssuedKey, Error> {
        by.require_admin()?;
        self.store_new(role, label).await
    }

    /// Issues a key with no caller: the first admin key, at start-up.
    pub async fn issue_at_startup(&self, _: Bootstrap, role: Role, label: KeyLabel) -> Result<IssuedKey, Error> {
        self.store_new(role, Some(label)).await
    }

    async fn store_new(&self, role: Role, label: Option<KeyLabel>) -> Result<IssuedKey, Error> {
        let secret = hex(&rand::random::<[u8; 24]>());
        let key = ApiKey {
            id: KeyId::generate(),
            secret_hash: hash(&secret),
            role,
            label: label.map(|l| l.as_str().to_owned()),
            created_at: self.clock.now(),
            revoked_at: None,
        };
        self.store.insert_key(&key).await.map_err(|e| match (e, &key.role) {
            (StoreError::NotFound, Role::User(user)) => Error::UserNotFound(user.clone()),
            (other, _) => Error::store(other),
        })?;
        let token = format!("{PREFIX}{}_{secret}", key.id);
        Ok(IssuedKey { key, token })
    }

    pub async fn list(&self, by: &Principal) -> Result<Vec<ApiKey>, Error> {
        by.require_admin()?;
        self.store.keys().await.map_err(Error::store)
    }

    /// Revokes a key; it stops working on the next request, on every instance.
    pub async fn revoke(&self, by: &Principal, id: &KeyId) -> Result<ApiKey, Error> {
        by.require_admin()?;
        self.store.revoke_key(id, self.clock.now()).await.map_err(|e| match e {
            StoreError::NotFound => Error::KeyNotFound(id.clone()),
            other => Error::store(other),
        })
    }

    /// Whether the key `principal` signed in with still works (it may have been revoked since,
    /// on any instance). The start-up admin key always does.
    pub async fn still_valid(&self, principal: &Principal) -> Result<bool, Error> {
        let id = match principal {
            Principal::Admin { key: None } => return Ok(true),
            Principal::Admin { key: Some(id) } | Principal::User { key: id, .. } => id,
        };
        let key = self.store.key(id).await.map_err(Error::store)?;
        Ok(key.is_some_and(|k| k.revoked_at.is_none()))
    }

    /// Whether any admin key is stored (to decide whether to generate the first one).
    pub async fn has_admin_key(&self, _: Bootstrap) -> Result<bool, Error> {
        let keys = self.store.keys().await.map_err(Error::store)?;
        Ok(keys.iter().any(|k| k.role == Role::Admin && k.revoked_at.is_none()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_twelve_lowercase_hex_digits() {
        let id = KeyId::generate();
        assert_eq!(KeyId::parse(id.as_str()), Some(id));
        for bad in ["", "abc", "ABCDEF012345", "abcdef01234g", "abcdef0123456"] {
            assert_eq!(KeyId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn short_startup_keys_are_refused() {
        assert!(StartupAdminKey::new("short").is_err());
        assert!(StartupAdminKey::new(&"k".repeat(20)).is_ok());
    }
}
