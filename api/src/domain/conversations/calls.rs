//! Model calls that belong to a conversation: checked before the call (the conversation exists
//! and has room for two more turns; the prompt can be kept), appended after it settled. A call
//! that fails, is cancelled or is replayed from its idempotency key appends nothing.

use futures::{Stream, StreamExt};

use super::{
    Appended, ConversationId, ConversationSummary, ConversationTurn, Conversations, MAX_KEPT_CHARS, MAX_TURNS,
    TurnUsage, title_from,
};
use crate::domain::{
    Answer, Error, IdempotencyKey, Invocation, Principal, Prompt, Speaker, StartedStream, StoreError, StreamItem,
    Timestamp, UserId, ValidationError,
};

impl Conversations {
    /// Calls the model as [`Invocations::invoke`](crate::domain::Invocations::invoke) does;
    /// with `conversation`, appends the prompt and the answer to it once the call settled.
    pub async fn invoke(
        &self,
        by: &Principal,
        user: &UserId,
        conversation: Option<ConversationId>,
        prompt: Prompt,
        key: Option<IdempotencyKey>,
    ) -> Result<Answer<Invocation>, Error> {
        let Some(id) = conversation else { return self.invocations.invoke(by, user, prompt, key).await };
        self.room_for_an_exchange(by, user, &id, &prompt).await?;
        let asked = (prompt.prompt.clone(), self.core.now());
        let answer = self.invocations.invoke(by, user, prompt, key).await?;
        if !answer.replayed {
            self.append(user, &id, asked, &answer.value).await;
        }
        Ok(answer)
    }

    /// Calls the model as [`Invocations::invoke_stream`](crate::domain::Invocations::invoke_stream)
    /// does; with `conversation`, the exchange is appended before the stream's `Done`.
    pub async fn invoke_stream(
        &self,
        by: &Principal,
        user: &UserId,
        conversation: Option<ConversationId>,
        prompt: Prompt,
    ) -> Result<StartedStream<impl Stream<Item = StreamItem> + Send + 'static>, Error> {
        if let Some(id) = &conversation {
            self.room_for_an_exchange(by, user, id, &prompt).await?;
        }
        let asked = (prompt.prompt.clone(), self.core.now());
        let started = self.invocations.invoke_stream(by, user, prompt).await?;
        let this = self.clone();
        let user = user.clone();
        let items = started.items.then(move |item| {
            let (this, user, conversation, asked) = (this.clone(), user.clone(), conversation.clone(), asked.clone());
            async move {
                if let (StreamItem::Done(done), Some(id)) = (&item, &conversation) {
                    this.append(&user, id, asked, done).await;
                }
                item
            }
        });
        Ok(StartedStream { remaining: started.remaining, limits: started.limits, items })
    }

    /// Refuses, before any call, an exchange the conversation could not keep.
    async fn room_for_an_exchange(
        &self,
        by: &Principal,
        user: &UserId,
        id: &ConversationId,
        prompt: &Prompt,
    ) -> Result<ConversationSummary, Error> {
        by.require_user(user)?;
        let summary = match self.store.conversation_summary(user, id).await.map_err(Error::store)? {
            Some(summary) => summary,
            None => return Err(self.missing(user, id).await),
        };
        let chars = prompt.prompt.chars().count();
        if chars > MAX_KEPT_CHARS {
            let reason = format!(
                "must be at most {MAX_KEPT_CHARS} characters to be kept in a conversation (got {chars}); send it \
                 without `conversationId`"
            );
            return Err(Error::Invalid(ValidationError::new("prompt", reason)));
        }
        if summary.turns + 2 > MAX_TURNS {
            return Err(Error::ConversationLimit(format!(
                "conversation '{id}' holds {} turns and keeps at most {MAX_TURNS}; start a new conversation",
                summary.turns
            )));
        }
        Ok(summary)
    }

    /// Appends a settled exchange. The call is charged whatever happens here, so a failure is
    /// logged, not answered: the answer still reaches the caller.
    async fn append(&self, user: &UserId, id: &ConversationId, asked: (String, Timestamp), done: &Invocation) {
        let (prompt, asked_at) = asked;
        let usage = TurnUsage {
            model: done.model_id.clone(),
            input_tokens: done.usage.all_input(),
            output_tokens: done.usage.output,
            input_cost: done.cost.input,
            output_cost: done.cost.output,
        };
        let appended = Appended {
            user: user.clone(),
            id: id.clone(),
            turns: vec![
                ConversationTurn::new(Speaker::User, &prompt, asked_at, None),
                ConversationTurn::new(Speaker::Assistant, &done.text, self.core.now(), Some(usage)),
            ],
            title: title_from(&prompt),
            at: self.core.now(),
        };
        match self.store.append_turns(&appended).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => {
                tracing::warn!(%user, conversation = %id, "the conversation was deleted during the call; not kept")
            }
            Err(StoreError::Refused) => {
                tracing::warn!(%user, conversation = %id, "the conversation filled up during the call; not kept")
            }
            Err(err) => tracing::error!(%user, conversation = %id, error = %err, "could not keep a settled exchange"),
        }
    }
}
