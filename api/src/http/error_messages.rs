//! The sentence each domain error answers with, and its details and headers. What a store or a
//! provider said is logged with the request's ID and never sent: an AWS message can carry role
//! ARNs and account IDs.

use super::{
    error::{ApiError, ErrorDetails, QuotaDetails},
    request_id,
};
use crate::domain::{self, Metric, ModelError, Money, Refusal, RuleSource};

/// The details every answer about a failure the service cannot explain in full carries.
fn with_request_id(details: ErrorDetails) -> ErrorDetails {
    ErrorDetails { request_id: request_id::current(), ..details }
}

fn in_unit(metric: Metric, amount: u64) -> f64 {
    match metric {
        Metric::Cost => Money::from_nanos(amount).dollars(),
        Metric::Tokens | Metric::Requests => amount as f64,
    }
}

fn quota_details(refusal: &Refusal) -> QuotaDetails {
    let metric = refusal.rule.metric;
    QuotaDetails {
        metric: metric.as_str().to_owned(),
        period: refusal.rule.period.as_str().to_owned(),
        model: refusal.rule.model.model().map(str::to_owned),
        source: refusal.source.as_str().to_owned(),
        limit: refusal.rule.limit_display(),
        used: in_unit(metric, refusal.used),
        remaining: in_unit(metric, refusal.remaining),
        held: in_unit(metric, refusal.held),
        resets_at: refusal.resets_at.map(|at| at.to_string()),
    }
}

/// The words of a refusal by the lifetime limit or a quota.
fn refused<S>(err: &domain::Error, refusal: &Refusal) -> ApiError<S> {
    let user = &refusal.user;
    let rule = &refusal.rule;
    let metric = rule.metric;
    let unit = |amount: u64| match metric {
        Metric::Cost => format!("${:.6}", Money::from_nanos(amount).dollars()),
        Metric::Tokens => format!("{amount} tokens"),
        Metric::Requests => format!("{amount} requests"),
    };
    let held = match refusal.held {
        0 => String::new(),
        held => format!(" ({} more are held by calls in flight and come back when they finish)", unit(held)),
    };
    // Whole seconds until the reset, at least one.
    let retry_after = refusal.retry_after.map(|wait| (wait.as_millis() as u64).div_ceil(1000).max(1));
    let resets = match refusal.resets_at {
        Some(at) => format!(" It resets at {at}."),
        None => String::new(),
    };
    let message = match (refusal.source, refusal.needed) {
        (RuleSource::Limit, Some(needed)) if refusal.remaining > 0 => format!(
            "This call needs {needed} tokens but user '{user}' has {} left{held}. Shorten the prompt or the \
             conversation, or ask an administrator to raise the limit.",
            refusal.remaining
        ),
        (RuleSource::Limit, _) => format!(
            "User '{user}' has reached the token limit ({} tokens left{held}). Ask an administrator to raise the limit.",
            refusal.remaining
        ),
        (_, _) => {
            format!("User '{user}' has reached the quota of {rule} ({} left{held}).{resets}", unit(refusal.remaining))
        }
    };
    let remaining_tokens =
        (metric == Metric::Tokens && rule.period == domain::Period::Total && rule.model == domain::ModelScope::Any)
            .then_some(refusal.remaining);
    let mut error = ApiError::new(err.code(), message).with_details(ErrorDetails {
        user_id: Some(user.to_string()),
        remaining_tokens,
        required_tokens: refusal.needed.filter(|_| metric == Metric::Tokens),
        held_tokens: (metric == Metric::Tokens).then_some(refusal.held),
        quota: Some(quota_details(refusal)),
        retry_after_seconds: retry_after,
        ..Default::default()
    });
    if let Some(seconds) = retry_after {
        error = error.with_header("retry-after", seconds.to_string());
    }
    error
}

fn model<S>(err: &ModelError, code: domain::ErrorCode) -> ApiError<S> {
    let message = match err {
        ModelError::Throttled(_) => {
            "The model provider is throttling requests. Nothing was charged; try again in a few seconds."
        }
        ModelError::Timeout(_) => {
            "The model did not answer in time. Nothing was charged; try again, or ask for a shorter answer."
        }
        ModelError::Unavailable(_) => "The model is unavailable right now. Nothing was charged; try again shortly.",
        ModelError::AccessDenied(_) => {
            "The service may not use this model: enable model access for it in the Bedrock console of this region \
             and check the service role's bedrock:InvokeModel permission. Nothing was charged."
        }
        ModelError::ModelNotFound(_) => {
            "The configured model does not exist in this region: check TOKENMETER_MODEL_ID and AWS_REGION (inference \
             profiles start with `global.`, `us.`, `eu.`, …). Nothing was charged."
        }
        ModelError::Rejected(_) => {
            "The model rejected the request (for example, the prompt is too long for it). Nothing was charged."
        }
        ModelError::Failed(_) => "The model call failed. Nothing was charged; try again.",
    };
    tracing::warn!(code = code.as_str(), provider_said = %err, "a model call failed");
    let mut error = ApiError::new(code, message).with_details(with_request_id(ErrorDetails::default()));
    if matches!(err, ModelError::Throttled(_)) {
        error = error.with_header("retry-after", "2");
    }
    error
}

