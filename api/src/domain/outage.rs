//! What a call does when the store is unavailable.
//!
//! Fail closed (the default): the call is answered 503 `store_unavailable`, and nothing runs.
//!
//! Fail open: a call of a user this instance admitted before proceeds if the user's last known
//! state (the rules and counters read for that admission) allows it, without a hold, within a
//! per-instance allowance of tokens. Its settlement is written to a durable local outbox and
//! replayed when the store is back, exactly once: each entry carries its event's ID as an
//! idempotency key. The overshoot this can cause is bounded by the allowance (what other
//! instances spend meanwhile is not known here), and counted in `/metrics`.

use std::{
    collections::{HashMap, HashSet},
    fmt,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use super::{
    Amounts, CounterKey, EventId, IdempotencyClaim, RuleState, StoreError, Timestamp, UsageEvent, User, UserId,
};

/// The most users whose last known state an instance keeps.
const KNOWN_USERS: usize = 100_000;

/// The store-outage policy (`TOKENMETER_ON_STORE_OUTAGE`).
#[derive(Clone, Default)]
pub enum OutagePolicy {
    #[default]
    FailClosed,
    FailOpen(FailOpen),
}

#[derive(Clone)]
pub struct FailOpen {
    /// Tokens this instance may let calls use while the store is away, replayed or not.
    pub allowance_tokens: u64,
    pub outbox: Arc<dyn Outbox>,
}

impl fmt::Debug for OutagePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FailClosed => f.write_str("FailClosed"),
            Self::FailOpen(open) => write!(f, "FailOpen {{ allowance_tokens: {} }}", open.allowance_tokens),
        }
    }
}

/// A settlement that could not reach the store.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub user: UserId,
    pub amounts: Amounts,
    /// The counters the call's rules use, with when each may be forgotten.
    pub counters: Vec<(CounterKey, Option<Timestamp>)>,
    pub event: UsageEvent,
    /// The call's `Idempotency-Key` claim and its answer, stored with the replay so that a
    /// retry after the outage answers it rather than calling again.
    pub answered: Option<(IdempotencyClaim, serde_json::Value)>,
}

/// The durable local outbox (a port: `store::FileOutbox` serves it).
pub trait Outbox: Send + Sync {
    fn push(&self, entry: &OutboxEntry) -> Result<(), StoreError>;
    /// The oldest entries, at most `limit`.
    fn pending(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError>;
    fn remove(&self, event: &EventId) -> Result<(), StoreError>;
}

/// What an instance knows of a user from its last admission.
#[derive(Clone)]
pub(super) struct Known {
    pub(super) user: User,
    /// The model of that admission: its rules are what `states` holds.
    pub(super) model: String,
    pub(super) states: Vec<RuleState>,
}

/// The fail-open state of an instance: last known users and the allowance left.
pub(super) struct Outage {
    open: Option<FailOpen>,
    known: Mutex<HashMap<UserId, Known>>,
    /// The `Idempotency-Key`s of calls admitted during outages and not yet replayed: a retry
    /// of one meanwhile is answered 409 rather than called again.
    claims: Mutex<HashSet<(String, String)>>,
    /// Tokens of the allowance not held or spent by calls admitted during an outage.
    left: AtomicU64,
}

impl Outage {
    pub(super) fn new(policy: OutagePolicy) -> Self {
        let open = match policy {
            OutagePolicy::FailClosed => None,
            OutagePolicy::FailOpen(open) => Some(open),
        };
        let left = AtomicU64::new(open.as_ref().map_or(0, |o| o.allowance_tokens));
        Self { open, known: Mutex::default(), claims: Mutex::default(), left }
    }

    pub(super) fn fails_open(&self) -> bool {
        self.open.is_some()
    }

    pub(super) fn outbox(&self) -> Option<&Arc<dyn Outbox>> {
        self.open.as_ref().map(|o| &o.outbox)
    }

    /// Remembers what an admission of a call to `model` read of `user` (only when failing open).
    pub(super) fn remember(&self, user: &User, states: &[RuleState], model: &str) {
        if self.open.is_none() {
            return;
        }
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if known.len() >= KNOWN_USERS && !known.contains_key(&user.id) {
            // Forget someone: any one will do, the map only serves outages.
            let forget = known.keys().next().cloned();
            forget.map(|id| known.remove(&id));
        }
        let remembered = Known { user: user.clone(), model: model.to_owned(), states: states.to_vec() };
        known.insert(user.id.clone(), remembered);
    }

    pub(super) fn known(&self, id: &UserId) -> Option<Known> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner).get(id).cloned()
    }

    /// Adds `used` to what this instance knows of `id`, so later calls in the outage see it.
    pub(super) fn spent(&self, id: &UserId, used: Amounts) {
        if let Some(known) = self.known.lock().unwrap_or_else(PoisonError::into_inner).get_mut(id) {
            known.user.account.used = known.user.account.used.saturating_add(used);
            for state in &mut known.states {
                state.counter.used = state.counter.used.saturating_add(used);
            }
        }
    }

    /// Claims `claim`'s key for a call admitted during an outage: `false` if it is claimed.
    pub(super) fn claim(&self, claim: &IdempotencyClaim) -> bool {
        let mut claims = self.claims.lock().unwrap_or_else(PoisonError::into_inner);
        claims.len() < KNOWN_USERS && claims.insert((claim.scope.clone(), claim.key.as_str().to_owned()))
    }

    pub(super) fn unclaim(&self, claim: &IdempotencyClaim) {
        let mut claims = self.claims.lock().unwrap_or_else(PoisonError::into_inner);
        claims.remove(&(claim.scope.clone(), claim.key.as_str().to_owned()));
    }

    /// Takes `tokens` from the allowance, if that many are left.
    pub(super) fn take(&self, tokens: u64) -> bool {
        self.left.fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| left.checked_sub(tokens)).is_ok()
    }

    pub(super) fn give_back(&self, tokens: u64) {
        let allowance = self.open.as_ref().map_or(0, |o| o.allowance_tokens);
        let _ = self
            .left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| Some(left.saturating_add(tokens).min(allowance)));
    }

    /// Tokens of the allowance in use (held, or spent and not yet replayed).
    pub(super) fn in_use(&self) -> u64 {
        self.open.as_ref().map_or(0, |o| o.allowance_tokens.saturating_sub(self.left.load(Ordering::Acquire)))
    }
}
