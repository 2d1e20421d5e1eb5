//! `JsonBody<T>`: a JSON request body whose every rejection names the field and the reason.
//!
//! poem-openapi's own `Json<T>` reports type errors without the field they occurred in; this
//! extractor keeps the schema of `T` for the OpenAPI document but parses with serde, tracking
//! the path to the failing field. Numbers are read from their literal text, exactly: `1e3` is
//! 1000, while `0.5`, `1e-400` and `1.0000000000000001` are not whole numbers (an `f64` would
//! round the last two to 0 and 1).

use poem::{Request, RequestBody};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    registry::{MetaMediaType, MetaRequest, Registry},
    types::Type,
};
use serde::{Deserialize, Deserializer, de::DeserializeOwned, de::Error as _};
use serde_json::{Value, value::RawValue};

use super::error::{AnyCode, ApiError};

pub(crate) struct JsonBody<T>(pub(crate) T);

impl<'a, T: Type + DeserializeOwned + Send> ApiExtractor<'a> for JsonBody<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType { content_type: "application/json", schema: T::schema_ref() }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let bytes = super::read_body::read(request, body.take()?).await?;
        Ok(Self(parse(&bytes)?))
    }
}

/// Parses `bytes` as `T`. Content-Type is not checked: a body that parses as JSON is JSON
/// (curl's `-d` sends form encoding by default, and a clear parse error serves better than a 415).
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError<AnyCode>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid_json("the body is empty"));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| ApiError::invalid_json(&e.to_string()))?;
    if !value.is_object() {
        return Err(ApiError::invalid_json(&format!("expected a JSON object, found {}", kind(&value))));
    }
    // From the bytes, not the value: the fields' deserializers see numbers' literal text.
    let mut stream = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut stream).map_err(|err| {
        let field = err.path().to_string();
        let message = err.inner().to_string();
        let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
        match message.strip_prefix("missing field `").and_then(|rest| rest.strip_suffix('`')) {
            Some(missing) => ApiError::invalid_field(missing, "is required"),
            None => ApiError::invalid_field(&field, &message),
        }
    })
}

fn kind(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// The kind of a raw JSON value, for reasons.
fn raw_kind(raw: &RawValue) -> String {
    serde_json::from_str::<Value>(raw.get()).map_or_else(|_| "that value".into(), |v| kind(&v))
}

/// The whole number a JSON number literal names exactly, or why it names none.
pub(crate) fn whole_literal(text: &str) -> Result<u64, String> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i64>().map_err(|_| format!("must be a whole number (got {text})"))?),
        None => (unsigned, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: String = format!("{int}{frac}").trim_start_matches('0').to_owned();
    if digits.is_empty() {
        return Ok(0);
    }
    if negative {
        return Err(format!("must not be negative (got {text})"));
    }
    // The value is digits × 10^shift.
    let shift = exponent - frac.len() as i64;
    let whole = if shift >= 0 {
        (shift <= 20).then(|| format!("{digits}{}", "0".repeat(shift as usize)))
    } else {
        let cut = (-shift) as usize;
        match digits.len().checked_sub(cut) {
            Some(keep) if digits[keep..].bytes().all(|b| b == b'0') => Some(digits[..keep].to_owned()),
            _ => return Err(format!("must be a whole number (got {text})")),
        }
    };
    whole
        .and_then(|w| if w.is_empty() { Some(0) } else { w.parse::<u64>().ok() })
        .ok_or_else(|| format!("is too large (got {text})"))
}

/// Deserializes a whole number from its literal: integral literals (`100`, `100.0`, `1e3`) are
/// accepted; fractions, tiny exponents, strings, negatives and null are not.
pub(crate) fn whole_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let raw = Box::<RawValue>::deserialize(deserializer)?;
    let text = raw.get();
    if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return whole_literal(text).map_err(D::Error::custom);
    }
    Err(D::Error::custom(format!("must be a whole number, not {}", raw_kind(&raw))))
}

/// Deserializes an optional whole number (`null` or absent is `None`).
pub(crate) fn optional_whole_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    let raw = Box::<RawValue>::deserialize(deserializer)?;
    match raw.get() {
        "null" => Ok(None),
        text if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) => {
            whole_literal(text).map(Some).map_err(D::Error::custom)
        }
        _ => Err(D::Error::custom(format!("must be a whole number, not {}", raw_kind(&raw)))),
    }
}

