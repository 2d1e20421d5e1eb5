//! A failed request, typed: what the service said (its `{error, message, details}`), or what
//! went wrong on the way. Pages match on it; `Display` is the sentence they show.

use std::fmt;

use tokenmeter_client::{
    Error,
    types::{ErrorBody, QuotaDetails},
};

#[derive(Clone, Debug, PartialEq)]
pub enum ApiError {
    /// The service answered with its error body.
    Service {
        status: u16,
        /// The stable code (`user_not_found`, `invalid_request`, …).
        code: String,
        message: String,
        /// The request field it rejected (`tokenLimit`, `userId`, …), and why.
        field: Option<(String, String)>,
        /// The rule that refused a call (`quota_exceeded`, `token_limit_exceeded`).
        quota: Option<Box<QuotaDetails>>,
    },
    /// The service could not be reached (down, restarting, or the network is gone).
    Unreachable,
    /// The service answered something that is not its error shape.
    Unexpected { status: u16 },
    /// The app refused the input before sending it.
    Invalid(String),
    /// Anything else (an unreadable answer, a stream that ended early).
    Other(String),
}

impl ApiError {
    /// The sentence to show next to a form whose fields are labelled `labels`
    /// (`[("tokenLimit", "Token limit")]`): a rejected field is named as its label names it.
    pub fn for_form(&self, labels: &[(&str, &str)]) -> String {
        if let ApiError::Service { field: Some((field, reason)), .. } = self
            && let Some((_, label)) = labels.iter().find(|(name, _)| name == field)
        {
            return format!("{label} {reason}.");
        }
        self.to_string()
    }

    /// Whether the key no longer opens anything (revoked, or its user deleted).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, ApiError::Service { status: 401, .. })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Service { message, .. } => f.write_str(message),
            ApiError::Unreachable => f.write_str(
                "Could not reach the tokenmeter service. Check that it is running and your connection, then try again.",
            ),
            ApiError::Unexpected { status } => {
                write!(f, "The service answered unexpectedly (HTTP {status}). Try again.")
            }
            ApiError::Invalid(message) | ApiError::Other(message) => f.write_str(message),
        }
    }
}

impl From<Error<ErrorBody>> for ApiError {
    fn from(err: Error<ErrorBody>) -> Self {
        match err {
            Error::ErrorResponse(response) => {
                let status = response.status().as_u16();
                let body = response.into_inner();
                let (field, quota) = match body.details {
                    Some(d) => (d.field.zip(d.reason), d.quota.map(Box::new)),
                    None => (None, None),
                };
                ApiError::Service { status, code: body.error, message: body.message, field, quota }
            }
            Error::CommunicationError(_) => ApiError::Unreachable,
            Error::UnexpectedResponse(response) => ApiError::Unexpected { status: response.status().as_u16() },
            other => ApiError::Other(format!("The request failed: {other}.")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejected_field_is_named_as_its_label() {
        let err = ApiError::Service {
            status: 400,
            code: "invalid_request".into(),
            message: "Invalid `tokenLimit`: must be a positive integer (got 0).".into(),
            field: Some(("tokenLimit".into(), "must be a positive integer (got 0)".into())),
            quota: None,
        };
        assert_eq!(err.for_form(&[("tokenLimit", "Token limit")]), "Token limit must be a positive integer (got 0).");
        assert_eq!(err.for_form(&[("userId", "User ID")]), "Invalid `tokenLimit`: must be a positive integer (got 0).");
        assert_eq!(ApiError::Invalid("API key is required.".into()).for_form(&[]), "API key is required.");
    }
}
