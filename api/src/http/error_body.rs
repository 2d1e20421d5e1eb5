//! The one JSON shape of every error answer: `{error, message, details}`.

use poem_openapi::Object;

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct ErrorBody {
    /// A stable, machine-readable code, e.g. `user_not_found` or `invalid_request`.
    pub error: String,
    /// What went wrong and what to do about it, for a person.
    pub message: String,
    // Structured facts about the failure, when there are any. (No doc comment: it would wrap
    // the `$ref` in `allOf`, which code generators mangle.)
    #[oai(skip_serializing_if_is_none)]
    pub details: Option<ErrorDetails>,
}

/// Facts about a failure. Which fields are present depends on the error.
#[derive(Debug, Clone, Default, PartialEq, Object)]
#[oai(rename_all = "camelCase")]
pub struct ErrorDetails {
    /// The request field that was rejected (`tokenLimit`, `userId`, …).
    #[oai(skip_serializing_if_is_none)]
    pub field: Option<String>,
    /// Why the field was rejected.
    #[oai(skip_serializing_if_is_none)]
    pub reason: Option<String>,
    /// The user the request was about.
    #[oai(skip_serializing_if_is_none)]
    pub user_id: Option<String>,
    /// The largest request body accepted, in bytes.
    #[oai(skip_serializing_if_is_none)]
    pub max_bytes: Option<u64>,
    /// Tokens the user can still spend under the lifetime limit.
    #[oai(skip_serializing_if_is_none)]
    pub remaining_tokens: Option<u64>,
    /// Tokens the refused call needed (its input plus at least one output token).
    #[oai(skip_serializing_if_is_none)]
    pub required_tokens: Option<u64>,
    /// Tokens only held by calls in flight: they come back when those calls settle.
    #[oai(skip_serializing_if_is_none)]
    pub held_tokens: Option<u64>,
    /// The rule that refused the call.
    #[oai(skip_serializing_if_is_none)]
    pub quota: Option<QuotaDetails>,
    /// Seconds until a retry can succeed.
    #[oai(skip_serializing_if_is_none)]
    pub retry_after_seconds: Option<u64>,
    /// How many users still use what was to be deleted.
    #[oai(skip_serializing_if_is_none)]
    pub users: Option<u64>,
    /// The request's ID: quote it when reporting a problem (the logs carry the cause).
    #[oai(skip_serializing_if_is_none)]
    pub request_id: Option<String>,
}

/// A rule that refused a call.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(rename_all = "camelCase")]
pub struct QuotaDetails {
    /// `tokens`, `requests` or `cost`.
    pub metric: String,
    /// `day`, `month` or `total`.
    pub period: String,
    /// The model family or ID the rule counts, absent for every model.
    #[oai(skip_serializing_if_is_none)]
    pub model: Option<String>,
    /// `limit` (the lifetime limit), `tier` or `user`.
    pub source: String,
    /// In the metric's unit: tokens, requests, or US dollars.
    pub limit: f64,
    pub used: f64,
    pub remaining: f64,
    /// What calls in flight hold of it.
    pub held: f64,
    /// When the rule's period resets (ISO-8601 UTC); absent for `total`.
    #[oai(skip_serializing_if_is_none)]
    pub resets_at: Option<String>,
}
