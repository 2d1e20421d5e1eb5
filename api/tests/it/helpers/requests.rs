//! The requests tests send most, as the generated client's types: with only what matters set.

use tokenmeter_client::types;

/// A request creating `id` with `limit` and nothing else.
pub(crate) fn new_user(id: &str, limit: u64) -> types::CreateUserRequest {
    types::CreateUserRequest {
        user_id: id.into(),
        token_limit: std::num::NonZeroU64::new(limit).expect("a positive limit"),
        issue_key: None,
        tier: None,
        from_guest: None,
    }
}

/// A call asking `prompt` and nothing else.
pub(crate) fn ask(prompt: &str) -> types::InvokeRequest {
    types::InvokeRequest {
        prompt: prompt.into(),
        system: None,
        max_output_tokens: None,
        model: None,
        history: None,
        conversation_id: None,
    }
}

/// A usage record of `tokens` without a model.
pub(crate) fn usage(tokens: u64) -> types::RecordUsageRequest {
    types::RecordUsageRequest { tokens_consumed: tokens, input_tokens: None, output_tokens: None, model: None }
}

/// A limit change to `limit`.
pub(crate) fn new_limit(limit: u64) -> types::UpdateLimitRequest {
    types::UpdateLimitRequest { new_limit: std::num::NonZeroU64::new(limit).expect("a positive limit") }
}

/// The error body of a failed client call.
pub(crate) fn error_of<T: std::fmt::Debug>(
    result: Result<T, tokenmeter_client::Error<types::ErrorBody>>,
) -> (u16, types::ErrorBody) {
    match result {
        Err(tokenmeter_client::Error::ErrorResponse(response)) => (response.status().as_u16(), response.into_inner()),
        other => panic!("expected an error response, got {other:?}"),
    }
}
