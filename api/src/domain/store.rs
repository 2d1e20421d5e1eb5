use async_trait::async_trait;

use super::{ApiKey, Hold, KeyId, Money, StoreError, Timestamp, TokenCount, TokenLimit, User, UserId};

/// Where users and their counters live. Every method is a single atomic step: no caller
/// ever reads, modifies and writes back, so concurrent callers can never lose an update.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// A short name for logs and `/health` (`embedded`, `dynamodb`).
    fn kind(&self) -> &'static str;

    /// Inserts a new user; [`StoreError::AlreadyExists`] if the ID is taken.
    async fn insert(&self, user: &User) -> Result<(), StoreError>;

    async fn get(&self, id: &UserId) -> Result<Option<User>, StoreError>;

    /// Every user, ordered by ID.
    async fn list(&self) -> Result<Vec<User>, StoreError>;

    /// Sets the limit of an existing user; [`StoreError::NotFound`] otherwise.
    async fn set_limit(&self, id: &UserId, limit: TokenLimit, at: Timestamp) -> Result<User, StoreError>;

    /// Adds to an existing user's usage and cost atomically; [`StoreError::NotFound`] otherwise.
    async fn add_usage(&self, id: &UserId, tokens: TokenCount, cost: Money, at: Timestamp) -> Result<User, StoreError>;

    /// Removes a user; [`StoreError::NotFound`] if there was none.
    async fn delete(&self, id: &UserId) -> Result<(), StoreError>;

    /// Sets `hold.tokens` aside if `limit − usage − reserved ≥ hold.tokens`, in one atomic
    /// step; otherwise [`StoreError::InsufficientTokens`] and nothing changes.
    async fn reserve(&self, id: &UserId, hold: &Hold) -> Result<User, StoreError>;

    /// Removes the hold and adds the real `tokens` and `cost` to the usage, atomically. If
    /// the hold is gone (it expired and was released), the real usage is still added.
    async fn settle(
        &self,
        id: &UserId,
        hold: &Hold,
        tokens: u64,
        cost: Money,
        at: Timestamp,
    ) -> Result<User, StoreError>;

    /// Removes the hold, returning its tokens to the user; a missing hold changes nothing.
    async fn release(&self, id: &UserId, hold: &Hold) -> Result<User, StoreError>;

    /// Every hold whose expiry is before `now`, with its user.
    async fn expired_holds(&self, now: Timestamp) -> Result<Vec<(UserId, Hold)>, StoreError>;
}

/// Where API keys live (hashed). Keys survive restarts and are shared by every instance.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Stores a new key; [`StoreError::AlreadyExists`] if its ID is taken.
    async fn insert_key(&self, key: &ApiKey) -> Result<(), StoreError>;

    async fn get_key(&self, id: &KeyId) -> Result<Option<ApiKey>, StoreError>;

    /// Every key, revoked ones included, ordered by ID.
    async fn list_keys(&self) -> Result<Vec<ApiKey>, StoreError>;

    /// Marks a key revoked at `at` (keeping an earlier revocation time); [`StoreError::NotFound`]
    /// if there is no such key.
    async fn revoke_key(&self, id: &KeyId, at: Timestamp) -> Result<ApiKey, StoreError>;
}
