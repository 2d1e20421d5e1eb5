//! `/invoke/{userId}`: calling the model as a user, with exact enforcement; and its streaming
//! variant over server-sent events.

use futures::{StreamExt, stream::BoxStream};
use poem::web::sse::Event;
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi, Union,
    param::{Header, Path},
    payload::{EventStream, Json},
    types::ToJSON,
};
use serde::Deserialize;

use super::{
    ApiTags,
    auth::Caller,
    body::{self, JsonBody},
    error::{AUTH, AnyCode, ApiError, ApiResult, ErrorBody, IDEMPOTENT, INPUT, MODEL, ONE_USER, codes},
    limits,
    params::{idempotency_key, user_id},
    strings::{ConversationIdText, IdempotencyKeyText, ModelIdText, PromptText, TurnText, UserIdPath},
    users::UserView,
};
use crate::domain::{ConversationId, Conversations, Invocation, Limits, Prompt, Speaker, StreamItem, Turn};

pub(super) struct InvokeApi {
    pub(super) conversations: Conversations,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub(super) enum ChatRole {
    User,
    Assistant,
}

/// An earlier turn of the conversation.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ChatTurn {
    role: ChatRole,
    text: TurnText,
}

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct InvokeRequest {
    prompt: PromptText,
    // Instructions for the model, sent as the system prompt.
    #[serde(default)]
    system: Option<TurnText>,
    /// The most tokens to generate (1–64,000; default from the service's configuration). The
    /// service lowers it to what the user's rules allow.
    #[oai(validator(minimum(value = "1"), maximum(value = "64000")))]
    #[serde(default, deserialize_with = "body::optional_whole_number")]
    max_output_tokens: Option<u64>,
    /// A model ID from the price list, or an inference profile of one (default: the configured model).
    #[serde(default)]
    model: Option<ModelIdText>,
    /// Earlier turns of the conversation, oldest first, alternating user and assistant (at most 200).
    #[oai(validator(max_items = 200))]
    #[serde(default)]
    history: Option<Vec<ChatTurn>>,
    /// A conversation of the user's (`POST /users/{userId}/conversations`): once the call has
    /// settled, the prompt and the answer are appended to it (a failed call appends nothing).
    /// The model sees `history`, not the kept turns: the client chooses how much context to
    /// send. The prompt must then be at most 64,000 characters, and the conversation must have
    /// room for two more turns (409 `conversation_limit_reached`).
    #[serde(default)]
    conversation_id: Option<ConversationIdText>,
}

impl InvokeRequest {
    /// The conversation the call joins, and the prompt.
    fn into_parts(self) -> Result<(Option<ConversationId>, Prompt), crate::domain::ValidationError> {
        let conversation =
            self.conversation_id.as_deref().map(|id| ConversationId::parse("conversationId", id)).transpose()?;
        Ok((conversation, self.into_prompt()?))
    }

    fn into_prompt(self) -> Result<Prompt, crate::domain::ValidationError> {
        let history = self
            .history
            .unwrap_or_default()
            .into_iter()
            .map(|turn| Turn {
                speaker: match turn.role {
                    ChatRole::User => Speaker::User,
                    ChatRole::Assistant => Speaker::Assistant,
                },
                text: turn.text.0,
            })
            .collect();
        Prompt::new(self.prompt.0, self.system.map(|s| s.0), history, self.max_output_tokens, self.model.map(|m| m.0))
    }
}

/// What a call cost, in US dollars.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub(crate) struct CostBody {
    /// Input tokens (cache reads and writes included).
    input_cost: f64,
    output_cost: f64,
    /// `inputCost + outputCost`.
    total_cost: f64,
}

/// A finished call: the seed contract's fields, and more.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub(crate) struct InvokeResponse {
    /// The model's answer.
    response: String,
    /// Input + output tokens charged for this call.
    tokens_consumed: u64,
    input_tokens: u64,
    output_tokens: u64,
    /// Tokens the user can still spend under the lifetime limit after this call.
    remaining_tokens: u64,
    cost: CostBody,
    /// The model that answered.
    model: String,
    /// `bedrock`, or `echo` for the offline stand-in.
    provider: String,
    /// Why the model stopped: `end_turn`, `max_tokens`, …
    stop_reason: String,
    /// The output cap the model was given (what the user's rules allowed).
    max_output_tokens: u32,
    user: UserView,
}

impl From<&Invocation> for InvokeResponse {
    fn from(done: &Invocation) -> Self {
        Self {
            response: done.text.clone(),
            tokens_consumed: done.usage.total(),
            input_tokens: done.usage.all_input(),
            output_tokens: done.usage.output,
            remaining_tokens: done.user.remaining_tokens(),
            cost: CostBody {
                input_cost: done.cost.input.dollars(),
                output_cost: done.cost.output.dollars(),
                total_cost: done.cost.total.dollars(),
            },
            model: done.model_id.clone(),
            provider: done.provider.clone(),
            stop_reason: done.stop_reason.clone(),
            max_output_tokens: done.max_output_tokens,
            user: (&done.user).into(),
        }
    }
}

/// Text the model generated since the last event.
#[derive(Debug, Clone, Object)]
pub(super) struct Delta {
    text: String,
}