/// The number a JSON value's literal names, or why it names none.
pub(crate) fn number_literal(raw: &RawValue) -> Result<f64, String> {
    let text = raw.get();
    if !text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return Err(format!("must be a number, not {}", raw_kind(raw)));
    }
    let value: f64 = text.parse().map_err(|_| format!("is not a number (got {text})"))?;
    let mantissa = text.split(['e', 'E']).next().unwrap_or(text);
    if value == 0.0 && mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        return Err(format!("is too small to represent (got {text})"));
    }
    if !value.is_finite() {
        return Err(format!("is too large (got {text})"));
    }
    Ok(value)
}

/// Deserializes a number, refusing other JSON types with a readable reason.
pub(crate) fn number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let raw = Box::<RawValue>::deserialize(deserializer)?;
    number_literal(&raw).map_err(D::Error::custom)
}

/// Deserializes an optional number as [`number`] does (`null` or absent is `None`).
pub(crate) fn optional_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    let raw = Box::<RawValue>::deserialize(deserializer)?;
    match raw.get() {
        "null" => Ok(None),
        _ => number_literal(&raw).map(Some).map_err(D::Error::custom),
    }
}

/// Deserializes a string, rejecting other JSON types with a readable reason.
pub(crate) fn string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::String(s) => Ok(s),
        other => Err(D::Error::custom(format!("must be a string, not {}", kind(&other)))),
    }
}

/// Deserializes an optional boolean (`null` or absent is `None`).
pub(crate) fn optional_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(b)),
        other => Err(D::Error::custom(format!("must be true or false, not {}", kind(&other)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        #[serde(deserialize_with = "whole_number")]
        token_limit: u64,
    }

    fn reason(body: &str) -> (String, String) {
        let err = parse::<Probe>(body.as_bytes()).unwrap_err();
        let details = err.details.unwrap();
        (details.field.unwrap_or_default(), details.reason.unwrap_or_default())
    }

    #[test]
    fn each_rejection_names_the_field_and_the_reason() {
        assert_eq!(reason(r#"{}"#), ("tokenLimit".into(), "is required".into()));
        assert_eq!(
            reason(r#"{"tokenLimit": "100"}"#),
            ("tokenLimit".into(), r#"must be a whole number, not the string "100""#.into())
        );
        assert_eq!(reason(r#"{"tokenLimit": 1.5}"#), ("tokenLimit".into(), "must be a whole number (got 1.5)".into()));
        assert_eq!(reason(r#"{"tokenLimit": -5}"#), ("tokenLimit".into(), "must not be negative (got -5)".into()));
        assert_eq!(reason(r#"{"tokenLimit": null}"#), ("tokenLimit".into(), "must be a whole number, not null".into()));
    }

    #[test]
    fn numbers_are_read_exactly_from_their_literals() {
        assert_eq!(parse::<Probe>(br#"{"tokenLimit": 100.0}"#).unwrap().token_limit, 100);
        assert_eq!(parse::<Probe>(br#"{"tokenLimit": 1e3}"#).unwrap().token_limit, 1000);
        assert_eq!(parse::<Probe>(br#"{"tokenLimit": 2.5e1}"#).unwrap().token_limit, 25);
        assert_eq!(parse::<Probe>(br#"{"tokenLimit": 0e99}"#).unwrap().token_limit, 0);
        for fraction in ["1e-400", "0.5", "1.0000000000000001", "5e-1"] {
            let (field, why) = reason(&format!(r#"{{"tokenLimit": {fraction}}}"#));
            assert_eq!((field.as_str(), why), ("tokenLimit", format!("must be a whole number (got {fraction})")));
        }
        assert!(reason(r#"{"tokenLimit": 1e30}"#).1.contains("too large"));
        assert!(reason(r#"{"tokenLimit": 18446744073709551616}"#).1.contains("too large"));
    }

    #[test]
    fn malformed_bodies_are_invalid_json() {
        for body in ["", "  ", "{", "[1]", "42", "null", "{\"tokenLimit\": }"] {
            assert_eq!(parse::<Probe>(body.as_bytes()).unwrap_err().code.as_str(), "invalid_json", "{body:?}");
        }
    }

    proptest! {
        #[test]
        fn any_bytes_give_a_400_never_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            match parse::<Probe>(&bytes) {
                Ok(_) => {}
                Err(err) => prop_assert_eq!(err.status().as_u16(), 400),
            }
        }

        #[test]
        fn every_u64_round_trips(v in any::<u64>()) {
            let parsed = parse::<Probe>(format!(r#"{{"tokenLimit": {v}}}"#).as_bytes()).unwrap();
            prop_assert_eq!(parsed.token_limit, v);
        }
    }
}
