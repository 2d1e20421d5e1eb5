//! What tokens cost, per model, as data: a [`PriceList`] read from JSON (the default one ships
//! with the model provider; operators may replace it with `TOKENMETER_PRICES`).
//!
//! Prices are whole nano-dollars per token (= the price per million tokens in thousandths of a
//! dollar), so every cost computed from token counts is exact. A call is priced by the model
//! ID it called: an inference profile's prefix (`us.`, `eu.`, `global.`, …) resolves to its base
//! model, and the price list says how much each prefix adds (AWS bills geographic profiles of
//! the 4.5 models 10 % above `global.` and the base model).

use serde::Deserialize;

use super::Money;

/// Tokens of one model call, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

    /// Input tokens of every kind: what the seed contract calls `inputTokens`.
    pub fn all_input(&self) -> u64 {
        self.input + self.cache_read + self.cache_write
    }
}

/// Nano-dollars per token, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenPrices {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
}

/// What a call cost. `input` includes cache reads and writes; `total = input + output`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cost {
    pub input: Money,
    pub output: Money,
    pub total: Money,
}

impl TokenPrices {
    pub fn cost(&self, usage: TokenUsage) -> Cost {
        let price = |nanos: u64, tokens: u64| Money::per_token(nanos, tokens).unwrap_or(Money::from_nanos(u64::MAX));
        let input = price(self.input, usage.input)
            + price(self.cache_read, usage.cache_read)
            + price(self.cache_write, usage.cache_write);
        let output = price(self.output, usage.output);
        Cost { input, output, total: input + output }
    }

    /// The most `input` tokens plus at most `output` tokens can cost (input priced at the
    /// dearest input rate, so prompt caching can never make a call dearer than its hold).
    pub fn worst_case(&self, input: u64, output: u64) -> Money {
        let dearest_input = self.input.max(self.cache_write).max(self.cache_read);
        let price = |nanos: u64, tokens: u64| Money::per_token(nanos, tokens).unwrap_or(Money::from_nanos(u64::MAX));
        price(dearest_input, input) + price(self.output, output)
    }
}

/// A model with a price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPrice {
    /// The base model ID (`vendor.model-…`), as the provider names it without a profile prefix.
    pub id: String,
    /// The model family quotas and reports group by (`sonnet`, `haiku`, `opus`).
    pub family: String,
    /// A name for people.
    pub name: String,
    pub prices: TokenPrices,
    /// Whether geographic inference profiles bill this model above its base price.
    pub regional_surcharge: bool,
}

/// An inference-profile prefix and what it adds to the base price, in percent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Profile {
    pub prefix: String,
    pub surcharge_percent: u64,
}

/// What one called model ID costs, after its profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced {
    pub model: ModelPrice,
    /// The profile prefix the call went through, if any.
    pub profile: Option<String>,
    pub prices: TokenPrices,
}

