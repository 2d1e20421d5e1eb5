//! The one place where failures become HTTP responses: each [`ErrorCode`] gets its status here,
//! every error answers in one JSON shape, and each operation's error responses in the spec are
//! exactly the codes it can answer ([`Codes`]). Texts from a store or a provider are logged with
//! the request's ID, never sent: clients get our sentence and the request ID.

use std::marker::PhantomData;

use poem::{Response, error::ResponseError, http::StatusCode};
use poem_openapi::{
    ApiResponse,
    registry::{MetaMediaType, MetaResponse, MetaResponses, Registry},
    types::{ToJSON, Type},
};

pub(super) use super::error_body::QuotaDetails;
pub use super::error_body::{ErrorBody, ErrorDetails};
use crate::domain::{self, ErrorCode, ValidationError};

/// The status each code answers with: the one table.
pub(crate) fn status(code: ErrorCode) -> StatusCode {
    use ErrorCode as C;
    match code {
        C::InvalidRequest | C::InvalidJson | C::ModelRejectedRequest => StatusCode::BAD_REQUEST,
        C::Unauthorized | C::InvalidApiKey => StatusCode::UNAUTHORIZED,
        C::Forbidden => StatusCode::FORBIDDEN,
        C::UserNotFound
        | C::KeyNotFound
        | C::TierNotFound
        | C::AlertRuleNotFound
        | C::ConversationNotFound
        | C::RouteNotFound
        | C::GuestsDisabled
        | C::GuestNotFound => StatusCode::NOT_FOUND,
        C::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        // A usage counter at its maximum: the record conflicts with the user's state.
        C::UserAlreadyExists
        | C::TierInUse
        | C::ConversationLimit
        | C::IdempotencyInProgress
        | C::GuestBusy
        | C::UsageOverflow => StatusCode::CONFLICT,
        C::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        C::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        C::UriTooLong => StatusCode::URI_TOO_LONG,
        C::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
        C::HeaderTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        C::TokenLimitExceeded | C::QuotaExceeded | C::ModelThrottled | C::GuestRateLimited => {
            StatusCode::TOO_MANY_REQUESTS
        }
        C::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        C::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        C::ModelAccessDenied | C::ModelNotFound | C::ModelError => StatusCode::BAD_GATEWAY,
        C::StoreUnavailable | C::ModelUnavailable | C::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        C::ModelTimeout => StatusCode::GATEWAY_TIMEOUT,
    }
}

/// The codes an operation can answer: what its spec lists. (Codes raised before the
/// operation, by routing or by the HTTP stack, are answered in the same shape everywhere.)
pub(crate) trait Codes: Send + Sync + 'static {
    const CODES: &'static [&'static [ErrorCode]];

    fn contains(code: ErrorCode) -> bool {
        Self::CODES.iter().any(|set| set.contains(&code))
    }
}

/// Codes any operation can answer.
pub(crate) const ANY: &[ErrorCode] = &[ErrorCode::InternalError, ErrorCode::ServiceUnavailable];
/// Codes of an operation that needs a key.
pub(crate) const AUTH: &[ErrorCode] = &[ErrorCode::Unauthorized, ErrorCode::InvalidApiKey, ErrorCode::StoreUnavailable];
/// Codes of an admin-only operation.
pub(crate) const ADMIN: &[ErrorCode] = &[ErrorCode::Forbidden];
/// Codes of an operation with a JSON body or validated parameters.
pub(crate) const INPUT: &[ErrorCode] =
    &[ErrorCode::InvalidRequest, ErrorCode::InvalidJson, ErrorCode::PayloadTooLarge, ErrorCode::RequestTimeout];
/// Codes of an operation about one user.
pub(crate) const ONE_USER: &[ErrorCode] = &[ErrorCode::UserNotFound, ErrorCode::InvalidRequest];
/// Codes of an operation that takes an `Idempotency-Key`.
pub(crate) const IDEMPOTENT: &[ErrorCode] = &[ErrorCode::IdempotencyInProgress, ErrorCode::IdempotencyKeyReused];
/// Codes of an operation that calls the model.
pub(crate) const MODEL: &[ErrorCode] = &[
    ErrorCode::TokenLimitExceeded,
    ErrorCode::QuotaExceeded,
    ErrorCode::ModelThrottled,
    ErrorCode::ModelTimeout,
    ErrorCode::ModelUnavailable,
    ErrorCode::ModelAccessDenied,
    ErrorCode::ModelNotFound,
    ErrorCode::ModelRejectedRequest,
    ErrorCode::ModelError,
];

