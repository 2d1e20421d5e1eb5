//! What the stores keep and change for calls and usage: amounts, counters, holds, and the
//! atomic steps (reserve, settle, release, record) as plain data. The domain decides every
//! number; a store only applies a step whole, or refuses it whole when a ceiling or guard fails.

use std::fmt;

use super::{CounterKey, Money, Timestamp, UsageEvent};

/// Tokens, requests and money, counted together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Amounts {
    pub tokens: u64,
    pub requests: u64,
    pub cost: Money,
}

impl Amounts {
    pub const ZERO: Amounts = Amounts { tokens: 0, requests: 0, cost: Money::ZERO };

    pub fn saturating_add(self, other: Amounts) -> Amounts {
        Amounts {
            tokens: self.tokens.saturating_add(other.tokens),
            requests: self.requests.saturating_add(other.requests),
            cost: self.cost + other.cost,
        }
    }

    pub fn saturating_sub(self, other: Amounts) -> Amounts {
        Amounts {
            tokens: self.tokens.saturating_sub(other.tokens),
            requests: self.requests.saturating_sub(other.requests),
            cost: self.cost.saturating_sub(other.cost),
        }
    }

    /// Each amount the smaller of the two.
    pub fn min(self, other: Amounts) -> Amounts {
        Amounts {
            tokens: self.tokens.min(other.tokens),
            requests: self.requests.min(other.requests),
            cost: self.cost.min(other.cost),
        }
    }

    /// `n` times each amount (saturating).
    pub fn times(self, n: u64) -> Amounts {
        Amounts {
            tokens: self.tokens.saturating_mul(n),
            requests: self.requests.saturating_mul(n),
            cost: Money::from_nanos(self.cost.nanos().saturating_mul(n)),
        }
    }

    /// Whether every amount is at least `other`'s.
    pub fn covers(self, other: Amounts) -> bool {
        self.tokens >= other.tokens && self.requests >= other.requests && self.cost >= other.cost
    }
}

/// One counter of a user: what was used in its window, and what calls in flight hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counter {
    pub used: Amounts,
    pub held: Amounts,
}

impl Counter {
    /// Used plus held: what a new reservation is compared against.
    pub fn committed(&self) -> Amounts {
        self.used.saturating_add(self.held)
    }
}

/// The most a counter may commit after a step, per metric (`None`: no rule on that metric).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ceiling {
    pub tokens: Option<u64>,
    pub requests: Option<u64>,
    pub cost: Option<Money>,
}

impl Ceiling {
    /// Whether `committed` is within every limit.
    pub fn admits(&self, committed: Amounts) -> bool {
        self.tokens.is_none_or(|max| committed.tokens <= max)
            && self.requests.is_none_or(|max| committed.requests <= max)
            && self.cost.is_none_or(|max| committed.cost <= max)
    }

    /// Drops the limits of the metrics `adding` does not add to: a step adding nothing to a
    /// metric passes none of its limits, even one already passed.
    pub fn only_where_adding(&mut self, adding: Amounts) {
        if adding.tokens == 0 {
            self.tokens = None;
        }
        if adding.requests == 0 {
            self.requests = None;
        }
        if adding.cost == Money::ZERO {
            self.cost = None;
        }
    }

    pub fn is_open(&self) -> bool {
        self.tokens.is_none() && self.requests.is_none() && self.cost.is_none()
    }
}

/// A counter a step touches, the ceiling it must stay within, and when the counter may be
/// forgotten (period counters; `None` for the account and `total` counters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterCharge {
    pub key: CounterKey,
    pub ceiling: Ceiling,
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HoldId(String);

impl HoldId {
    pub fn generate() -> Self {
        Self(rand::random::<[u8; 8]>().iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn from_stored(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HoldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What one model call in flight sets aside on each of its counters, until `expires_at` at
/// the latest (its instance renews it while the call runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub id: HoldId,
    pub amounts: Amounts,
    /// Every counter the hold is on besides the account, which it is always on.
    pub counters: Vec<CounterKey>,
    pub expires_at: Timestamp,
}

/// The guards a reservation checks besides ceilings: the rules it was planned under are still
/// the user's (a limit, tier or rule change in between makes the store refuse it, and the
/// call is planned again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guards {
    /// The user's `rulesVersion` (bumped by every change of limit, tier or own rules).
    pub rules_version: u64,
    /// The tier's version, when the user has one.
    pub tier_version: Option<(super::TierName, u64)>,
}

/// Reserve: add the hold to the account and to every counter, if every ceiling and guard holds.
#[derive(Debug, Clone)]
pub struct Reservation {
    pub user: super::UserId,
    pub hold: Hold,
    /// The account's ceiling (the lifetime limit among others).
    pub account: Ceiling,
    pub counters: Vec<CounterCharge>,
    pub guards: Guards,
    pub idempotency: Option<super::IdempotencyClaim>,
}

/// Settle: remove the hold and add what the call really used, everywhere it held, with its
/// event (and the idempotency record's outcome) in the same step. A lease settles part of its
/// hold at a time: the calls it covered since its last settlement, with their events, while
/// the hold stays (`keep`).
#[derive(Debug, Clone)]
pub struct Settlement {
    pub user: super::UserId,
    /// The hold as stored.
    pub hold: Hold,
    pub used: Amounts,
    /// When the settlement happened (the user's `lastUpdated`).
    pub at: Timestamp,
    /// The settled calls' events: one for a call, a batch for a lease.
    pub events: Vec<UsageEvent>,
    /// What the hold still holds afterwards (a lease in use); `None` removes it.
    pub keep: Option<Amounts>,
    /// The claims of the calls settled (made by their reservation, or, for a lease's calls,
    /// first stored here), now applied, with what each call answered.
    pub claims: Vec<(super::IdempotencyClaim, serde_json::Value)>,
}

/// Release: remove the hold and give everything back (a failed or cancelled call), with the
/// failed call's event when there is one. Changes nothing when the hold is already gone.
#[derive(Debug, Clone)]
pub struct Release {
    pub user: super::UserId,
    pub hold: Hold,
    /// Release only if the hold expired before this time (the sweeper, racing a renewal).
    pub expired_before: Option<Timestamp>,
    pub event: Option<UsageEvent>,
    /// The idempotency record the call claimed, to forget, so a retry runs again.
    pub idempotency: Option<super::IdempotencyClaim>,
}

/// Record: add usage that already happened (never refused by a rule), or, with ceilings, charge
/// at most what fits (settling a call whose hold was lost).
#[derive(Debug, Clone)]
pub struct Recording {
    pub user: super::UserId,
    pub amounts: Amounts,
    pub account: Ceiling,
    pub counters: Vec<CounterCharge>,
    pub event: UsageEvent,
    pub idempotency: Option<super::IdempotencyClaim>,
}
