use async_trait::async_trait;

use super::{Money, StoreError, Timestamp, TokenCount, TokenLimit, User, UserId};

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
}