/// Declares an operation's set of codes: `codes!(CreateUser: AUTH, ADMIN, INPUT; UserAlreadyExists)`.
macro_rules! codes {
    ($name:ident: $($set:expr),* ; $($code:ident),+) => {
        pub(crate) struct $name;
        impl $crate::http::error::Codes for $name {
            const CODES: &'static [&'static [$crate::domain::ErrorCode]] =
                &[$crate::http::error::ANY, $($set,)* &[$($crate::domain::ErrorCode::$code),+]];
        }
    };
    ($name:ident: $($set:expr),*) => {
        pub(crate) struct $name;
        impl $crate::http::error::Codes for $name {
            const CODES: &'static [&'static [$crate::domain::ErrorCode]] =
                &[$crate::http::error::ANY, $($set,)*];
        }
    };
}
pub(crate) use codes;

/// An error response of an operation answering the codes `S`. Build one with the
/// constructors or from a domain error; its status always comes from its code.
pub struct ApiError<S = AnyCode> {
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<Box<ErrorDetails>>,
    /// Extra headers (`Retry-After`, `RateLimit`, `Allow`, …).
    pub headers: Vec<(&'static str, String)>,
    codes: PhantomData<S>,
}

/// The set of every code: errors raised outside operations (routing, the HTTP stack, extractors).
pub struct AnyCode;

impl Codes for AnyCode {
    const CODES: &'static [&'static [ErrorCode]] = &[ErrorCode::ALL];
}

impl<S> std::fmt::Debug for ApiError<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl<S> std::fmt::Display for ApiError<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl<S> std::error::Error for ApiError<S> {}

impl<S> Clone for ApiError<S> {
    fn clone(&self) -> Self {
        Self {
            code: self.code,
            message: self.message.clone(),
            details: self.details.clone(),
            headers: self.headers.clone(),
            codes: PhantomData,
        }
    }
}

impl<S> ApiError<S> {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), details: None, headers: Vec::new(), codes: PhantomData }
    }

    pub fn with_details(mut self, details: ErrorDetails) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The same error, as another operation's.
    pub fn into_set<T>(self) -> ApiError<T> {
        ApiError {
            code: self.code,
            message: self.message,
            details: self.details,
            headers: self.headers,
            codes: PhantomData,
        }
    }

    pub fn status(&self) -> StatusCode {
        status(self.code)
    }

    pub fn invalid_field(field: &str, reason: &str) -> Self {
        Self::new(ErrorCode::InvalidRequest, format!("Invalid `{field}`: {reason}.")).with_details(ErrorDetails {
            field: Some(field.to_owned()),
            reason: Some(reason.to_owned()),
            ..Default::default()
        })
    }

    pub fn invalid_json(reason: &str) -> Self {
        Self::new(
            ErrorCode::InvalidJson,
            format!(
                "The request body is not valid JSON: {reason}. Send a JSON object with Content-Type: application/json."
            ),
        )
        .with_details(ErrorDetails { reason: Some(reason.to_owned()), ..Default::default() })
    }

    pub fn route_not_found(method: &str, path: &str) -> Self {
        Self::new(ErrorCode::RouteNotFound, format!("There is no route {method} {path}. See /docs for the API."))
    }

    pub fn method_not_allowed(method: &str, path: &str, allowed: &[&str]) -> Self {
        let allow = allowed.join(", ");
        Self::new(
            ErrorCode::MethodNotAllowed,
            format!("{path} does not accept {method}; it accepts {allow}. See /docs."),
        )
        .with_header("allow", allow)
    }

    /// 401, for a request that sent no usable key.
    pub fn unauthorized(why: &str) -> Self {
        Self::new(ErrorCode::Unauthorized, format!("Authentication required: {why}."))
    }

    pub fn internal() -> Self {
        Self::new(
            ErrorCode::InternalError,
            "The service hit an unexpected error; nothing was changed. Try again, and report it with the request ID if it persists.",
        )
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.code.as_str().to_owned(),
            message: self.message.clone(),
            details: self.details.as_deref().cloned(),
        }
    }
}