/// One server-sent event of a streaming call: `delta`s, then `done` or `error`.
#[derive(Debug, Clone, Union)]
#[oai(discriminator_name = "type", rename_all = "lowercase")]
pub(super) enum InvokeEvent {
    Delta(Delta),
    Done(InvokeResponse),
    Error(ErrorBody),
}

impl InvokeEvent {
    fn name(&self) -> &'static str {
        match self {
            InvokeEvent::Delta(_) => "delta",
            InvokeEvent::Done(_) => "done",
            InvokeEvent::Error(_) => "error",
        }
    }
}

#[derive(ApiResponse)]
pub(super) enum InvokeReply {
    /// The model's answer, its usage and cost. `RateLimit-Policy` and `RateLimit` describe the
    /// user's tightest rule (draft-ietf-httpapi-ratelimit-headers).
    #[oai(status = 200)]
    Ok(
        Json<InvokeResponse>,
        #[oai(header = "X-Tokens-Remaining")] u64,
        #[oai(header = "RateLimit-Policy")] Option<String>,
        #[oai(header = "RateLimit")] Option<String>,
        #[oai(header = "Idempotent-Replayed")] Option<bool>,
    ),
}

#[derive(ApiResponse)]
pub(super) enum StreamReply {
    /// Server-sent events: `delta` with text as it is generated, then `done` with the same
    /// summary as the one-shot call, or `error`. `X-Tokens-Remaining` counts the call's hold.
    #[oai(status = 200)]
    Ok(
        EventStream<BoxStream<'static, InvokeEvent>>,
        #[oai(header = "X-Tokens-Remaining")] u64,
        #[oai(header = "RateLimit-Policy")] Option<String>,
        #[oai(header = "RateLimit")] Option<String>,
    ),
}

fn rate_limit(limits: Option<&Limits>) -> (Option<String>, Option<String>) {
    (limits.map(limits::policy), limits.map(limits::remaining))
}

codes!(Invoke: AUTH, INPUT, ONE_USER, MODEL, IDEMPOTENT; ConversationNotFound, ConversationLimit);
codes!(InvokeStream: AUTH, INPUT, ONE_USER, MODEL; ConversationNotFound, ConversationLimit);

#[OpenApi(tag = "ApiTags::Models")]
impl InvokeApi {
    /// Invoke the model
    ///
    /// Calls the model as the user. Before the call, 1 request, the input plus an output cap,
    /// and their worst-case cost are held against every rule that applies (the lifetime limit,
    /// the tier's quotas, the user's own) in one atomic step, so concurrent calls can never pass
    /// any of them; after it, the real usage and cost are charged. A call refused by the limit
    /// gets 429 `token_limit_exceeded`, by a quota 429 `quota_exceeded` naming the rule (with
    /// `Retry-After`); a failed call charges nothing. With an `Idempotency-Key`, a retry within
    /// 24 hours answers the first call and calls nothing.
    #[oai(path = "/invoke/:userId", method = "post", operation_id = "invokeModel")]
    async fn invoke(
        &self,
        caller: Caller,
        #[oai(name = "userId")] id: Path<UserIdPath>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKeyText>>,
        body: JsonBody<InvokeRequest>,
    ) -> ApiResult<InvokeReply, Invoke> {
        let id = user_id(&id)?;
        let (conversation, prompt) = body.0.into_parts()?;
        let answer = self.conversations.invoke(&caller.0, &id, conversation, prompt, idempotency_key(&key)?).await?;
        let done = answer.value;
        let (policy, remaining) = rate_limit(done.limits.as_ref());
        let replayed = answer.replayed.then_some(true);
        Ok(InvokeReply::Ok(Json((&done).into()), done.user.remaining_tokens(), policy, remaining, replayed))
    }

    /// Invoke the model, streaming
    ///
    /// The same call as `invokeModel`, answered as server-sent events while the model
    /// generates. Errors before the stream starts (auth, validation, limit, quota, model refusal)
    /// answer as usual; a failure mid-stream ends it with an `error` event. Closing the
    /// connection, or not reading it for the stall timeout, cancels the call and releases its
    /// hold: nothing is charged.
    #[oai(path = "/invoke/:userId/stream", method = "post", operation_id = "invokeModelStream")]
    async fn invoke_stream(
        &self,
        caller: Caller,
        #[oai(name = "userId")] id: Path<UserIdPath>,
        body: JsonBody<InvokeRequest>,
    ) -> ApiResult<StreamReply, InvokeStream> {
        let id = user_id(&id)?;
        let (conversation, prompt) = body.0.into_parts()?;
        let started = self.conversations.invoke_stream(&caller.0, &id, conversation, prompt).await?;
        let events = started
            .items
            .map(|item| match item {
                StreamItem::Text(text) => InvokeEvent::Delta(Delta { text }),
                StreamItem::Done(done) => InvokeEvent::Done((&*done).into()),
                StreamItem::Failed(err) => InvokeEvent::Error(ApiError::<AnyCode>::from(err).body()),
            })
            .boxed();
        let stream =
            EventStream::new(events).to_event(|event| Event::message(event.to_json_string()).event_type(event.name()));
        let (policy, remaining) = rate_limit(started.limits.as_ref());
        Ok(StreamReply::Ok(stream, started.remaining, policy, remaining))
    }
}
