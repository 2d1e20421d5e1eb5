//! The product's error codes: the stable `error` field of every error answer and the `outcome`
//! of a failed call's usage event. One table; the HTTP edge gives each code its status
//! (`http/error.rs`), and each operation lists the codes it can answer.

macro_rules! error_codes {
    ($($variant:ident => $code:literal, $description:literal;)+) => {
        /// A stable, machine-readable error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $(#[doc = $description] $variant,)+
        }

        impl ErrorCode {
            /// Every code, in the table's order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The code as clients see it: `token_limit_exceeded`, …
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)+
                }
            }

            /// What the code means, for the API's documentation.
            pub const fn description(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $description,)+
                }
            }
        }
    };
}

error_codes! {
    InvalidRequest => "invalid_request", "A field is missing or invalid; `details.field` names it and `details.reason` says why.";
    InvalidJson => "invalid_json", "The body is not a JSON object.";
    PayloadTooLarge => "payload_too_large", "The body is larger than the service accepts.";
    RequestTimeout => "request_timeout", "The body did not arrive in time.";
    HeaderTooLarge => "request_header_too_large", "The request's headers are too large.";
    UriTooLong => "uri_too_long", "The request's URI is too long.";
    RouteNotFound => "route_not_found", "No route has this path.";
    MethodNotAllowed => "method_not_allowed", "The path does not accept this method; `Allow` lists those it does.";
    Unauthorized => "unauthorized", "No API key was sent.";
    InvalidApiKey => "invalid_api_key", "The API key is unknown, malformed or revoked.";
    Forbidden => "forbidden", "The key may not do this (user keys cannot manage users, keys, tiers or alerts).";
    UserNotFound => "user_not_found", "No such user, or not one this key may see.";
    KeyNotFound => "key_not_found", "No such API key.";
    TierNotFound => "tier_not_found", "No such tier.";
    AlertRuleNotFound => "alert_rule_not_found", "No such alert rule.";
    ConversationNotFound => "conversation_not_found", "No such conversation.";
    UserAlreadyExists => "user_already_exists", "A user with this ID exists.";
    TierInUse => "tier_in_use", "Users are on this tier; move them first.";
    ConversationLimit => "conversation_limit_reached", "The user keeps the most conversations the service allows (delete one), or the conversation the most turns (start a new one).";
    IdempotencyInProgress => "idempotency_in_progress", "A request with this Idempotency-Key is still running; retry shortly.";
    IdempotencyKeyReused => "idempotency_key_reused", "This Idempotency-Key was used with a different request.";
    UsageOverflow => "usage_overflow", "The usage counter would overflow.";
    TokenLimitExceeded => "token_limit_exceeded", "The user's lifetime token limit has no room for the call.";
    QuotaExceeded => "quota_exceeded", "A quota rule has no room for the call; `details` names it and when it resets.";
    GuestsDisabled => "guests_disabled", "Guest access is off on this service.";
    GuestNotFound => "guest_not_found", "`fromGuest` is not the key of a live guest.";
    GuestBusy => "guest_busy", "The guest has calls in flight; retry when they finish.";
    GuestRateLimited => "guest_rate_limited", "Too many guests were created from this address; `Retry-After` says when to try again.";
    ModelThrottled => "model_throttled", "The model provider is throttling requests.";
    ModelTimeout => "model_timeout", "The model did not answer in time.";
    ModelUnavailable => "model_unavailable", "The model is unavailable.";
    ModelAccessDenied => "model_access_denied", "The service may not use this model here.";
    ModelNotFound => "model_not_found", "The model does not exist in this region.";
    ModelRejectedRequest => "model_rejected_request", "The model rejected the request (for example, the prompt is too long).";
    ModelError => "model_error", "The model call failed.";
    Cancelled => "cancelled", "The caller left, or stopped reading, before the call finished; nothing was charged.";
    StoreUnavailable => "store_unavailable", "The usage store is unavailable; a change sent now may or may not have been applied.";
    ServiceUnavailable => "service_unavailable", "The service is shutting down or has too many connections.";
    InternalError => "internal_error", "An unexpected error; nothing was changed.";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_words() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} twice");
            assert!(text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{text}");
            assert!(code.description().ends_with('.'), "{text}");
        }
    }
}
