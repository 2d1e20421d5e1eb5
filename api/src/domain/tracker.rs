use std::sync::Arc;

use futures::Stream;

use super::{
    Error, IssuedKey, Keys, Money, Principal, Role, StoreError, Timestamp, TokenCount, TokenLimit, User, UserId,
    UserStore,
    live::{Changes, Live},
};

/// The token-accounting service: every rule about users, limits and usage lives here, and
/// every operation first asks the caller's [`Principal`] whether it may.
#[derive(Clone)]
pub struct Tracker {
    store: Arc<dyn UserStore>,
    keys: Keys,
    live: Live,
}

impl Tracker {
    pub fn new(store: Arc<dyn UserStore>, keys: Keys) -> Self {
        Self { live: Live::new(store.clone(), keys.clone()), store, keys }
    }

    pub fn store_kind(&self) -> &'static str {
        self.store.kind()
    }

    /// The announcements of changes made through this instance (live views listen to them).
    pub fn changes(&self) -> &Changes {
        self.live.changes()
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Creates a user and, when asked, issues the user's first API key.
    pub async fn create_user(
        &self,
        by: &Principal,
        id: UserId,
        limit: TokenLimit,
        issue_key: bool,
    ) -> Result<(User, Option<IssuedKey>), Error> {
        by.require_admin()?;
        let user = User::new(id, limit, Timestamp::now());
        self.store.insert(&user).await.map_err(|e| Error::from_store(e, &user.id))?;
        self.changes().publish(&user.id);
        let key = match issue_key {
            true => Some(
                self.keys.issue(by, Role::User(user.id.clone()), Some(format!("{} (at creation)", user.id))).await?,
            ),
            false => None,
        };
        Ok((user, key))
    }

    /// Issues an API key; a user key needs an existing user.
    pub async fn issue_key(&self, by: &Principal, role: Role, label: Option<String>) -> Result<IssuedKey, Error> {
        by.require_admin()?;
        if let Role::User(id) = &role {
            self.user(by, id).await?;
        }
        self.keys.issue(by, role, label).await
    }

    pub async fn user(&self, by: &Principal, id: &UserId) -> Result<User, Error> {
        by.require_user(id)?;
        self.store.get(id).await.map_err(|e| Error::from_store(e, id))?.ok_or_else(|| Error::UserNotFound(id.clone()))
    }

    pub async fn users(&self, by: &Principal) -> Result<Vec<User>, Error> {
        by.require_admin()?;
        self.store.list().await.map_err(|e| match e {
            StoreError::Unavailable(why) => Error::StoreUnavailable(why),
            other => Error::StoreUnavailable(format!("unexpected store error while listing: {other}")),
        })
    }

    pub async fn update_limit(&self, by: &Principal, id: &UserId, limit: TokenLimit) -> Result<User, Error> {
        by.require_admin()?;
        let user = self.store.set_limit(id, limit, Timestamp::now()).await.map_err(|e| Error::from_store(e, id))?;
        self.changes().publish(id);
        Ok(user)
    }

    /// Deletes a user and revokes the user's keys first, so a user re-created later under the
    /// same ID does not inherit them.
    pub async fn delete_user(&self, by: &Principal, id: &UserId) -> Result<(), Error> {
        by.require_admin()?;
        if self.store.get(id).await.map_err(|e| Error::from_store(e, id))?.is_none() {
            return Err(Error::UserNotFound(id.clone()));
        }
        self.keys.revoke_all_of(id).await?;
        self.store.delete(id).await.map_err(|e| Error::from_store(e, id))?;
        self.changes().publish(id);
        Ok(())
    }

    /// Records tokens consumed outside the service (the seed contract's "record usage").
    /// Such usage is a fact that already happened, so it is recorded even past the limit;
    /// it carries no cost because the service does not know which model produced it.
    pub async fn record_usage(&self, by: &Principal, id: &UserId, tokens: TokenCount) -> Result<User, Error> {
        by.require_user(id)?;
        let user = self.store.add_usage(id, tokens, Money::ZERO, Timestamp::now()).await.map_err(|e| match e {
            StoreError::Overflow => Error::UsageOverflow { user: id.clone(), tokens: tokens.get() },
            other => Error::from_store(other, id),
        })?;
        self.changes().publish(id);
        Ok(user)
    }

    /// One user's snapshots as they change: the current one first, then one per change made
    /// through any instance sharing the store (see [`Live`]). Ends when the user is deleted.
    /// Admins, or the user's own key; the stream ends once that key stops working.
    pub async fn watch_user(
        &self,
        by: &Principal,
        id: &UserId,
    ) -> Result<impl Stream<Item = User> + Send + 'static, Error> {
        let first = self.user(by, id).await?;
        Ok(self.live.user(by, first))
    }

    /// The whole user list, again on every change. Admin only.
    pub async fn watch_users(&self, by: &Principal) -> Result<impl Stream<Item = Vec<User>> + Send + 'static, Error> {
        let first = self.users(by).await?;
        Ok(self.live.list(by, first))
    }
}