/// Every model with a price, and the profiles that can front them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceList {
    models: Vec<ModelPrice>,
    profiles: Vec<Profile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PriceFile {
    #[serde(default)]
    profiles: Vec<ProfileEntry>,
    models: Vec<ModelEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProfileEntry {
    prefix: String,
    surcharge_percent: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ModelEntry {
    id: String,
    family: String,
    name: String,
    per_million: PerMillion,
    #[serde(default)]
    regional_surcharge: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PerMillion {
    input: f64,
    output: f64,
    #[serde(default)]
    cache_read: f64,
    #[serde(default)]
    cache_write: f64,
}

/// Dollars per million tokens as whole nano-dollars per token, when it is one.
fn nanos_per_token(model: &str, kind: &str, per_million: f64) -> Result<u64, String> {
    let milli = per_million * 1000.0;
    let rounded = milli.round();
    if !(0.0..1e12).contains(&rounded) || (milli - rounded).abs() > 1e-6 {
        return Err(format!(
            "{model}: the {kind} price ${per_million} per million tokens must be a non-negative multiple of $0.001"
        ));
    }
    Ok(rounded as u64)
}

impl PriceList {
    /// Reads a price list from its JSON form (see `api/src/model/prices.json`).
    pub fn from_json(text: &str) -> Result<Self, String> {
        let file: PriceFile = serde_json::from_str(text).map_err(|e| format!("not a price list: {e}"))?;
        if file.models.is_empty() {
            return Err("a price list needs at least one model".into());
        }
        let models = file
            .models
            .into_iter()
            .map(|m| {
                let price = |kind, value| nanos_per_token(&m.id, kind, value);
                let prices = TokenPrices {
                    input: price("input", m.per_million.input)?,
                    output: price("output", m.per_million.output)?,
                    cache_read: price("cache read", m.per_million.cache_read)?,
                    cache_write: price("cache write", m.per_million.cache_write)?,
                };
                let family = m.family.to_ascii_lowercase();
                if family.is_empty() || !family.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                    return Err(format!("{}: the family must be a word of letters and digits", m.id));
                }
                Ok(ModelPrice { id: m.id, family, name: m.name, prices, regional_surcharge: m.regional_surcharge })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let profiles =
            file.profiles.into_iter().map(|p| Profile { prefix: p.prefix, surcharge_percent: p.surcharge_percent });
        let list = Self { models, profiles: profiles.collect() };
        // Every surcharge must keep prices whole: check each model under each profile.
        for model in &list.models {
            for profile in &list.profiles {
                list.surcharged(model, profile)?;
            }
        }
        Ok(list)
    }

    fn surcharged(&self, model: &ModelPrice, profile: &Profile) -> Result<TokenPrices, String> {
        if !model.regional_surcharge || profile.surcharge_percent == 0 {
            return Ok(model.prices);
        }
        let up = |nanos: u64| {
            let scaled = nanos * (100 + profile.surcharge_percent);
            scaled.is_multiple_of(100).then_some(scaled / 100).ok_or_else(|| {
                format!("{} through {}: the surcharge makes a price that is not whole", model.id, profile.prefix)
            })
        };
        let p = model.prices;
        Ok(TokenPrices {
            input: up(p.input)?,
            output: up(p.output)?,
            cache_read: up(p.cache_read)?,
            cache_write: up(p.cache_write)?,
        })
    }

    /// The base model and profile of a called model ID.
    fn resolve(&self, called: &str) -> Option<(&ModelPrice, Option<&Profile>)> {
        if let Some(model) = self.models.iter().find(|m| m.id == called) {
            return Some((model, None));
        }
        self.profiles.iter().find_map(|profile| {
            let base = called.strip_prefix(profile.prefix.as_str())?;
            self.models.iter().find(|m| m.id == base).map(|m| (m, Some(profile)))
        })
    }

    /// The price of a call to `called` (a base model ID or a profile of one).
    pub fn price(&self, called: &str) -> Option<Priced> {
        let (model, profile) = self.resolve(called)?;
        let prices = match profile {
            Some(profile) => self.surcharged(model, profile).ok()?,
            None => model.prices,
        };
        Some(Priced { model: model.clone(), profile: profile.map(|p| p.prefix.clone()), prices })
    }

    /// The base model ID a called ID resolves to (the ID itself when it is unknown).
    pub fn base_model_id<'a>(&'a self, called: &'a str) -> &'a str {
        self.resolve(called).map_or(called, |(model, _)| model.id.as_str())
    }

    /// The family of a called model ID, when the model is known.
    pub fn family_of<'a>(&'a self, called: &str) -> Option<&'a str> {
        self.resolve(called).map(|(model, _)| model.family.as_str())
    }

    /// Every model with a price.
    pub fn models(&self) -> &[ModelPrice] {
        &self.models
    }

    /// Every family in the list, each once.
    pub fn families(&self) -> Vec<&str> {
        let mut families: Vec<&str> = self.models.iter().map(|m| m.family.as_str()).collect();
        families.sort_unstable();
        families.dedup();
        families
    }

    /// Every ID a call may name: each model, and each profile of it that has a price.
    pub fn callable_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.models.iter().map(|m| m.id.clone()).collect();
        for profile in &self.profiles {
            ids.extend(
                self.models.iter().map(|m| format!("{}{}", profile.prefix, m.id)).filter(|id| self.price(id).is_some()),
            );
        }
        ids
    }

    /// The model IDs a caller may choose, for error messages: base IDs and profile prefixes.
    pub fn describe_choices(&self) -> String {
        let ids = self.models.iter().map(|m| m.id.as_str()).collect::<Vec<_>>().join(", ");
        let prefixes = self.profiles.iter().map(|p| p.prefix.as_str()).collect::<Vec<_>>().join(" ");
        format!("{ids} (or an inference profile of one: {prefixes})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A price list of made-up models (the domain names no real model ID).
    fn list() -> PriceList {
        PriceList::from_json(
            r#"{
                "profiles": [{"prefix": "global.", "surchargePercent": 0}, {"prefix": "eu.", "surchargePercent": 10}],
                "models": [
                    {"id": "vendor.big-1", "family": "big", "name": "Big 1", "regionalSurcharge": true,
                     "perMillion": {"input": 3.0, "output": 15.0, "cacheRead": 0.3, "cacheWrite": 3.75}},
                    {"id": "vendor.old-1", "family": "old", "name": "Old 1",
                     "perMillion": {"input": 15.0, "output": 75.0}}
                ]
            }"#,
        )
        .unwrap()
    }

    #[test]
    fn the_seed_figures_hold_three_and_fifteen_dollars_per_million() {
        // The reference UI: 12 input + 30 output tokens cost $0.000036 + $0.000450 = $0.000486.
        let priced = list().price("global.vendor.big-1").unwrap();
        let cost = priced.prices.cost(TokenUsage { input: 12, output: 30, ..Default::default() });
        assert_eq!(cost.input, Money::from_nanos(36_000));
        assert_eq!(cost.output, Money::from_nanos(450_000));
        assert_eq!(cost.total.dollars(), 0.000486);
    }

    #[test]
    fn geographic_profiles_cost_ten_percent_more_where_the_model_says_so() {
        let list = list();
        assert_eq!(list.price("vendor.big-1").unwrap().prices.input, 3_000);
        assert_eq!(list.price("global.vendor.big-1").unwrap().prices.input, 3_000);
        let eu = list.price("eu.vendor.big-1").unwrap();
        assert_eq!((eu.prices.input, eu.prices.output, eu.prices.cache_write), (3_300, 16_500, 4_125));
        assert_eq!(eu.profile.as_deref(), Some("eu."));
        assert_eq!(list.price("eu.vendor.old-1").unwrap().prices.input, 15_000);
        assert_eq!(list.price("us.vendor.big-1"), None);
        assert_eq!(list.family_of("eu.vendor.big-1"), Some("big"));
        assert_eq!(list.base_model_id("eu.vendor.big-1"), "vendor.big-1");
    }

    #[test]
    fn price_lists_with_inexact_prices_are_refused() {
        let inexact =
            r#"{"models": [{"id": "m", "family": "f", "name": "M", "perMillion": {"input": 0.0001, "output": 1}}]}"#;
        assert!(PriceList::from_json(inexact).unwrap_err().contains("multiple of $0.001"));
        assert!(PriceList::from_json(r#"{"models": []}"#).is_err());
        assert!(PriceList::from_json(r#"{"models": [], "extra": 1}"#).is_err());
    }

    proptest! {
        #[test]
        fn cost_is_price_times_tokens(input in 0u64..1 << 40, output in 0u64..1 << 40) {
            let prices = list().price("vendor.big-1").unwrap().prices;
            let cost = prices.cost(TokenUsage { input, output, ..Default::default() });
            prop_assert_eq!(cost.input.nanos(), input * 3_000);
            prop_assert_eq!(cost.output.nanos(), output * 15_000);
            prop_assert_eq!(cost.total.nanos(), cost.input.nanos() + cost.output.nanos());
            prop_assert!(prices.worst_case(input, output) >= cost.total);
        }
    }
}
