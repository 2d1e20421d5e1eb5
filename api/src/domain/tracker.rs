use std::sync::Arc;

use super::{Error, Money, StoreError, Timestamp, TokenCount, TokenLimit, User, UserId, UserStore};

/// The token-accounting service: every rule about users, limits and usage lives here.
#[derive(Clone)]
pub struct Tracker {
    store: Arc<dyn UserStore>,
}

impl Tracker {
    pub fn new(store: Arc<dyn UserStore>) -> Self {
        Self { store }
    }

    pub fn store_kind(&self) -> &'static str {
        self.store.kind()
    }

    pub async fn create_user(&self, id: UserId, limit: TokenLimit) -> Result<User, Error> {
        let user = User::new(id, limit, Timestamp::now());
        self.store.insert(&user).await.map_err(|e| Error::from_store(e, &user.id))?;
        Ok(user)
    }

    pub async fn user(&self, id: &UserId) -> Result<User, Error> {
        self.store.get(id).await.map_err(|e| Error::from_store(e, id))?.ok_or_else(|| Error::UserNotFound(id.clone()))
    }

    pub async fn users(&self) -> Result<Vec<User>, Error> {
        self.store.list().await.map_err(|e| match e {
            StoreError::Unavailable(why) => Error::StoreUnavailable(why),
            other => Error::StoreUnavailable(format!("unexpected store error while listing: {other}")),
        })
    }

    pub async fn update_limit(&self, id: &UserId, limit: TokenLimit) -> Result<User, Error> {
        self.store.set_limit(id, limit, Timestamp::now()).await.map_err(|e| Error::from_store(e, id))
    }

    pub async fn delete_user(&self, id: &UserId) -> Result<(), Error> {
        self.store.delete(id).await.map_err(|e| Error::from_store(e, id))
    }

    /// Records tokens consumed outside the service (the seed contract's "record usage").
    /// Such usage is a fact that already happened, so it is recorded even past the limit;
    /// it carries no cost because the service does not know which model produced it.
    pub async fn record_usage(&self, id: &UserId, tokens: TokenCount) -> Result<User, Error> {
        self.store.add_usage(id, tokens, Money::ZERO, Timestamp::now()).await.map_err(|e| match e {
            StoreError::Overflow => Error::UsageOverflow { user: id.clone(), tokens: tokens.get() },
            other => Error::from_store(other, id),
        })
    }
}
