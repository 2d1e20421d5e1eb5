//! Model invocation with exact enforcement.
//!
//! 1. The caller may spend as the user (`Principal::require_user`).
//! 2. Admission (`admit.rs`): the rules that apply to the call are read with their counters;
//!    the input is bounded locally (the provider's count is asked only when the bound does not
//!    fit); [`plan`](super::plan) picks the output cap that fits every rule; the store adds the
//!    hold to every counter in one atomic step, or refuses if anything changed, and the call
//!    is planned again. A call that finds its budget merely held by calls in flight waits
//!    (up to `admission_wait`) for them to settle instead of being refused.
//! 3. The call runs in its own task (`run.rs`): whatever happens to the request, it ends settled
//!    or released. Its instance renews the hold while it runs; a deadline bounds the whole call;
//!    a stream whose reader stops reading for `stream_stall_timeout` is cancelled.
//! 4. Settlement (`settle.rs`) charges what was used to every counter the call held, with its
//!    usage event, in one step. A call whose hold was nevertheless lost (released by a sweeper)
//!    is charged at most what is free, and the rest is counted as a loss: no limit is passed.

mod admit;
mod lease;
mod limits;
mod outage;
mod run;
mod settle;

use std::{sync::Arc, time::Duration};

use futures::Stream;

use super::{
    Answer, Core, Cost, Error, EventKind, IdempotencyKey, ModelProvider, OutagePolicy, Principal, Quotas, Timestamp,
    TokenUsage, Turn, User, UserId, ValidationError, model::Speaker, outage::Outage,
};

pub use lease::LeaseSettings;
pub use limits::Limits;

/// How invocations are run, from configuration.
#[derive(Debug, Clone)]
pub struct InvokeSettings {
    pub default_max_output_tokens: u32,
    /// A hold lives this long past its last renewal; its instance renews it every third of it.
    pub hold_ttl: Duration,
    /// The longest a whole call may take, stream included, before it fails with `model_timeout`.
    pub call_timeout: Duration,
    /// A stream whose reader takes nothing for this long is cancelled and its hold released.
    pub stream_stall_timeout: Duration,
    /// How long a call whose budget is held by calls in flight waits for them to settle.
    pub admission_wait: Duration,
    /// What a call does when the store is unavailable.
    pub on_store_outage: OutagePolicy,
    /// How a hot user's calls share leases instead of holding one by one.
    pub leases: LeaseSettings,
}

impl Default for InvokeSettings {
    fn default() -> Self {
        Self {
            default_max_output_tokens: 1024,
            hold_ttl: Duration::from_secs(120),
            call_timeout: Duration::from_secs(120),
            stream_stall_timeout: Duration::from_secs(30),
            admission_wait: Duration::from_secs(2),
            on_store_outage: OutagePolicy::FailClosed,
            leases: LeaseSettings::default(),
        }
    }
}

/// What the caller asks the model: validated, so only well-formed prompts reach the provider.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prompt {
    pub prompt: String,
    pub system: Option<String>,
    /// Earlier turns of the conversation, oldest first.
    pub history: Vec<Turn>,
    pub max_output_tokens: Option<u32>,
    pub model: Option<String>,
}

impl Prompt {
    pub const MAX_CHARS: usize = 200_000;
    pub const MAX_OUTPUT_TOKENS: u64 = 64_000;
    pub const MAX_TURNS: usize = 200;

