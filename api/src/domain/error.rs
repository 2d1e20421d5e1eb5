use super::{
    ErrorCode, IdempotencyRecord, KeyId, ModelError, QuotaRule, RuleSource, TierName, Timestamp, UserId,
    ValidationError,
};

/// Everything a domain operation can fail with. Each variant has one [`ErrorCode`]; the
/// HTTP edge maps codes to statuses in one place. Texts that come from a store or a provider
/// (`StoreUnavailable`, `Internal`, [`ModelError`]) are for logs, never for clients.
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
    #[error("no tier named '{0}' exists")]
    TierNotFound(TierName),
    #[error("{users} users are on tier '{tier}'")]
    TierInUse { tier: TierName, users: u64 },
    #[error("no alert rule named '{0}' exists")]
    AlertRuleNotFound(String),
    #[error("no conversation '{0}' exists")]
    ConversationNotFound(String),
    #[error("{0}")]
    ConversationLimit(String),
    #[error("the lifetime limit refused the call: {0:?}")]
    TokenLimitExceeded(Box<Refusal>),
    #[error("a quota refused the call: {0:?}")]
    QuotaExceeded(Box<Refusal>),
    #[error("a request with this Idempotency-Key is still running")]
    IdempotencyInProgress,
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    #[error("guest access is off")]
    GuestsDisabled,
    #[error("the key is not a live guest's key")]
    GuestNotFound,
    #[error("the guest has calls in flight")]
    GuestBusy,
    #[error("too many guests from one address; retry in {retry_after_secs} s")]
    GuestRateLimited { retry_after_secs: u64 },
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The store could not be reached or answered in time.
    #[error("the store is unavailable: {0}")]
    StoreUnavailable(String),
    /// Something that should not happen (corrupt stored data, a broken invariant).
    #[error("internal error: {0}")]
    Internal(String),
}

/// A call a rule has no room for: which rule, what it has left, and when it resets.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub user: UserId,
    pub rule: QuotaRule,
    pub source: RuleSource,
    /// What was used in the rule's window, in its unit (tokens, requests, nano-dollars).
    pub used: u64,
    /// What remains, counting what calls in flight hold.
    pub remaining: u64,
    /// What the call needed at least, when it asked for something.
    pub needed: Option<u64>,
    /// What calls in flight hold: it comes back when they settle.
    pub held: u64,
    /// When the rule's window ends (`None` for `total`).
    pub resets_at: Option<Timestamp>,
    /// How long until then, by the service's clock.
    pub retry_after: Option<std::time::Duration>,
}

/// What a store can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    AlreadyExists,
    #[error("counter overflow")]
    Overflow,
    /// A step did not fit a ceiling, or a guard (the rules' versions) no longer holds: nothing
    /// changed; the caller reads again and plans again.
    #[error("refused: a ceiling or guard does not hold")]
    Refused,
    /// The hold a settlement or renewal names is gone (it expired and was released).
    #[error("the hold is gone")]
    HoldGone,
    /// The idempotency key was claimed before: here is its record.
    #[error("the idempotency key was used before")]
    Claimed(Box<IdempotencyRecord>),
    /// Something still refers to what was to be deleted (users on a tier).
    #[error("still in use by {0}")]
    InUse(u64),
    /// The store could not be reached, timed out or failed to commit; the step did not happen
    /// (or, after a timeout, may yet).
    #[error("{0}")]
    Unavailable(String),
    /// Stored data that cannot be read back: a bug or a foreign writer, not an outage.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl Error {
    /// The error's stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Invalid(_) => ErrorCode::InvalidRequest,
            Error::UserNotFound(_) => ErrorCode::UserNotFound,
            Error::UserExists(_) => ErrorCode::UserAlreadyExists,
            Error::UsageOverflow { .. } => ErrorCode::UsageOverflow,
            Error::InvalidKey => ErrorCode::InvalidApiKey,
            Error::Forbidden(_) => ErrorCode::Forbidden,
            Error::KeyNotFound(_) => ErrorCode::KeyNotFound,
            Error::TierNotFound(_) => ErrorCode::TierNotFound,
            Error::TierInUse { .. } => ErrorCode::TierInUse,
            Error::AlertRuleNotFound(_) => ErrorCode::AlertRuleNotFound,
            Error::ConversationNotFound(_) => ErrorCode::ConversationNotFound,
            Error::ConversationLimit(_) => ErrorCode::ConversationLimit,
            Error::TokenLimitExceeded(_) => ErrorCode::TokenLimitExceeded,
            Error::QuotaExceeded(_) => ErrorCode::QuotaExceeded,
            Error::IdempotencyInProgress => ErrorCode::IdempotencyInProgress,
            Error::IdempotencyKeyReused => ErrorCode::IdempotencyKeyReused,
            Error::GuestsDisabled => ErrorCode::GuestsDisabled,
            Error::GuestNotFound => ErrorCode::GuestNotFound,
            Error::GuestBusy => ErrorCode::GuestBusy,
            Error::GuestRateLimited { .. } => ErrorCode::GuestRateLimited,
            Error::Model(model) => model.code(),
            Error::StoreUnavailable(_) => ErrorCode::StoreUnavailable,
            Error::Internal(_) => ErrorCode::InternalError,
        }
    }

    /// A store failure, in terms of the user the operation was about.
    pub(crate) fn from_store(err: StoreError, user: &UserId) -> Self {
        match err {
            StoreError::NotFound => Error::UserNotFound(user.clone()),
            StoreError::AlreadyExists => Error::UserExists(user.clone()),
            StoreError::Overflow => Error::UsageOverflow { user: user.clone(), tokens: 0 },
            other => Error::store(other),
        }
    }

    /// A store failure that no answer explains: unavailable, corrupt, or unexpected here.
    pub(crate) fn store(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(why) => Error::StoreUnavailable(why),
            StoreError::Corrupt(why) => Error::Internal(format!("corrupt stored data: {why}")),
            other => Error::Internal(format!("unexpected store answer: {other}")),
        }
    }
}
