//! The ports the stores implement. Every method is one atomic step: no caller ever reads,
//! modifies and writes back, so concurrent callers can never lose an update or pass a limit.
//! The domain decides every number; a store applies a step whole or refuses it whole.

use async_trait::async_trait;

use super::{
    AlertRule, ApiKey, Counter, CounterKey, EventQuery, Firing, Hold, HoldId, IdempotencyClaim, IdempotencyRecord,
    KeyId, QuotaRule, Recording, Release, Reservation, Rollup, Settlement, StoreError, Tier, TierName, Timestamp,
    TokenLimit, UsageEvent, User, UserId,
};

/// A change to a user's rules; each bumps the user's `rulesVersion`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserChange {
    Limit(TokenLimit),
    /// Moves the user to a tier (or off tiers), keeping each tier's member count exact.
    Tier(Option<TierName>),
    Quotas(Vec<QuotaRule>),
}

/// Users, their counters and holds, and idempotency claims: everything a call or a usage
/// record changes, so that each changes it in one step.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// A short name for logs and `/health` (`embedded`, `dynamodb`).
    fn kind(&self) -> &'static str;

    /// Inserts a new user (and adds it to its tier's members): [`StoreError::AlreadyExists`]
    /// if the ID is taken, [`StoreError::NotFound`] if its tier does not exist,
    /// [`StoreError::Claimed`] if `claim` was made before. The claim is stored applied, with
    /// `outcome` as its answer.
    async fn insert_user(
        &self,
        user: &User,
        claim: Option<(&IdempotencyClaim, &serde_json::Value)>,
    ) -> Result<(), StoreError>;

    async fn user(&self, id: &UserId) -> Result<Option<User>, StoreError>;

    /// Every user, ordered by ID.
    async fn users(&self) -> Result<Vec<User>, StoreError>;

    /// Changes a user's limit, tier or rules: [`StoreError::NotFound`] without the user (or,
    /// for a tier change, without the tier, said by [`StoreError::Refused`]).
    async fn update_user(&self, id: &UserId, change: &UserChange, at: Timestamp) -> Result<User, StoreError>;

    /// Removes a user with its counters, and revokes the user's API keys in the same step (a
    /// key issued concurrently is revoked too, or its issue fails).
    async fn delete_user(&self, id: &UserId, at: Timestamp) -> Result<(), StoreError>;

    /// The user's counters under `keys`, in order; a counter never written is zero.
    async fn counters(&self, id: &UserId, keys: &[CounterKey]) -> Result<Vec<Counter>, StoreError>;

    /// Adds the hold to the account and each counter if every ceiling and guard holds:
    /// otherwise [`StoreError::Refused`] and nothing changes.
    async fn reserve(&self, reservation: &Reservation) -> Result<User, StoreError>;

    /// Removes the hold and adds what was used, with the event and the idempotency outcome:
    /// [`StoreError::HoldGone`] when the hold is no longer there (nothing changes).
    async fn settle(&self, settlement: &Settlement) -> Result<User, StoreError>;

    /// Removes the hold and gives everything back; `None` when the hold was already gone (or,
    /// with `expired_before`, was renewed since).
    async fn release(&self, release: &Release) -> Result<Option<User>, StoreError>;

    /// Moves a hold's expiry: [`StoreError::HoldGone`] when it is no longer there.
    async fn renew(&self, user: &UserId, hold: &HoldId, expires_at: Timestamp) -> Result<(), StoreError>;

    /// Every hold whose expiry is before `now`, with its user.
    async fn expired_holds(&self, now: Timestamp) -> Result<Vec<(UserId, Hold)>, StoreError>;

    /// Adds usage that already happened, with its event: never refused unless `account` or a
    /// counter carries a ceiling it would pass ([`StoreError::Refused`]).
    async fn record(&self, recording: &Recording) -> Result<User, StoreError>;

    /// The claim of `key` in `scope`, if any and not expired.
    async fn idempotency(&self, scope: &str, key: &str) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// Stores the answer of an applied claim (after the step that applied it).
    async fn complete_idempotency(
        &self,
        claim: &IdempotencyClaim,
        outcome: &serde_json::Value,
    ) -> Result<(), StoreError>;

    /// Creates `into` carrying the guest's account and counters, removes the guest and revokes
    /// its keys, in one step: [`StoreError::AlreadyExists`] if `into`'s ID is taken,
    /// [`StoreError::NotFound`] without the guest, [`StoreError::Refused`] while the guest has
    /// calls in flight.
    async fn migrate_guest(&self, guest: &UserId, into: &User) -> Result<User, StoreError>;

    /// Guests (users on the guest tier) last changed before `before`.
    async fn idle_guests(&self, before: Timestamp) -> Result<Vec<UserId>, StoreError>;
}

