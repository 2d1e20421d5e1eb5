//! Model invocation with exact enforcement.
//!
//! 1. The caller may spend as the user, and the user has tokens left (else 429, before any
//!    model call, token counting included).
//! 2. The provider counts the input tokens exactly.
//! 3. A hold of input + output cap is reserved atomically in the store; the cap is what fits.
//! 4. The model is called with that cap.
//! 5. The hold is settled to the real usage and cost, or released when the call failed or the
//!    streaming client went away. A hold left by a crashed process expires and is released by
//!    [`Invocations::release_expired`].

use std::{sync::Arc, time::Duration};

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use super::{
    Cost, Error, Hold, HoldId, ModelError, ModelEvent, ModelProvider, ModelRequest, Plan, PricingTable, Principal,
    Shortfall, StoreError, Timestamp, TokenUsage, Turn, User, UserId, UserStore, holds, live::Changes, model::Speaker,
};

/// How invocations are run, from configuration.
#[derive(Debug, Clone)]
pub struct InvokeSettings {
    pub default_model: String,
    pub default_max_output_tokens: u32,
    /// How long a hold may outlive its call before the sweeper releases it.
    pub hold_ttl: Duration,
}

/// What the caller asks the model.
#[derive(Debug, Clone, Default)]
pub struct Prompt {
    pub prompt: String,
    pub system: Option<String>,
    /// Earlier turns of the conversation, oldest first.
    pub history: Vec<Turn>,
    pub max_output_tokens: Option<u32>,
    pub model: Option<String>,
}

/// A finished, settled call.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub text: String,
    pub usage: TokenUsage,
    pub cost: Cost,
    /// The user after settlement.
    pub user: User,
    pub model_id: String,
    pub provider: &'static str,
    pub stop_reason: String,
    /// The output cap the model was given.
    pub max_output_tokens: u32,
}

/// What a streaming call yields.
#[derive(Debug)]
pub enum StreamItem {
    Text(String),
    Done(Box<Invocation>),
    Failed(Error),
}

/// Pauses between attempts to settle a finished call while the store is unavailable.
const SETTLE_RETRIES: [Duration; 3] = [Duration::from_millis(100), Duration::from_millis(400), Duration::from_secs(1)];

#[derive(Clone)]
pub struct Invocations {
    store: Arc<dyn UserStore>,
    provider: Arc<dyn ModelProvider>,
    pricing: PricingTable,
    settings: InvokeSettings,
    /// Reservations, settlements and releases are announced here, so live views show them at once.
    changes: Changes,
}

/// A reserved call, ready to run.
struct Reserved {
    user: UserId,
    hold: Hold,
    request: ModelRequest,
    /// What the user can still spend while the hold stands.
    remaining: u64,
}

impl Invocations {
    pub fn new(
        store: Arc<dyn UserStore>,
        provider: Arc<dyn ModelProvider>,
        settings: InvokeSettings,
        changes: Changes,
    ) -> Self {
        Self { store, provider, pricing: PricingTable, settings, changes }
    }

