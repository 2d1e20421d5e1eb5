//! Exact money: integer nano-dollars (10^-9 USD). Dollars as floats exist only at the edge.

use std::ops::Add;

/// An amount of US dollars, kept exactly as a whole number of nano-dollars.
///
/// Every Bedrock price per million tokens in whole tenths of a cent is a whole number of
/// nano-dollars per token, so costs computed from token counts never round.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Money(u64);

impl Money {
    pub const ZERO: Money = Money(0);
    const NANOS_PER_DOLLAR: u64 = 1_000_000_000;

    pub const fn from_nanos(nanos: u64) -> Self {
        Self(nanos)
    }

    pub const fn nanos(self) -> u64 {
        self.0
    }

    /// The price of `tokens` at `nanos_per_token`, or `None` if it cannot be represented.
    pub fn per_token(nanos_per_token: u64, tokens: u64) -> Option<Self> {
        nanos_per_token.checked_mul(tokens).map(Self)
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    /// The amount in dollars, for display and JSON. Exact up to 2^53 nano-dollars (~$9M).
    /// The amount in dollars, as the double nearest its exact decimal form (so `1.962989` shows
    /// as that, not `1.9629889999999999`).
    pub fn dollars(self) -> f64 {
        let exact = format!("{}.{:09}", self.0 / Self::NANOS_PER_DOLLAR, self.0 % Self::NANOS_PER_DOLLAR);
        exact.parse().unwrap_or(f64::MAX)
    }
}

impl Money {
    /// The amount `dollars` names, when it is positive, finite and has at most six decimals
    /// (micro-dollars: what cost quotas and prices are written in). Reads the number's
    /// shortest decimal form, so `5.1` is exactly $5.10, not the nearest binary fraction.
    /// An amount of dollars with at most 6 decimals, as its shortest decimal form reads (the
    /// JSON Schema meaning of `multipleOf: 0.000001`: `0.3` is one, `0.1 + 0.2` is not).
    pub fn from_dollars(field: &'static str, dollars: f64) -> Result<Money, super::ValidationError> {
        let invalid = |why: &str| super::ValidationError::new(field, format!("{why} (got {dollars})"));
        if !dollars.is_finite() || dollars <= 0.0 {
            return Err(invalid("must be a positive amount of US dollars"));
        }
        let text = format!("{dollars}");
        let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
        if fraction.len() > 6 {
            return Err(invalid("must have at most 6 decimals"));
        }
        let whole: u64 = whole.parse().map_err(|_| invalid("is too large"))?;
        let micros: u64 = format!("{fraction:0<6}").parse().map_err(|_| invalid("is not a decimal amount"))?;
        whole
            .checked_mul(Self::NANOS_PER_DOLLAR)
            .and_then(|n| n.checked_add(micros * 1_000))
            .filter(|n| *n <= Self::MAX_QUOTA.0)
            .map(Money)
            .ok_or_else(|| invalid("is too large (at most $1,000,000,000)"))
    }

    /// The largest amount a quota may name: a billion dollars.
    pub const MAX_QUOTA: Money = Money(1_000_000_000 * Self::NANOS_PER_DOLLAR);

    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }

    /// `self − other`, or zero.
    pub fn saturating_sub(self, other: Money) -> Money {
        Money(self.0.saturating_sub(other.0))
    }

    /// How many whole units of `price` fit in `self` (`u64::MAX` when the price is zero).
    pub fn units_of(self, price: u64) -> u64 {
        self.0.checked_div(price).unwrap_or(u64::MAX)
    }
}

impl Add for Money {
    type Output = Money;

    /// Saturating: a sum of costs that overflows $18 billion is clamped, never wrapped.
    fn add(self, rhs: Money) -> Money {
        Money(self.0.saturating_add(rhs.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_are_exact_for_small_amounts() {
        assert_eq!(Money::from_nanos(486_000).dollars(), 0.000486);
        assert_eq!(Money::from_nanos(3_000_000_000).dollars(), 3.0);
        assert_eq!(Money::from_nanos(1_500_000_001).dollars(), 1.500000001);
        assert_eq!(Money::from_nanos(1_962_989_000).dollars().to_string(), "1.962989");
    }

    #[test]
    fn quota_amounts_are_exact_with_at_most_six_decimals() {
        assert_eq!(Money::from_dollars("limit", 5.0), Ok(Money::from_nanos(5_000_000_000)));
        assert_eq!(Money::from_dollars("limit", 5.1), Ok(Money::from_nanos(5_100_000_000)));
        assert_eq!(Money::from_dollars("limit", 0.000001), Ok(Money::from_nanos(1_000)));
        for bad in [0.0, -1.0, 0.0000001, 0.1234565, 1e-300, f64::NAN, f64::INFINITY, 1e10] {
            let err = Money::from_dollars("limit", bad).unwrap_err();
            assert_eq!(err.field, "limit", "{bad}");
        }
    }

    #[test]
    fn six_decimals_mean_the_shortest_decimal_form() {
        assert_eq!(Money::from_dollars("limit", 0.3), Ok(Money::from_nanos(300_000_000)));
        assert_eq!(Money::from_dollars("limit", 3e-6), Ok(Money::from_nanos(3_000)));
        assert_eq!(Money::from_dollars("limit", 123_456.789_012), Ok(Money::from_nanos(123_456_789_012_000)));
        assert!(Money::from_dollars("limit", 0.1 + 0.2).is_err(), "0.30000000000000004 has 17 decimals");
    }
}
