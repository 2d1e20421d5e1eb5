//! `Quantity`: an amount in a rule's unit (tokens, requests, or US dollars) as JSON shows it:
//! a whole number as an integer (`1000`, not `1000.0`), dollars as a decimal.

use std::borrow::Cow;

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseFromJSON, ParseResult, ToJSON, Type},
};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::domain::MAX_TOKENS;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Quantity(pub(crate) f64);

impl Type for Quantity {
    const IS_REQUIRED: bool = true;
    type RawValueType = f64;
    type RawElementValueType = f64;

    fn name() -> Cow<'static, str> {
        Cow::Borrowed("number")
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new("number")))
    }

    fn as_raw_value(&self) -> Option<&f64> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a f64> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl ToJSON for Quantity {
    fn to_json(&self) -> Option<Value> {
        let whole = self.0.fract() == 0.0 && self.0.abs() <= 9_007_199_254_740_992.0;
        Some(if whole { Value::from(self.0 as i64) } else { Value::from(self.0) })
    }
}

impl ParseFromJSON for Quantity {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        f64::parse_from_json(value).map(Self).map_err(poem_openapi::types::ParseError::propagate)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    /// A number as written; a whole one above 2^53 − 1 is refused (as an `f64` it could silently
    /// round: `9007199254740993` would read as `9007199254740992`).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        if super::body::whole_literal(raw.get()).is_ok_and(|n| n > MAX_TOKENS) {
            return Err(D::Error::custom(format!("must be at most {MAX_TOKENS} (got {})", raw.get())));
        }
        super::body::number_literal(&raw).map(Self).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_amounts_are_integers_and_dollars_decimals() {
        assert_eq!(Quantity(1000.0).to_json(), Some(Value::from(1000)));
        assert_eq!(serde_json::to_string(&Quantity(1000.0).to_json()).unwrap(), "1000");
        assert_eq!(serde_json::to_string(&Quantity(5.25).to_json()).unwrap(), "5.25");
    }
}
