//! The one place where failures become HTTP responses: a status, a stable `error` code and a
//! sentence a person can act on, in one JSON shape everywhere.

use poem::{Response, error::ResponseError, http::StatusCode};
use poem_openapi::{
    ApiResponse, Object,
    registry::{MetaMediaType, MetaResponse, MetaResponses, Registry},
    types::{ToJSON, Type},
};

use crate::domain::{self, ValidationError};

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
    /// Tokens the user can still spend.
    #[oai(skip_serializing_if_is_none)]
    pub remaining_tokens: Option<u64>,
    /// Tokens the refused call needed (its input plus at least one output token).
    #[oai(skip_serializing_if_is_none)]
    pub required_tokens: Option<u64>,
    /// What the model provider said, when it said something.
    #[oai(skip_serializing_if_is_none)]
    pub provider_message: Option<String>,
}

/// An error response. Build one with the constructors; `status` and `code` always agree.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Box<ErrorDetails>>,
}

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: None }
    }

    fn with_details(mut self, details: ErrorDetails) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    pub fn invalid_field(field: &str, reason: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", format!("Invalid `{field}`: {reason}.")).with_details(
            ErrorDetails { field: Some(field.to_owned()), reason: Some(reason.to_owned()), ..Default::default() },
        )
    }

    pub fn invalid_json(reason: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!(
                "The request body is not valid JSON: {reason}. Send a JSON object with Content-Type: application/json."
            ),
        )
        .with_details(ErrorDetails { reason: Some(reason.to_owned()), ..Default::default() })
    }

    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("The request body is larger than {MAX_BODY_BYTES} bytes; send a smaller one."),
        )
        .with_details(ErrorDetails { max_bytes: Some(MAX_BODY_BYTES as u64), ..Default::default() })
    }

    pub fn route_not_found(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "route_not_found",
            format!("There is no route {method} {path}. See /docs for the API."),
        )
    }

    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{path} does not accept {method}. See /docs for the methods it accepts."),
        )
    }

    /// 401, for a request that sent no usable key.
    pub fn unauthorized(why: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", format!("Authentication required: {why}."))
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "The service hit an unexpected error; nothing was changed. Try again, and report it if it persists.",
        )
    }

    fn from_model(err: &domain::ModelError) -> Self {
        use domain::ModelError as M;
        let (status, code, message, said) = match err {
            M::Throttled(said) => (
                StatusCode::TOO_MANY_REQUESTS,
                "model_throttled",
                "The model provider is throttling requests. Nothing was charged; try again in a few seconds.",
                said,
            ),
            M::Timeout(said) => (
                StatusCode::GATEWAY_TIMEOUT,
                "model_timeout",
                "The model did not answer in time. Nothing was charged; try again, or ask for a shorter answer.",
                said,
            ),
            M::Unavailable(said) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "model_unavailable",
                "The model is unavailable right now. Nothing was charged; try again shortly.",
                said,
            ),
            M::AccessDenied(said) => (
                StatusCode::BAD_GATEWAY,
                "model_access_denied",
                "The service may not use this model: enable model access for it in the Bedrock console of this \
                 region and check the service role's bedrock:InvokeModel permission. Nothing was charged.",
                said,
            ),
            M::ModelNotFound(said) => (
                StatusCode::BAD_GATEWAY,
                "model_not_found",
                "The configured model does not exist in this region: check TOKENMETER_MODEL_ID and AWS_REGION \
                 (US inference profiles start with `us.`). Nothing was charged.",
                said,
            ),
            M::Rejected(said) => (
                StatusCode::BAD_REQUEST,
                "model_rejected_request",
                "The model rejected the request (for example, the prompt is too long). Nothing was charged.",
                said,
            ),
            M::Failed(said) => {
                (StatusCode::BAD_GATEWAY, "model_error", "The model call failed. Nothing was charged; try again.", said)
            }
        };
        Self::new(status, code, message)
            .with_details(ErrorDetails { provider_message: Some(said.clone()), ..Default::default() })
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.code.to_owned(),
            message: self.message.clone(),
            details: self.details.as_deref().cloned(),
        }
    }

    /// Turns any error poem or poem-openapi raised outside our handlers into our shape.
    pub fn from_poem(err: &poem::Error, method: &str, path: &str) -> Self {
        if let Some(ours) = err.downcast_ref::<ApiError>() {
            return ours.clone();
        }
        match err.status() {
            StatusCode::NOT_FOUND => Self::route_not_found(method, path),
            StatusCode::METHOD_NOT_ALLOWED => Self::method_not_allowed(method, path),
            StatusCode::PAYLOAD_TOO_LARGE => Self::payload_too_large(),
            StatusCode::UNAUTHORIZED => Self::unauthorized("send `Authorization: Bearer <API key>`"),
            status if status.is_client_error() => {
                Self::new(status, "invalid_request", format!("The request was rejected: {err}."))
            }
            _ => Self::internal(),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(err: ValidationError) -> Self {
        Self::invalid_field(err.field, &err.reason)
    }
}

impl From<domain::Error> for ApiError {
    fn from(err: domain::Error) -> Self {
        use domain::Error as E;
        let user = |id: &domain::UserId| ErrorDetails { user_id: Some(id.to_string()), ..Default::default() };
        match &err {
            E::Invalid(invalid) => invalid.clone().into(),
            E::UserNotFound(id) => Self::new(
                StatusCode::NOT_FOUND,
                "user_not_found",
                format!("No user with ID '{id}' exists. Check the ID, or create the user first."),
            )
            .with_details(user(id)),
            E::UserExists(id) => Self::new(
                StatusCode::CONFLICT,
                "user_already_exists",
                format!("A user with ID '{id}' already exists. Choose another ID, or update that user's limit."),
            )
            .with_details(user(id)),
            E::UsageOverflow { user: id, .. } => {
                Self::new(StatusCode::BAD_REQUEST, "usage_overflow", format!("{err}. Nothing was recorded."))
                    .with_details(user(id))
            }
            E::InvalidKey => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_api_key",
                "The API key is not valid: it is unknown, malformed or revoked. Ask an administrator for a key.",
            ),
            E::Forbidden(why) => Self::new(StatusCode::FORBIDDEN, "forbidden", format!("Not allowed: {why}.")),
            E::KeyNotFound(id) => Self::new(
                StatusCode::NOT_FOUND,
                "key_not_found",
                format!("No API key with ID '{id}' exists. List keys with GET /keys."),
            ),
            E::TokenLimitExceeded { user, available, needed } => {
                let message = match needed {
                    Some(needed) => format!(
                        "This call needs {needed} tokens but user '{user}' has {available} left. \
                         Shorten the prompt, or ask an administrator to raise the limit."
                    ),
                    None => format!(
                        "User '{user}' has reached the token limit ({available} tokens left). \
                         Ask an administrator to raise the limit."
                    ),
                };
                Self::new(StatusCode::TOO_MANY_REQUESTS, "token_limit_exceeded", message).with_details(ErrorDetails {
                    user_id: Some(user.to_string()),
                    remaining_tokens: Some(*available),
                    required_tokens: *needed,
                    ..Default::default()
                })
            }
            E::Model(model) => Self::from_model(model),
            E::StoreUnavailable(why) => {
                tracing::error!(error = %why, "store unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "The usage store is unavailable right now. A change sent now may or may not have been \
                     applied (a store that times out can still apply it later): read the user before retrying.",
                )
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        let body = self.body().to_json().unwrap_or_default().to_string();
        let mut response = Response::builder().status(self.status).content_type("application/json; charset=utf-8");
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = match self.code {
                "invalid_api_key" => r#"Bearer realm="tokenmeter", error="invalid_token""#,
                _ => r#"Bearer realm="tokenmeter""#,
            };
            response = response.header(poem::http::header::WWW_AUTHENTICATE, challenge);
        }
        if let Some(remaining) = self.details.as_ref().and_then(|d| d.remaining_tokens) {
            response = response.header("x-tokens-remaining", remaining);
        }
        response.body(body)
    }
}

/// Every status an operation may answer with an [`ErrorBody`].
const ERROR_STATUSES: &[(u16, &str)] = &[
    (400, "The request is malformed or a field is invalid; `details.field` names it."),
    (401, "No API key, or an unknown or revoked one."),
    (403, "The key may not do this (user keys cannot manage users or keys)."),
    (404, "No such user (or key), or not one this key may see."),
    (409, "A user with that ID already exists."),
    (413, "The request body is too large."),
    (429, "Not enough tokens remain (`token_limit_exceeded`), or the model provider is throttling."),
    (500, "An unexpected error; nothing was changed."),
    (502, "The model failed, or may not be used here (`model_access_denied`, `model_not_found`)."),
    (
        503,
        "The usage store or the model is unavailable (`store_unavailable`, `model_unavailable`); a store change \
         may or may not have been applied (a timed-out store can apply it later).",
    ),
    (504, "The model did not answer in time (`model_timeout`)."),
];

impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: ERROR_STATUSES
                .iter()
                .map(|&(status, description)| MetaResponse {
                    description,
                    status: Some(status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: "application/json; charset=utf-8",
                        schema: ErrorBody::schema_ref(),
                    }],
                    headers: vec![],
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        ErrorBody::register(registry);
    }
}

pub(super) type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthorized_answers_carry_a_bearer_challenge() {
        let response = ApiError::unauthorized("no key").as_response();
        assert_eq!(response.headers()["www-authenticate"], r#"Bearer realm="tokenmeter""#);
        let through_poem = poem::Error::from(ApiError::unauthorized("no key"));
        let recovered = ApiError::from_poem(&through_poem, "GET", "/users");
        assert_eq!(recovered.as_response().headers()["www-authenticate"], r#"Bearer realm="tokenmeter""#);
    }
}