    /// A prompt: non-blank; it, the system prompt and each turn of history at most
    /// [`Prompt::MAX_CHARS`] characters, and all of them together at most twice that; an
    /// output cap from 1 to [`Prompt::MAX_OUTPUT_TOKENS`] when given.
    pub fn new(
        prompt: String,
        system: Option<String>,
        history: Vec<Turn>,
        max_output_tokens: Option<u64>,
        model: Option<String>,
    ) -> Result<Self, ValidationError> {
        if prompt.trim().is_empty() {
            return Err(ValidationError::new("prompt", "must not be empty"));
        }
        let chars = |text: &str| text.chars().count();
        let at_most_max_chars = |field: &'static str, text: &str| {
            let count = chars(text);
            if count > Self::MAX_CHARS {
                let reason = format!("must be at most {} characters (got {count})", Self::MAX_CHARS);
                return Err(ValidationError::new(field, reason));
            }
            Ok(count)
        };
        let prompt_chars = at_most_max_chars("prompt", &prompt)?;
        if let Some(system) = &system {
            at_most_max_chars("system", system)?;
        }
        for turn in &history {
            at_most_max_chars("history", &turn.text)?;
        }
        if history.len() > Self::MAX_TURNS {
            let reason = format!("may hold at most {} turns (got {})", Self::MAX_TURNS, history.len());
            return Err(ValidationError::new("history", reason));
        }
        let total = prompt_chars
            + system.as_deref().map_or(0, chars)
            + history.iter().map(|turn| chars(&turn.text)).sum::<usize>();
        if total > 2 * Self::MAX_CHARS {
            let reason = format!(
                "makes the conversation {total} characters long; at most {} fit (start a new conversation)",
                2 * Self::MAX_CHARS
            );
            return Err(ValidationError::new("history", reason));
        }
        let max_output_tokens = match max_output_tokens {
            None => None,
            Some(n @ 1..=Self::MAX_OUTPUT_TOKENS) => Some(n as u32),
            Some(n) => {
                let reason = format!("must be between 1 and {} (got {n})", Self::MAX_OUTPUT_TOKENS);
                return Err(ValidationError::new("maxOutputTokens", reason));
            }
        };
        Ok(Self { prompt, system, history, max_output_tokens, model })
    }

    /// The request's meaning, for idempotency fingerprints.
    fn fingerprint(&self) -> String {
        let turns: Vec<(bool, &str)> =
            self.history.iter().map(|t| (t.speaker == Speaker::User, t.text.as_str())).collect();
        serde_json::json!([self.prompt, self.system, turns, self.max_output_tokens, self.model]).to_string()
    }
}

/// A finished, settled call.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub text: String,
    pub usage: TokenUsage,
    pub cost: Cost,
    /// The user after settlement.
    pub user: User,
    pub model_id: String,
    pub provider: String,
    pub stop_reason: String,
    /// The output cap the model was given.
    pub max_output_tokens: u32,
    /// The tightest rule after the call, for rate-limit headers.
    pub limits: Option<Limits>,
}

/// What a call's answer is remembered as, for a retry with the same idempotency key.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Remembered {
    text: String,
    usage: TokenUsage,
    cost: Cost,
    model_id: String,
    provider: String,
    stop_reason: String,
    max_output_tokens: u32,
}

/// What a streaming call yields.
#[derive(Debug)]
pub enum StreamItem {
    Text(String),
    Done(Box<Invocation>),
    Failed(Error),
}

/// A streaming call, started: what the user can spend while its hold stands, and its events.
pub struct StartedStream<S> {
    pub remaining: u64,
    pub limits: Option<Limits>,
    pub items: S,
}

#[derive(Clone)]
pub struct Invocations(Arc<Inner>);

struct Inner {
    core: Core,
    quotas: Quotas,
    provider: Arc<dyn ModelProvider>,
    settings: InvokeSettings,
    /// Per user, the queue of calls waiting for held budget, so they take turns (FIFO) instead
    /// of all retrying at once when a call settles.
    waiting: admit::Queues,
    outage: Outage,
    leases: lease::Leases,
}

impl Invocations {
    pub(super) fn new(core: Core, quotas: Quotas, provider: Arc<dyn ModelProvider>, settings: InvokeSettings) -> Self {
        let outage = Outage::new(settings.on_store_outage.clone());
        let leases = lease::Leases::default();
        Self(Arc::new(Inner { core, quotas, provider, settings, waiting: admit::Queues::default(), outage, leases }))
    }

