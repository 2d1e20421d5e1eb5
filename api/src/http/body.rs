//! `JsonBody<T>`: a JSON request body whose every rejection names the field and the reason.
//!
//! poem-openapi's own `Json<T>` reports type errors without the field they occurred in; this
//! extractor keeps the schema of `T` for the OpenAPI document but parses with serde, tracking
//! the path to the failing field.

use poem::{Request, RequestBody};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    registry::{MetaMediaType, MetaRequest, Registry},
    types::Type,
};
use serde::{Deserialize, Deserializer, de::DeserializeOwned, de::Error as _};
use serde_json::Value;

use super::error::{ApiError, MAX_BODY_BYTES};

pub(super) struct JsonBody<T>(pub T);

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
        _request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let bytes = body.take()?.into_bytes_limit(MAX_BODY_BYTES).await.map_err(|err| match err {
            poem::error::ReadBodyError::PayloadTooLarge => ApiError::payload_too_large(),
            other => ApiError::invalid_json(&other.to_string()),
        })?;
        Ok(Self(parse(&bytes)?))
    }
}

/// Parses `bytes` as `T`. Content-Type is not checked: a body that parses as JSON is JSON
/// (curl's `-d` sends form encoding by default, and a clear parse error serves better than a 415).
pub(super) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid_json("the body is empty"));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| ApiError::invalid_json(&e.to_string()))?;
    if !value.is_object() {
        return Err(ApiError::invalid_json(&format!("expected a JSON object, found {}", kind(&value))));
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let field = err.path().to_string();
        let message = err.inner().to_string();
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

/// Deserializes a whole number, with a reason a person understands for anything else.
/// Integral floats (`100.0`) are accepted; fractions, strings, negatives and null are not.
pub(super) fn whole_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let value = Value::deserialize(deserializer)?;
    let reject = |what: String| Err(D::Error::custom(format!("must be a whole number, not {what}")));
    match &value {
        Value::Number(n) => {
            if let Some(v) = n.as_u64() {
                Ok(v)
            } else if n.as_i64().is_some() {
                Err(D::Error::custom(format!("must not be negative (got {n})")))
            } else {
                match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f >= 0.0 && f <= u64::MAX as f64 => Ok(f as u64),
                    Some(f) if f < 0.0 => Err(D::Error::custom(format!("must not be negative (got {n})"))),
                    _ => Err(D::Error::custom(format!("must be a whole number (got {n})"))),
                }
            }
        }
        other => reject(kind(other)),
    }
}

/// Deserializes a string, rejecting other JSON types with a readable reason.
pub(super) fn string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::String(s) => Ok(s),
        other => Err(D::Error::custom(format!("must be a string, not {}", kind(&other)))),
    }
}

/// Deserializes an optional string (`null` or absent is `None`).
pub(super) fn optional_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        other => Err(D::Error::custom(format!("must be a string, not {}", kind(&other)))),
    }
}

/// Deserializes an optional whole number (`null` or absent is `None`).
pub(super) fn optional_whole_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(value) => whole_number(value).map(Some).map_err(D::Error::custom),
    }
}

/// Deserializes an optional boolean (`null` or absent is `None`).
pub(super) fn optional_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
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
    fn integral_floats_are_whole_numbers() {
        assert_eq!(parse::<Probe>(br#"{"tokenLimit": 100.0}"#).unwrap().token_limit, 100);
        assert_eq!(parse::<Probe>(br#"{"tokenLimit": 1e3}"#).unwrap().token_limit, 1000);
    }

    #[test]
    fn malformed_bodies_are_invalid_json() {
        for body in ["", "  ", "{", "[1]", "42", "null", "{\"tokenLimit\": }"] {
            assert_eq!(parse::<Probe>(body.as_bytes()).unwrap_err().code, "invalid_json", "{body:?}");
        }
    }

    proptest! {
        #[test]
        fn any_bytes_give_a_400_never_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            match parse::<Probe>(&bytes) {
                Ok(_) => {}
                Err(err) => prop_assert_eq!(err.status.as_u16(), 400),
            }
        }

        #[test]
        fn every_u64_round_trips(v in any::<u64>()) {
            let parsed = parse::<Probe>(format!(r#"{{"tokenLimit": {v}}}"#).as_bytes()).unwrap();
            prop_assert_eq!(parsed.token_limit, v);
        }
    }
}
