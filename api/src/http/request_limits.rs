//! The limits on what a request may send, and the errors that say a request passed one.

use super::error::{ApiError, ErrorDetails};
use crate::domain::ErrorCode;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The longest request URI accepted (path and query).
pub(crate) const MAX_URI_BYTES: usize = 8 * 1024;
/// The most header bytes (names and values) a request may carry.
pub(crate) const MAX_HEADER_BYTES: usize = 16 * 1024;
/// The most headers a request may carry.
pub(crate) const MAX_HEADERS: usize = 100;

impl<S> ApiError<S> {
    pub fn payload_too_large() -> Self {
        Self::new(
            ErrorCode::PayloadTooLarge,
            format!("The request body is larger than {MAX_BODY_BYTES} bytes; send a smaller one."),
        )
        .with_details(ErrorDetails { max_bytes: Some(MAX_BODY_BYTES as u64), ..Default::default() })
    }

    pub fn uri_too_long() -> Self {
        Self::new(ErrorCode::UriTooLong, format!("The request's URI is longer than {MAX_URI_BYTES} bytes."))
            .with_details(ErrorDetails { max_bytes: Some(MAX_URI_BYTES as u64), ..Default::default() })
    }

    pub fn header_too_large() -> Self {
        Self::new(
            ErrorCode::HeaderTooLarge,
            format!("The request's headers are larger than {MAX_HEADER_BYTES} bytes or more than {MAX_HEADERS}."),
        )
        .with_details(ErrorDetails { max_bytes: Some(MAX_HEADER_BYTES as u64), ..Default::default() })
    }

    pub fn request_timeout(after: std::time::Duration) -> Self {
        Self::new(
            ErrorCode::RequestTimeout,
            format!("The request body did not arrive within {} s; send it again.", after.as_secs()),
        )
    }
}