    pub fn provider_name(&self) -> &'static str {
        self.0.provider.name()
    }

    pub fn default_model(&self) -> &str {
        self.0.core.default_model()
    }

    pub fn settings(&self) -> &InvokeSettings {
        &self.0.settings
    }

    /// Calls the model and answers when it is done. The call runs to completion and is settled
    /// even if the caller stops waiting: the provider bills it either way. With `key`, a retry
    /// within 24 hours answers the first call's result and calls nothing.
    pub async fn invoke(
        &self,
        by: &Principal,
        user: &UserId,
        prompt: Prompt,
        key: Option<IdempotencyKey>,
    ) -> Result<Answer<Invocation>, Error> {
        let reserved = match self.admit(by, user, prompt, EventKind::Invoke, key).await? {
            admit::Admitted::Reserved(reserved) => reserved,
            admit::Admitted::Replayed(done) => return Ok(Answer::replayed(*done)),
        };
        let this = self.clone();
        let done = tokio::spawn(async move { this.run_once(*reserved).await })
            .await
            .map_err(|e| Error::Internal(format!("the call's task failed: {e}")))??;
        Ok(Answer::fresh(done))
    }

    /// Calls the model and yields its text as it is generated, then the settled call. A call the
    /// model refuses at once fails here, before any stream exists. When the consumer goes away or
    /// stops reading, the call is cancelled and its hold released: nothing is charged.
    pub async fn invoke_stream(
        &self,
        by: &Principal,
        user: &UserId,
        prompt: Prompt,
    ) -> Result<StartedStream<impl Stream<Item = StreamItem> + Send + 'static>, Error> {
        let reserved = match self.admit(by, user, prompt, EventKind::Stream, None).await? {
            admit::Admitted::Reserved(reserved) => reserved,
            admit::Admitted::Replayed(_) => return Err(Error::Internal("a stream has no idempotency key".into())),
        };
        self.run_stream(*reserved).await
    }

    /// Releases every hold past its expiry (left by a crashed process, or by a call that
    /// outlived its renewals). Safe against renewals: a hold renewed since is kept.
    pub async fn release_expired(&self) -> Result<usize, Error> {
        let core = &self.0.core;
        let now = core.now();
        let expired = core.accounts.expired_holds(now).await.map_err(Error::store)?;
        let mut released = 0;
        for (user, hold) in expired {
            let release =
                super::Release { user: user.clone(), hold, expired_before: Some(now), event: None, idempotency: None };
            match core.accounts.release(&release).await {
                Ok(Some(_)) => {
                    released += 1;
                    core.changes.publish(&user);
                    tracing::warn!(%user, hold = %release.hold.id, tokens = release.hold.amounts.tokens, "released an expired hold");
                }
                Ok(None) | Err(super::StoreError::NotFound) => {}
                Err(err) => return Err(Error::store(err)),
            }
        }
        Ok(released)
    }

    fn expiry(&self) -> Timestamp {
        self.0.core.now().plus(self.0.settings.hold_ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt_with(system: Option<String>, history: Vec<Turn>) -> Result<Prompt, ValidationError> {
        Prompt::new("hello".into(), system, history, None, None)
    }

    fn turn(text: String) -> Turn {
        Turn { speaker: Speaker::User, text }
    }

    #[test]
    fn every_text_is_held_to_the_character_cap_and_named() {
        let long = "é".repeat(Prompt::MAX_CHARS + 1);
        let fits = "é".repeat(Prompt::MAX_CHARS);
        assert_eq!(Prompt::new(long.clone(), None, vec![], None, None).unwrap_err().field, "prompt");
        assert_eq!(prompt_with(Some(long.clone()), vec![]).unwrap_err().field, "system");
        assert_eq!(prompt_with(None, vec![turn(long)]).unwrap_err().field, "history");
        assert!(prompt_with(Some(fits.clone()), vec![]).is_ok(), "characters are counted, not bytes");
        let too_much_together = prompt_with(Some(fits.clone()), vec![turn(fits.clone()), turn("x".into())]);
        assert_eq!(too_much_together.unwrap_err().field, "history");
    }

    #[test]
    fn blank_prompts_and_output_caps_out_of_range_are_refused() {
        assert_eq!(Prompt::new(" \n\t".into(), None, vec![], None, None).unwrap_err().field, "prompt");
        for cap in [0, Prompt::MAX_OUTPUT_TOKENS + 1] {
            let refused = Prompt::new("hi".into(), None, vec![], Some(cap), None).unwrap_err();
            assert_eq!(refused.field, "maxOutputTokens");
        }
        assert_eq!(Prompt::new("hi".into(), None, vec![], Some(64_000), None).unwrap().max_output_tokens, Some(64_000));
    }
}
