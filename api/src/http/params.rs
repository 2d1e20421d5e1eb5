//! Parameters several operations share, validated into domain values.

use poem_openapi::param::Header;

use super::strings::IdempotencyKeyText;
use crate::domain::{IdempotencyKey, UserId, ValidationError};

/// A user ID from a path.
pub(super) fn user_id(raw: &str) -> Result<UserId, ValidationError> {
    UserId::parse("userId", raw)
}

/// The `Idempotency-Key` header, when sent.
pub(super) fn idempotency_key(
    header: &Header<Option<IdempotencyKeyText>>,
) -> Result<Option<IdempotencyKey>, ValidationError> {
    header.0.as_deref().map(IdempotencyKey::parse).transpose()
}
