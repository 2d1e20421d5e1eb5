//! Idempotency keys: a client that retries a call with the same `Idempotency-Key` within 24 hours
//! gets the first call's answer and changes nothing. The key is claimed in the same atomic step
//! as the call's effect, so a retry can never apply the effect twice, even after a timeout.

use sha2::{Digest, Sha256};

use super::{Timestamp, ValidationError};

/// How long a key is remembered.
pub const IDEMPOTENCY_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// A client's key: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 255;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let ok = (1..=Self::MAX_LEN).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(ValidationError::new(
                "Idempotency-Key",
                format!("must be 1 to {} visible ASCII characters", Self::MAX_LEN),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A key claimed for one operation on one request: `scope` names the operation and its subject
/// (`usage:alice`), `fingerprint` the request (so the same key with another body is refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    pub scope: String,
    pub key: IdempotencyKey,
    pub fingerprint: String,
    pub expires_at: Timestamp,
}

impl IdempotencyClaim {
    /// Claims `key` for the operation `scope` on a request whose meaning is `request` (a
    /// canonical rendering of the validated input, never raw bytes).
    pub fn new(scope: String, key: IdempotencyKey, request: &str, now: Timestamp) -> Self {
        let fingerprint = Sha256::digest(request.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        Self { scope, key, fingerprint, expires_at: now.plus(IDEMPOTENCY_TTL) }
    }
}

/// How far the claimed operation got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyState {
    /// Claimed by a call still running (a model call between reservation and settlement).
    Pending,
    /// Applied; with the answer once it is known.
    Applied(Option<serde_json::Value>),
}

/// A claim as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub claim: IdempotencyClaim,
    pub state: IdempotencyState,
}

/// An answer, fresh or replayed from an earlier request with the same key.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer<T> {
    pub value: T,
    pub replayed: bool,
}

impl<T> Answer<T> {
    pub fn fresh(value: T) -> Self {
        Self { value, replayed: false }
    }

    pub fn replayed(value: T) -> Self {
        Self { value, replayed: true }
    }
}