/// API keys (hashed), shared by every instance.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Stores a new key: [`StoreError::AlreadyExists`] if its ID is taken; for a user key,
    /// [`StoreError::NotFound`] unless the user exists, in the same step (so a key is never
    /// issued for a user being deleted).
    async fn insert_key(&self, key: &ApiKey) -> Result<(), StoreError>;

    async fn key(&self, id: &KeyId) -> Result<Option<ApiKey>, StoreError>;

    /// Every key, revoked ones included, ordered by ID.
    async fn keys(&self) -> Result<Vec<ApiKey>, StoreError>;

    /// Marks a key revoked at `at` (keeping an earlier revocation): [`StoreError::NotFound`]
    /// without it.
    async fn revoke_key(&self, id: &KeyId, at: Timestamp) -> Result<ApiKey, StoreError>;
}

/// A tier as stored: its rules, the version every change bumps, and how many users are on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTier {
    pub tier: Tier,
    pub version: u64,
    pub members: u64,
}

/// Tiers, shared by every instance.
#[async_trait]
pub trait TierStore: Send + Sync + 'static {
    /// Every tier, ordered by name.
    async fn tiers(&self) -> Result<Vec<StoredTier>, StoreError>;

    async fn tier(&self, name: &TierName) -> Result<Option<StoredTier>, StoreError>;

    /// Creates or replaces a tier's rules, bumping its version.
    async fn put_tier(&self, tier: &Tier) -> Result<StoredTier, StoreError>;

    /// Deletes a tier: [`StoreError::InUse`] while users are on it, [`StoreError::NotFound`]
    /// without it.
    async fn delete_tier(&self, name: &TierName) -> Result<(), StoreError>;

    /// Creates `tiers` once in the store's life (a later deletion of one is respected).
    async fn seed_tiers(&self, tiers: &[Tier]) -> Result<(), StoreError>;
}

/// Usage events and their hourly roll-ups.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Writes an event on its own (a refused call), with its roll-ups.
    async fn put_event(&self, event: &UsageEvent) -> Result<(), StoreError>;

    /// A page of events, newest first.
    async fn events(&self, query: &EventQuery) -> Result<Vec<UsageEvent>, StoreError>;

    /// Roll-ups of the hours in `[from, to)`: one user's per model, or (`None`) each model's.
    async fn rollups(&self, from: Timestamp, to: Timestamp, user: Option<&UserId>) -> Result<Vec<Rollup>, StoreError>;
}

/// Alert rules and firings, shared by every instance.
#[async_trait]
pub trait AlertStore: Send + Sync + 'static {
    /// Every rule, ordered by name.
    async fn alert_rules(&self) -> Result<Vec<AlertRule>, StoreError>;

    /// Creates or replaces a rule.
    async fn put_alert_rule(&self, rule: &AlertRule) -> Result<(), StoreError>;

    /// Deletes a rule: [`StoreError::NotFound`] without it.
    async fn delete_alert_rule(&self, name: &str) -> Result<(), StoreError>;

    /// Creates `rules` once in the store's life (a later deletion of one is respected).
    async fn seed_alert_rules(&self, rules: &[AlertRule]) -> Result<(), StoreError>;

    /// Records `firing` unless one with its [`Firing::id`] exists: `true` when this call
    /// recorded it (and so its caller notifies).
    async fn claim_firing(&self, firing: &Firing) -> Result<bool, StoreError>;

    /// Marks the firing `id` resolved at `at` if it is still firing: `true` when this call did.
    async fn resolve_firing(&self, id: &str, at: Timestamp) -> Result<bool, StoreError>;

    /// The latest `limit` firings, newest first (kept for [`FIRING_RETENTION`]).
    async fn firings(&self, limit: usize) -> Result<Vec<Firing>, StoreError>;
}

/// How long a firing is kept.
pub const FIRING_RETENTION: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);
