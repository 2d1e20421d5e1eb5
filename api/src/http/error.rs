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
}

/// An error response. Build one with the constructors; `status` and `code` always agree.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<ErrorDetails>,
}

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: None }
    }

    fn with_details(mut self, details: ErrorDetails) -> Self {
        self.details = Some(details);
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

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "The service hit an unexpected error; nothing was changed. Try again, and report it if it persists.",
        )
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody { error: self.code.to_owned(), message: self.message.clone(), details: self.details.clone() }
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
        Response::builder().status(self.status).content_type("application/json; charset=utf-8").body(body)
    }
}

/// Every status an operation may answer with an [`ErrorBody`].
const ERROR_STATUSES: &[(u16, &str)] = &[
    (400, "The request is malformed or a field is invalid; `details.field` names it."),
    (404, "No user with that ID exists."),
    (409, "A user with that ID already exists."),
    (413, "The request body is too large."),
    (500, "An unexpected error; nothing was changed."),
    (
        503,
        "The usage store is unavailable; a change may or may not have been applied (a timed-out store can apply it later).",
    ),
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

pub type ApiResult<T> = Result<T, ApiError>;
