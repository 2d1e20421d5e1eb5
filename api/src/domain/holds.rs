//! Reservations: how many tokens a model call may use before it starts.
//!
//! A call reserves its input tokens plus an output cap that fits in what remains; the model is
//! told that cap, so it cannot generate more. Afterwards the hold is settled to the real usage
//! (never more than reserved) or released. Concurrent calls therefore cannot push usage past
//! the limit: each one's worst case was admitted against the others' holds.

use std::fmt;

use super::Timestamp;

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

/// Tokens set aside for one model call in flight, until `expires_at` at the latest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub id: HoldId,
    pub tokens: u64,
    pub expires_at: Timestamp,
}

/// What a call may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Input plus output cap: the tokens to hold.
    pub reserve: u64,
    /// The most tokens the model may generate.
    pub max_output_tokens: u32,
}

/// Why a call cannot start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortfall {
    /// Nothing remains.
    Exhausted,
    /// The prompt alone needs `needed` tokens (its input plus at least one output token).
    PromptTooLarge { needed: u64, available: u64 },
}

/// Plans a call with `input_tokens` of input, asking for up to `requested_output` output
/// tokens, when `available` tokens remain unreserved.
pub fn plan(available: u64, input_tokens: u64, requested_output: u32) -> Result<Plan, Shortfall> {
    if available == 0 {
        return Err(Shortfall::Exhausted);
    }
    let room_for_output = available
        .checked_sub(input_tokens)
        .filter(|room| *room > 0)
        .ok_or(Shortfall::PromptTooLarge { needed: input_tokens.saturating_add(1), available })?;
    let max_output_tokens = u64::from(requested_output.max(1)).min(room_for_output) as u32;
    Ok(Plan { reserve: input_tokens + u64::from(max_output_tokens), max_output_tokens })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn output_is_capped_by_what_remains() {
        assert_eq!(plan(1000, 12, 1024), Ok(Plan { reserve: 1000, max_output_tokens: 988 }));
        assert_eq!(plan(100_000, 12, 1024), Ok(Plan { reserve: 1036, max_output_tokens: 1024 }));
        assert_eq!(plan(0, 12, 1024), Err(Shortfall::Exhausted));
        assert_eq!(plan(12, 12, 1024), Err(Shortfall::PromptTooLarge { needed: 13, available: 12 }));
    }

    proptest! {
        /// Whatever the model then does within its cap, usage cannot pass the limit.
        #[test]
        fn a_planned_call_never_exceeds_what_was_available(
            available in 0u64..1 << 40,
            input in 0u64..1 << 40,
            requested in 0u32..200_000,
            used_fraction in 0.0f64..=1.0,
        ) {
            match plan(available, input, requested) {
                Ok(p) => {
                    prop_assert!(p.reserve <= available);
                    prop_assert!(p.max_output_tokens >= 1);
                    prop_assert!(p.max_output_tokens <= requested.max(1));
                    prop_assert_eq!(p.reserve, input + u64::from(p.max_output_tokens));
                    let output = (f64::from(p.max_output_tokens) * used_fraction) as u64;
                    prop_assert!(input + output <= available);
                }
                Err(Shortfall::Exhausted) => prop_assert_eq!(available, 0),
                Err(Shortfall::PromptTooLarge { needed, .. }) => {
                    prop_assert!(input >= available);
                    prop_assert_eq!(needed, input + 1);
                }
            }
        }
    }
}
