//! Guests: the quotas seed's anonymous users, done on the server. With guests on, anyone may
//! create a guest (`guest-<id>` on the `guest` tier) and chat under its quota; an admin later
//! turns a guest into a real user, who keeps the guest's usage and counters. Guest creation
//! is rate-limited per client address, per instance; guests unused for 30 days are removed.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use super::{
    Answer, Bootstrap, Core, Error, IssuedKey, KeyLabel, Keys, NewUser, Principal, Role, StoreError, TierName,
    TokenLimit, User, UserId, quota::GUEST_TIER,
};

/// How guests work, from configuration.
#[derive(Debug, Clone)]
pub struct GuestSettings {
    /// Whether anyone may create a guest (`TOKENMETER_GUESTS=on`).
    pub enabled: bool,
    /// A guest's lifetime token limit.
    pub token_limit: TokenLimit,
    /// Guests one client address may create per [`GuestSettings::window`].
    pub per_address: u32,
    pub window: Duration,
    /// Guests unused this long are removed.
    pub idle_after: Duration,
}

impl Default for GuestSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            token_limit: TokenLimit::new("tokenLimit", 100_000).expect("a valid limit"),
            per_address: 5,
            window: Duration::from_secs(3600),
            idle_after: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// A guest just created, with its key (shown once).
#[derive(Debug, Clone)]
pub struct NewGuest {
    pub user: User,
    pub key: IssuedKey,
}

#[derive(Clone)]
pub struct Guests {
    core: Core,
    keys: Keys,
    settings: GuestSettings,
    /// Per client address, when it created its recent guests (a sliding window).
    recent: Arc<Mutex<HashMap<IpAddr, Vec<Instant>>>>,
}

impl Guests {
    pub(super) fn new(core: Core, keys: Keys, settings: GuestSettings) -> Self {
        Self { core, keys, settings, recent: Arc::default() }
    }

    pub fn enabled(&self) -> bool {
        self.settings.enabled
    }

    /// Counts a creation from `from`, or says how long until the address may create again.
    fn admit(&self, from: IpAddr) -> Result<(), Error> {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let window = self.settings.window;
        recent.retain(|_, times| {
            times.retain(|t| now.duration_since(*t) < window);
            !times.is_empty()
        });
        let times = recent.entry(from).or_default();
        if times.len() >= self.settings.per_address as usize {
            let oldest = times.iter().min().copied().unwrap_or(now);
            let wait = window.saturating_sub(now.duration_since(oldest));
            return Err(Error::GuestRateLimited { retry_after_secs: wait.as_secs().max(1) });
        }
        times.push(now);
        Ok(())
    }

    /// Creates a guest for an anonymous client at `from`.
    pub async fn create(&self, from: IpAddr) -> Result<NewGuest, Error> {
        if !self.settings.enabled {
            return Err(Error::GuestsDisabled);
        }
        self.admit(from)?;
        let id = UserId::parse("userId", &format!("guest-{}", hex(&rand::random::<[u8; 6]>())))?;
        let mut user = User::new(id.clone(), self.settings.token_limit, self.core.now());
        user.tier = Some(TierName::parse("tier", GUEST_TIER)?);
        self.core.accounts.insert_user(&user, None).await.map_err(|e| match e {
            StoreError::NotFound => {
                Error::Internal("the guest tier does not exist; restore it with PUT /tiers/guest".into())
            }
            other => Error::from_store(other, &id),
        })?;
        self.core.changes.publish(&id);
        let label = KeyLabel::parse("label", "guest")?;
        let key = self.keys.issue_at_startup(Bootstrap::for_the_service_itself(), Role::User(id), label).await?;
        Ok(NewGuest { user, key })
    }

    /// Turns the guest whose key is `guest_key` into the real user `new`: the user keeps the
    /// guest's usage, cost and quota counters; the guest and its keys are gone. Admin only.
    pub async fn migrate(
        &self,
        by: &Principal,
        guest_key: &str,
        new: NewUser,
    ) -> Result<Answer<(User, Option<IssuedKey>)>, Error> {
        by.require_admin()?;
        let guest = match self.keys.authenticate(guest_key).await {
            Ok(Principal::User { user, .. }) if user.as_str().starts_with("guest-") => user,
            Ok(_) | Err(Error::InvalidKey) => return Err(Error::GuestNotFound),
            Err(other) => return Err(other),
        };
        let mut into = User::new(new.id.clone(), new.limit, self.core.now());
        into.tier = new.tier;
        let user = self.core.accounts.migrate_guest(&guest, &into).await.map_err(|e| match e {
            StoreError::AlreadyExists => Error::UserExists(new.id.clone()),
            StoreError::NotFound => Error::GuestNotFound,
            StoreError::Refused => Error::GuestBusy,
            other => Error::store(other),
        })?;
        self.core.changes.publish(&guest);
        self.core.changes.publish(&user.id);
        let key = match new.issue_key {
            true => Some(
                self.keys
                    .issue(by, Role::User(user.id.clone()), Some(KeyLabel::parse("label", "at creation")?))
                    .await?,
            ),
            false => None,
        };
        Ok(Answer::fresh((user, key)))
    }

    /// Removes guests unused for the configured time; answers how many.
    pub async fn remove_idle(&self, _: Bootstrap) -> Result<usize, Error> {
        let before = self.core.now().minus(self.settings.idle_after);
        let idle = self.core.accounts.idle_guests(before).await.map_err(Error::store)?;
        for guest in &idle {
            match self.core.accounts.delete_user(guest, self.core.now()).await {
                Ok(()) | Err(StoreError::NotFound) => self.core.changes.publish(guest),
                Err(err) => return Err(Error::store(err)),
            }
        }
        Ok(idle.len())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