impl<S> From<ValidationError> for ApiError<S> {
    fn from(err: ValidationError) -> Self {
        Self::invalid_field(err.field, &err.reason)
    }
}

impl<S> From<domain::Error> for ApiError<S> {
    fn from(err: domain::Error) -> Self {
        super::error_messages::from_domain(err)
    }
}

impl<S> ApiError<S> {
    /// The response this error answers with: its status, our JSON shape, and its headers.
    pub fn as_response(&self) -> Response {
        let body = self.body().to_json().unwrap_or_default().to_string();
        let mut response = Response::builder().status(self.status()).content_type("application/json; charset=utf-8");
        match self.code {
            ErrorCode::Unauthorized => {
                response = response.header(poem::http::header::WWW_AUTHENTICATE, r#"Bearer realm="tokenmeter""#);
            }
            ErrorCode::InvalidApiKey => {
                response = response.header(
                    poem::http::header::WWW_AUTHENTICATE,
                    r#"Bearer realm="tokenmeter", error="invalid_token""#,
                );
            }
            _ => {}
        }
        if let Some(remaining) = self.details.as_ref().and_then(|d| d.remaining_tokens) {
            response = response.header("x-tokens-remaining", remaining);
        }
        for (name, value) in &self.headers {
            response = response.header(*name, value.as_str());
        }
        response.body(body)
    }
}

/// An error on its way through poem, whichever operation raised it: the one type the edge
/// recognises (`routes.rs`) and answers as it is.
#[derive(Debug, Clone)]
pub(crate) struct Failure(pub(crate) ApiError<AnyCode>);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Failure {}

impl ResponseError for Failure {
    fn status(&self) -> StatusCode {
        self.0.status()
    }

    fn as_response(&self) -> Response {
        self.0.as_response()
    }
}

impl<S: Codes> From<ApiError<S>> for poem::Error {
    fn from(err: ApiError<S>) -> Self {
        debug_assert!(
            S::contains(err.code),
            "an operation answered `{}`, which its spec does not list: add it to its `codes!` set",
            err.code.as_str()
        );
        poem::Error::from(Failure(err.into_set()))
    }
}

impl<S: Codes> ApiResponse for ApiError<S> {
    fn meta() -> MetaResponses {
        let mut by_status: Vec<(u16, Vec<ErrorCode>)> = Vec::new();
        for code in S::CODES.iter().flat_map(|set| set.iter()) {
            let status = status(*code).as_u16();
            match by_status.iter_mut().find(|(s, _)| *s == status) {
                Some((_, codes)) if !codes.contains(code) => codes.push(*code),
                Some(_) => {}
                None => by_status.push((status, vec![*code])),
            }
        }
        by_status.sort_by_key(|(status, _)| *status);
        MetaResponses {
            responses: by_status
                .into_iter()
                .map(|(status, codes)| MetaResponse {
                    description: Box::leak(
                        codes
                            .iter()
                            .map(|c| format!("`{}`: {}", c.as_str(), c.description()))
                            .collect::<Vec<_>>()
                            .join(" ")
                            .into_boxed_str(),
                    ),
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

pub(crate) type ApiResult<T, S = AnyCode> = Result<T, ApiError<S>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthorized_answers_carry_a_bearer_challenge() {
        let response = ApiError::<AnyCode>::unauthorized("no key").as_response();
        let through_poem = poem::Error::from(ApiError::<AnyCode>::unauthorized("no key"));
        assert_eq!(through_poem.into_response().headers()["www-authenticate"], r#"Bearer realm="tokenmeter""#);
        assert_eq!(response.headers()["www-authenticate"], r#"Bearer realm="tokenmeter""#);
    }

    #[test]
    fn every_code_has_a_status_and_client_errors_are_4xx() {
        for code in ErrorCode::ALL {
            let status = status(*code);
            let server_side = matches!(
                code,
                ErrorCode::InternalError
                    | ErrorCode::StoreUnavailable
                    | ErrorCode::ServiceUnavailable
                    | ErrorCode::ModelUnavailable
                    | ErrorCode::ModelTimeout
                    | ErrorCode::ModelAccessDenied
                    | ErrorCode::ModelNotFound
                    | ErrorCode::ModelError
            );
            assert_eq!(status.is_server_error(), server_side, "{}", code.as_str());
        }
    }
}
