//! What tokens cost, per model, as data.
//!
//! Prices are nano-dollars per token (= dollars per billion tokens, = 1/1000 of the
//! dollars-per-million figure times 10^6). Adding a model is adding a row.

use super::Money;

/// Tokens of one model call, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
}

impl TokenUsage {
    pub fn total(&self) -> u64 {
        self.input + self.output + self.cache_read + self.cache_write
    }
}

/// The price of one model, in nano-dollars per token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelPricing {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
}

/// What a call cost. `input` includes cache reads and writes; `total = input + output`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    pub input: Money,
    pub output: Money,
    pub total: Money,
}

impl ModelPricing {
    /// Dollars per million tokens → nano-dollars per token is a factor of 1,000.
    const fn per_million_milli_dollars(input: u64, output: u64, cache_read: u64, cache_write: u64) -> Self {
        Self { input, output, cache_read, cache_write }
    }

    pub fn cost(&self, usage: TokenUsage) -> Cost {
        let price = |nanos: u64, tokens: u64| Money::per_token(nanos, tokens).unwrap_or(Money::from_nanos(u64::MAX));
        let input = price(self.input, usage.input)
            + price(self.cache_read, usage.cache_read)
            + price(self.cache_write, usage.cache_write);
        let output = price(self.output, usage.output);
        Cost { input, output, total: input + output }
    }
}

/// Bedrock on-demand prices (USD per million tokens: input / output / cache read / cache write).
const BEDROCK_ANTHROPIC: &[(&str, ModelPricing)] = &[
    // Claude Sonnet 4.5: $3 / $15 / $0.30 / $3.75
    ("anthropic.claude-sonnet-4-5-20250929-v1:0", ModelPricing::per_million_milli_dollars(3_000, 15_000, 300, 3_750)),
    // Claude Haiku 4.5: $1 / $5 / $0.10 / $1.25
    ("anthropic.claude-haiku-4-5-20251001-v1:0", ModelPricing::per_million_milli_dollars(1_000, 5_000, 100, 1_250)),
    // Claude Opus 4.5: $5 / $25 / $0.50 / $6.25
    ("anthropic.claude-opus-4-5-20251101-v1:0", ModelPricing::per_million_milli_dollars(5_000, 25_000, 500, 6_250)),
    // Claude Opus 4.1: $15 / $75 / $1.50 / $18.75
    ("anthropic.claude-opus-4-1-20250805-v1:0", ModelPricing::per_million_milli_dollars(15_000, 75_000, 1_500, 18_750)),
];

/// The price list consulted for every call.
#[derive(Debug, Clone, Copy, Default)]
pub struct PricingTable;

impl PricingTable {
    /// The base model ID a cross-region inference profile (`us.`, `eu.`, `apac.`, `global.`) points at.
    pub fn base_model_id(model_id: &str) -> &str {
        ["us.", "eu.", "apac.", "global.", "us-gov."]
            .iter()
            .find_map(|prefix| model_id.strip_prefix(prefix))
            .unwrap_or(model_id)
    }

    pub fn for_model(&self, model_id: &str) -> Option<ModelPricing> {
        let base = Self::base_model_id(model_id);
        BEDROCK_ANTHROPIC.iter().find(|(id, _)| *id == base).map(|(_, price)| *price)
    }

    /// Every model with a price: the models a caller may choose.
    pub fn model_ids() -> impl Iterator<Item = &'static str> {
        BEDROCK_ANTHROPIC.iter().map(|(id, _)| *id)
    }

    /// Claude Sonnet 4.5, the product's default model.
    pub fn sonnet_4_5() -> ModelPricing {
        BEDROCK_ANTHROPIC[0].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sonnet_matches_the_published_per_thousand_prices() {
        // The reference UI: 12 input + 30 output tokens cost $0.000036 + $0.000450 = $0.000486.
        let cost = PricingTable::sonnet_4_5().cost(TokenUsage { input: 12, output: 30, ..Default::default() });
        assert_eq!(cost.input, Money::from_nanos(36_000));
        assert_eq!(cost.output, Money::from_nanos(450_000));
        assert_eq!(cost.total.dollars(), 0.000486);
    }

    #[test]
    fn inference_profiles_resolve_to_their_base_model() {
        let table = PricingTable;
        assert_eq!(table.for_model("us.anthropic.claude-sonnet-4-5-20250929-v1:0"), Some(PricingTable::sonnet_4_5()));
        assert_eq!(table.for_model("anthropic.claude-sonnet-4-5-20250929-v1:0"), Some(PricingTable::sonnet_4_5()));
        assert_eq!(table.for_model("meta.llama3"), None);
    }

    proptest! {
        #[test]
        fn sonnet_cost_is_3_and_15_dollars_per_million(input in 0u64..1 << 40, output in 0u64..1 << 40) {
            let cost = PricingTable::sonnet_4_5().cost(TokenUsage { input, output, ..Default::default() });
            // $3 per million = 3,000 nano-dollars per token; $15 per million = 15,000.
            prop_assert_eq!(cost.input.nanos(), input * 3_000);
            prop_assert_eq!(cost.output.nanos(), output * 15_000);
            prop_assert_eq!(cost.total.nanos(), cost.input.nanos() + cost.output.nanos());
        }
    }
}
