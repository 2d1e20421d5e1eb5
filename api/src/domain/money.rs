//! Exact money: integer nano-dollars (10^-9 USD). Dollars as floats exist only at the edge.

use std::ops::Add;

/// An amount of US dollars, kept exactly as a whole number of nano-dollars.
///
/// Every Bedrock price per million tokens in whole tenths of a cent is a whole number of
/// nano-dollars per token, so costs computed from token counts never round.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
    pub fn dollars(self) -> f64 {
        let whole = (self.0 / Self::NANOS_PER_DOLLAR) as f64;
        let frac = (self.0 % Self::NANOS_PER_DOLLAR) as f64 / Self::NANOS_PER_DOLLAR as f64;
        whole + frac
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
    }
}