    pub fn provider_name(&self) -> &'static str {
        self.provider.name()
    }

    pub fn default_model(&self) -> &str {
        &self.settings.default_model
    }

    /// Calls the model and answers when it is done. The call runs to completion and is settled
    /// even if the caller stops waiting: the provider bills it either way.
    pub async fn invoke(&self, by: &Principal, user: &UserId, prompt: Prompt) -> Result<Invocation, Error> {
        let reserved = self.reserve(by, user, prompt).await?;
        let this = self.clone();
        tokio::spawn(async move {
            match this.provider.converse(&reserved.request).await {
                Ok(reply) => this.settle(&reserved, reply.text, reply.usage, reply.stop_reason).await,
                Err(err) => Err(this.release_after(&reserved, err).await),
            }
        })
        .await
        .map_err(|e| Error::Model(ModelError::Failed(format!("the call was interrupted: {e}"))))?
    }

    /// Calls the model and yields its text as it is generated, then the settled call; also
    /// answers what the user can spend while the call's hold stands. A call the model refuses
    /// at once fails here, before any stream exists. When the consumer goes away (a client
    /// disconnects) at any point, the call is cancelled and its hold released: nothing is
    /// charged.
    pub async fn invoke_stream(
        &self,
        by: &Principal,
        user: &UserId,
        prompt: Prompt,
    ) -> Result<(u64, impl Stream<Item = StreamItem> + Send + 'static), Error> {
        let reserved = self.reserve(by, user, prompt).await?;
        let remaining = reserved.remaining;
        let (tx, mut rx) = mpsc::channel(32);
        // The call runs in its own task, so that whatever happens to the caller, the hold is
        // either settled or released.
        tokio::spawn(self.clone().pump(reserved, tx));
        let first = match rx.recv().await {
            Some(StreamItem::Failed(err)) => return Err(err),
            Some(item) => item,
            None => return Err(Error::Model(ModelError::Failed("the call ended without an answer".into()))),
        };
        let rest = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
        Ok((remaining, futures::stream::once(async { first }).chain(rest)))
    }

    /// Runs a reserved streaming call, forwarding what the model says, then settles or
    /// releases. Stops and releases as soon as nobody listens.
    async fn pump(self, reserved: Reserved, tx: mpsc::Sender<StreamItem>) {
        let opened = tokio::select! {
            opened = self.provider.converse_stream(&reserved.request) => opened,
            () = tx.closed() => return self.cancel(&reserved).await,
        };
        let mut model = match opened {
            Ok(model) => model,
            Err(err) => {
                let _ = tx.send(StreamItem::Failed(self.release_after(&reserved, err).await)).await;
                return;
            }
        };
        let mut text = String::new();
        let outcome = loop {
            let item = tokio::select! {
                item = model.next() => item,
                () = tx.closed() => return self.cancel(&reserved).await,
            };
            match item {
                Some(Ok(ModelEvent::Text(delta))) => {
                    text.push_str(&delta);
                    if tx.send(StreamItem::Text(delta)).await.is_err() {
                        return self.cancel(&reserved).await;
                    }
                }
                Some(Ok(ModelEvent::Finished { usage, stop_reason })) => {
                    break match self.settle(&reserved, std::mem::take(&mut text), usage, stop_reason).await {
                        Ok(done) => StreamItem::Done(Box::new(done)),
                        Err(err) => StreamItem::Failed(err),
                    };
                }
                Some(Err(err)) => break StreamItem::Failed(self.release_after(&reserved, err).await),
                None => {
                    let err = ModelError::Failed("the model stream ended without reporting usage".into());
                    break StreamItem::Failed(self.release_after(&reserved, err).await);
                }
            }
        };
        let _ = tx.send(outcome).await;
    }

    async fn cancel(&self, reserved: &Reserved) {
        tracing::info!(user = %reserved.user, hold = %reserved.hold.id, "the caller left; call cancelled, nothing charged");
        self.release(reserved).await;
    }

    /// Releases every hold past its expiry (left by a crashed or killed process).
    pub async fn release_expired(&self) -> Result<usize, Error> {
        let expired = self.store.expired_holds(Timestamp::now()).await.map_err(unavailable)?;
        for (user, hold) in &expired {
            match self.store.release(user, hold).await {
                Ok(_) => self.changes.publish(user),
                Err(StoreError::NotFound) => {}
                Err(err) => return Err(unavailable(err)),
            }
            tracing::warn!(%user, hold = %hold.id, tokens = hold.tokens, "released an expired hold");
        }
        Ok(expired.len())
    }

    async fn reserve(&self, by: &Principal, user_id: &UserId, prompt: Prompt) -> Result<Reserved, Error> {
        by.require_user(user_id)?;
        let model_id = self.model_for(prompt.model)?;
        let user = self.store.get(user_id).await.map_err(|e| Error::from_store(e, user_id))?;
        let user = user.ok_or_else(|| Error::UserNotFound(user_id.clone()))?;
        let available = user.remaining_tokens();
        if available == 0 {
            return Err(Error::TokenLimitExceeded { user: user_id.clone(), available: 0, needed: None });
        }
        let mut turns = prompt.history;
        turns.push(Turn { speaker: Speaker::User, text: prompt.prompt });
        let mut request = ModelRequest { model_id, system: prompt.system, turns, max_output_tokens: 0 };
        let input_tokens = self.provider.count_input_tokens(&request).await.map_err(Error::Model)?;
        let requested = prompt.max_output_tokens.unwrap_or(self.settings.default_max_output_tokens);
        let Plan { reserve, max_output_tokens } =
            holds::plan(available, input_tokens, requested).map_err(|s| match s {
                Shortfall::Exhausted => Error::TokenLimitExceeded { user: user_id.clone(), available, needed: None },
                Shortfall::PromptTooLarge { needed, available } => {
                    Error::TokenLimitExceeded { user: user_id.clone(), available, needed: Some(needed) }
                }
            })?;
        request.max_output_tokens = max_output_tokens;
        let hold = Hold { id: HoldId::generate(), tokens: reserve, expires_at: self.expiry() };
        let held = self.store.reserve(user_id, &hold).await.map_err(|e| match e {
            StoreError::InsufficientTokens { available } => {
                Error::TokenLimitExceeded { user: user_id.clone(), available, needed: Some(reserve) }
            }
            other => Error::from_store(other, user_id),
        })?;
        self.changes.publish(user_id);
        Ok(Reserved { user: user_id.clone(), hold, request, remaining: held.remaining_tokens() })
    }

    async fn settle(
        &self,
        reserved: &Reserved,
        text: String,
        usage: TokenUsage,
        stop_reason: String,
    ) -> Result<Invocation, Error> {
        let cost = self.pricing.for_model(&reserved.request.model_id).map(|p| p.cost(usage)).unwrap_or_default();
        // The model has answered and the provider bills it: a store hiccup now must not lose
        // the charge, so settlement is retried a few times before giving up.
        let mut attempt = 0;
        let user = loop {
            let settled =
                self.store.settle(&reserved.user, &reserved.hold, usage.total(), cost.total, Timestamp::now());
            match settled.await {
                Ok(user) => {
                    self.changes.publish(&reserved.user);
                    break user;
                }
                Err(StoreError::Unavailable(why)) if attempt < SETTLE_RETRIES.len() => {
                    tracing::warn!(user = %reserved.user, error = %why, "settlement failed; retrying");
                    tokio::time::sleep(SETTLE_RETRIES[attempt]).await;
                    attempt += 1;
                }
                Err(err) => {
                    let tokens = usage.total();
                    tracing::error!(user = %reserved.user, tokens, error = %err, "could not charge a finished call");
                    return Err(Error::from_store(err, &reserved.user));
                }
            }
        };
        Ok(Invocation {
            text,
            usage,
            cost,
            user,
            model_id: reserved.request.model_id.clone(),
            provider: self.provider.name(),
            stop_reason,
            max_output_tokens: reserved.request.max_output_tokens,
        })
    }

    /// Releases the hold of a failed call and returns the error to report.
    async fn release_after(&self, reserved: &Reserved, err: ModelError) -> Error {
        tracing::warn!(user = %reserved.user, error = %err, "model call failed; nothing charged");
        self.release(reserved).await;
        Error::Model(err)
    }

    /// Releases a hold. If the store cannot be reached, the hold expires and the sweeper
    /// releases it later.
    async fn release(&self, reserved: &Reserved) {
        match self.store.release(&reserved.user, &reserved.hold).await {
            Ok(_) => self.changes.publish(&reserved.user),
            Err(err) => {
                let hold = &reserved.hold.id;
                tracing::error!(user = %reserved.user, %hold, error = %err, "could not release a hold; it will expire");
            }
        }
    }

    fn model_for(&self, requested: Option<String>) -> Result<String, Error> {
        let Some(model) = requested else { return Ok(self.settings.default_model.clone()) };
        if self.pricing.for_model(&model).is_some() {
            return Ok(model);
        }
        let known = PricingTable::model_ids().collect::<Vec<_>>().join(", ");
        Err(super::ValidationError::new("model", format!("is not an allowed model; use one of: {known}")).into())
    }

    fn expiry(&self) -> Timestamp {
        Timestamp::from_millis(Timestamp::now().millis() + self.settings.hold_ttl.as_millis() as i64)
    }
}

fn unavailable(err: StoreError) -> Error {
    match err {
        StoreError::Unavailable(why) => Error::StoreUnavailable(why),
        other => Error::StoreUnavailable(other.to_string()),
    }
}