/// Every domain error as an answer.
pub(super) fn from_domain<S>(err: domain::Error) -> ApiError<S> {
    use domain::Error as E;
    let code = err.code();
    let user = |id: &domain::UserId| ErrorDetails { user_id: Some(id.to_string()), ..Default::default() };
    match &err {
        E::Invalid(invalid) => invalid.clone().into(),
        E::UserNotFound(id) => {
            ApiError::new(code, format!("No user with ID '{id}' exists. Check the ID, or create the user first."))
                .with_details(user(id))
        }
        E::UserExists(id) => ApiError::new(
            code,
            format!("A user with ID '{id}' already exists. Choose another ID, or update that user's limit."),
        )
        .with_details(user(id)),
        E::UsageOverflow { user: id, .. } => {
            ApiError::new(code, format!("{err}. Nothing was recorded.")).with_details(user(id))
        }
        E::InvalidKey => ApiError::new(
            code,
            "The API key is not valid: it is unknown, malformed or revoked. Ask an administrator for a key.",
        ),
        E::Forbidden(why) => ApiError::new(code, format!("Not allowed: {why}.")),
        E::KeyNotFound(id) => {
            ApiError::new(code, format!("No API key with ID '{id}' exists. List keys with GET /keys."))
        }
        E::TierNotFound(name) => {
            ApiError::new(code, format!("No tier named '{name}' exists. List the tiers with GET /tiers."))
        }
        E::TierInUse { tier, users } => ApiError::new(
            code,
            format!(
                "{users} users are on tier '{tier}'. Move them to another tier (PUT /users/{{userId}}/tier) first."
            ),
        )
        .with_details(ErrorDetails { users: Some(*users), ..Default::default() }),
        E::AlertRuleNotFound(name) => {
            ApiError::new(code, format!("No alert rule named '{name}' exists. List them with GET /alerts/rules."))
        }
        E::ConversationNotFound(id) => ApiError::new(code, format!("No conversation '{id}' exists for this user.")),
        E::ConversationLimit(why) => ApiError::new(code, format!("The conversation cannot be kept: {why}.")),
        E::TokenLimitExceeded(refusal) | E::QuotaExceeded(refusal) => refused(&err, refusal),
        E::IdempotencyInProgress => ApiError::new(
            code,
            "A request with this Idempotency-Key is still running. Retry in a moment to get its answer.",
        )
        .with_header("retry-after", "1")
        .with_details(ErrorDetails { retry_after_seconds: Some(1), ..Default::default() }),
        E::IdempotencyKeyReused => ApiError::new(
            code,
            "This Idempotency-Key was already used with a different request. Use a new key for a new request.",
        ),
        E::GuestsDisabled => {
            ApiError::new(code, "Guest access is off on this service; ask an administrator for a key.")
        }
        E::GuestNotFound => ApiError::new(
            code,
            "`fromGuest` is not the key of a live guest: it is unknown, revoked, or not a guest's. Create the user \
             without it, or use the key POST /guests answered.",
        )
        .with_details(ErrorDetails { field: Some("fromGuest".into()), ..Default::default() }),
        E::GuestBusy => ApiError::new(code, "The guest has calls in flight; retry when they finish.")
            .with_header("retry-after", "1")
            .with_details(ErrorDetails { retry_after_seconds: Some(1), ..Default::default() }),
        E::GuestRateLimited { retry_after_secs } => ApiError::new(
            code,
            format!("Too many guests were created from your address. Try again in {retry_after_secs} seconds."),
        )
        .with_header("retry-after", retry_after_secs.to_string())
        .with_details(ErrorDetails { retry_after_seconds: Some(*retry_after_secs), ..Default::default() }),
        E::Model(failure) => model(failure, code),
        E::StoreUnavailable(why) => {
            tracing::error!(error = %why, "store unavailable");
            ApiError::new(
                code,
                "The usage store is unavailable right now. A change sent now may or may not have been applied (a store \
                 that times out can still apply it later): retry with the same Idempotency-Key, or read before retrying.",
            )
            .with_header("retry-after", "1")
            .with_details(with_request_id(ErrorDetails::default()))
        }
        E::Internal(why) => {
            tracing::error!(error = %why, "internal error");
            ApiError::internal().with_details(with_request_id(ErrorDetails::default()))
        }
    }
}
