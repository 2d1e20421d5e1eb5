use super::{Amounts, Counter, Money, QuotaRule, TierName, Timestamp, TokenLimit, UserId};

/// A user's account: the lifetime limit, what was spent and what calls in flight hold (the
/// account counter), and the rules beyond the limit (a tier, the user's own rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub token_limit: TokenLimit,
    /// Every token, request and dollar ever charged, and what calls in flight hold.
    pub account: Counter,
    pub last_updated: Timestamp,
    pub created_at: Timestamp,
    pub tier: Option<TierName>,
    /// The user's own rules, besides the limit and the tier's.
    pub quotas: Vec<QuotaRule>,
    /// Bumped by every change of limit, tier or rules: a reservation planned under older
    /// rules is refused by the store and planned again.
    pub rules_version: u64,
}

impl User {
    pub fn new(id: UserId, token_limit: TokenLimit, now: Timestamp) -> Self {
        Self {
            id,
            token_limit,
            account: Counter::default(),
            last_updated: now,
            created_at: now,
            tier: None,
            quotas: Vec::new(),
            rules_version: 0,
        }
    }

    pub fn token_usage(&self) -> u64 {
        self.account.used.tokens
    }

    /// Tokens held for model calls in flight.
    pub fn token_reserved(&self) -> u64 {
        self.account.held.tokens
    }

    pub fn total_cost(&self) -> Money {
        self.account.used.cost
    }

    /// Model calls charged so far.
    pub fn request_count(&self) -> u64 {
        self.account.used.requests
    }

    /// Tokens a new call may still use under the lifetime limit: the limit less usage and
    /// holds; zero once they reach or pass it.
    pub fn remaining_tokens(&self) -> u64 {
        self.token_limit.get().saturating_sub(self.token_usage()).saturating_sub(self.token_reserved())
    }

    /// `tokenUsage / tokenLimit × 100`; above 100 when recorded usage passed the limit.
    pub fn percentage_used(&self) -> f64 {
        // Multiply first: 398 × 100 / 500 is exactly 79.6, while 398 / 500 × 100 is 79.60000000000001.
        self.token_usage() as f64 * 100.0 / self.token_limit.get() as f64
    }

    /// Adds usage to the account (a test's or a store's arithmetic, saturating).
    pub fn with_usage(mut self, used: Amounts) -> Self {
        self.account.used = self.account.used.saturating_add(used);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MAX_TOKENS;
    use proptest::prelude::*;

    fn user(limit: u64, usage: u64) -> User {
        User::new(
            UserId::parse("userId", "u").unwrap(),
            TokenLimit::new("tokenLimit", limit).unwrap(),
            Timestamp::from_millis(0),
        )
        .with_usage(Amounts { tokens: usage, ..Amounts::ZERO })
    }

    #[test]
    fn percentage_matches_the_reference_screens() {
        assert_eq!(user(500, 398).percentage_used(), 79.6);
        assert_eq!(user(100, 105).percentage_used(), 105.0);
        assert_eq!(user(100_000, 0).percentage_used(), 0.0);
    }

    proptest! {
        #[test]
        fn percentage_is_usage_over_limit_times_100(limit in 1..=MAX_TOKENS, usage in 0..=MAX_TOKENS) {
            let pct = user(limit, usage).percentage_used();
            let expected = usage as f64 / limit as f64 * 100.0;
            prop_assert!((pct - expected).abs() <= expected.abs() * 1e-12);
            prop_assert_eq!(pct >= 100.0, usage >= limit);
        }

        #[test]
        fn remaining_plus_usage_is_the_limit_until_exhausted(limit in 1..=MAX_TOKENS, usage in 0..=MAX_TOKENS) {
            let u = user(limit, usage);
            if usage <= limit {
                prop_assert_eq!(u.remaining_tokens() + usage, limit);
            } else {
                prop_assert_eq!(u.remaining_tokens(), 0);
            }
        }
    }
}
