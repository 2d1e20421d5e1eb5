use super::{KeyId, ModelError, UserId, ValidationError};

/// Everything a domain operation can fail with. The HTTP layer maps each variant to one
/// status and one stable error code, in one place.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("no user with ID '{0}' exists")]
    UserNotFound(UserId),
    #[error("a user with ID '{0}' already exists")]
    UserExists(UserId),
    #[error("recording {tokens} more tokens would overflow the usage counter of user '{user}'")]
    UsageOverflow { user: UserId, tokens: u64 },
    #[error("the API key is missing, unknown or revoked")]
    InvalidKey,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("no API key with ID '{0}' exists")]
    KeyNotFound(KeyId),
    #[error("the store is unavailable: {0}")]
    StoreUnavailable(String),
    /// Not enough tokens remain for the call: `available` are left, `needed` were required.
    #[error("user '{user}' has {available} tokens left")]
    TokenLimitExceeded { user: UserId, available: u64, needed: Option<u64> },
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// What a [`super::UserStore`] can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    AlreadyExists,
    #[error("counter overflow")]
    Overflow,
    /// A reservation did not fit: only `available` tokens are unreserved.
    #[error("only {available} tokens are available")]
    InsufficientTokens { available: u64 },
    /// The store could not be reached or failed to commit; the operation did not happen.
    #[error("{0}")]
    Unavailable(String),
}

impl Error {
    pub(crate) fn from_store(err: StoreError, user: &UserId) -> Self {
        match err {
            StoreError::NotFound => Error::UserNotFound(user.clone()),
            StoreError::AlreadyExists => Error::UserExists(user.clone()),
            StoreError::Overflow => Error::UsageOverflow { user: user.clone(), tokens: 0 },
            StoreError::InsufficientTokens { available } => {
                Error::TokenLimitExceeded { user: user.clone(), available, needed: None }
            }
            StoreError::Unavailable(why) => Error::StoreUnavailable(why),
        }
    }
}
