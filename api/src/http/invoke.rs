//! `/invoke/{userId}`: calling the model as a user, with exact enforcement; and its streaming
//! variant over server-sent events.

use futures::{StreamExt, stream::BoxStream};
use poem::web::sse::Event;
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi, Union,
    param::Path,
    payload::{EventStream, Json},
    types::ToJSON,
};
use serde::Deserialize;

use super::{
    ApiTags,
    auth::Caller,
    body::{self, JsonBody},
    error::{ApiError, ApiResult, ErrorBody},
    users::UserView,
};
use crate::domain::{Invocation, Invocations, Prompt, Speaker, StreamItem, Turn, UserId, ValidationError};

pub(super) struct InvokeApi {
    pub invocations: Invocations,
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
#[serde(rename_all = "camelCase")]
pub(super) struct ChatTurn {
    pub role: ChatRole,
    #[serde(deserialize_with = "body::string")]
    pub text: String,
}

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub(super) struct InvokeRequest {
    /// What to ask the model: 1 to 200,000 characters.
    #[serde(deserialize_with = "body::string")]
    pub prompt: String,
    /// Instructions for the model, sent as the system prompt.
    #[serde(default, deserialize_with = "body::optional_string")]
    pub system: Option<String>,
    /// The most tokens to generate (1–64,000; default from the service's configuration). The
    /// service lowers it to what the user's remaining tokens allow.
    #[serde(default, deserialize_with = "body::optional_whole_number")]
    pub max_output_tokens: Option<u64>,
    /// A model ID from the price list (default: the configured model).
    #[serde(default, deserialize_with = "body::optional_string")]
    pub model: Option<String>,
    /// Earlier turns of the conversation, oldest first, alternating user and assistant.
    #[serde(default)]
    pub history: Option<Vec<ChatTurn>>,
}

const MAX_PROMPT_CHARS: usize = 200_000;
const MAX_OUTPUT_TOKENS: u64 = 64_000;

impl InvokeRequest {
    fn into_prompt(self) -> Result<Prompt, ValidationError> {
        let chars = self.prompt.chars().count();
        if self.prompt.trim().is_empty() {
            return Err(ValidationError::new("prompt", "must not be empty"));
        }
        if chars > MAX_PROMPT_CHARS {
            return Err(ValidationError::new(
                "prompt",
                format!("must be at most {MAX_PROMPT_CHARS} characters (got {chars})"),
            ));
        }
        let max_output_tokens = match self.max_output_tokens {
            None => None,
            Some(n @ 1..=MAX_OUTPUT_TOKENS) => Some(n as u32),
            Some(n) => {
                let reason = format!("must be between 1 and {MAX_OUTPUT_TOKENS} (got {n})");
                return Err(ValidationError::new("maxOutputTokens", reason));
            }
        };
        let history = self
            .history
            .unwrap_or_default()
            .into_iter()
            .map(|turn| Turn {
                speaker: match turn.role {
                    ChatRole::User => Speaker::User,
                    ChatRole::Assistant => Speaker::Assistant,
                },
                text: turn.text,
            })
            .collect();
        Ok(Prompt { prompt: self.prompt, system: self.system, history, max_output_tokens, model: self.model })
    }
}

/// What a call cost, in US dollars.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct CostBody {
    /// Input tokens (cache reads and writes included).
    pub input_cost: f64,
    pub output_cost: f64,
    pub total_cost: f64,
}

/// A finished call: the seed contract's fields, and more.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct InvokeResponse {
    /// The model's answer.
    pub response: String,
    /// Input + output tokens charged for this call.
    pub tokens_consumed: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Tokens the user can still spend after this call.
    pub remaining_tokens: u64,
    pub cost: CostBody,
    /// The model that answered.
    pub model: String,
    /// `bedrock`, or `echo` for the offline stand-in.
    pub provider: String,
    /// Why the model stopped: `end_turn`, `max_tokens`, …
    pub stop_reason: String,
    /// The output cap the model was given (what the user's remaining tokens allowed).
    pub max_output_tokens: u32,
    pub user: UserView,
}

impl From<&Invocation> for InvokeResponse {
    fn from(done: &Invocation) -> Self {
        Self {
            response: done.text.clone(),
            tokens_consumed: done.usage.total(),
            input_tokens: done.usage.input + done.usage.cache_read + done.usage.cache_write,
            output_tokens: done.usage.output,
            remaining_tokens: done.user.remaining_tokens(),
            cost: CostBody {
                input_cost: done.cost.input.dollars(),
                output_cost: done.cost.output.dollars(),
                total_cost: done.cost.total.dollars(),
            },
            model: done.model_id.clone(),
            provider: done.provider.to_owned(),
            stop_reason: done.stop_reason.clone(),
            max_output_tokens: done.max_output_tokens,
            user: (&done.user).into(),
        }
    }
}

/// Text the model generated since the last event.
#[derive(Debug, Clone, Object)]
pub struct Delta {
    pub text: String,
}

/// One server-sent event of a streaming call: `delta`s, then `done` or `error`.
#[derive(Debug, Clone, Union)]
#[oai(discriminator_name = "type", rename_all = "lowercase")]
pub enum InvokeEvent {
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
pub enum InvokeReply {
    /// The model's answer, its usage and cost.
    #[oai(status = 200)]
    Ok(Json<InvokeResponse>, #[oai(header = "X-Tokens-Remaining")] u64),
}

#[derive(ApiResponse)]
pub enum StreamReply {
    /// Server-sent events: `delta` with text as it is generated, then `done` with the same
    /// summary as the one-shot call, or `error`. `X-Tokens-Remaining` counts the call's hold.
    #[oai(status = 200)]
    Ok(EventStream<BoxStream<'static, InvokeEvent>>, #[oai(header = "X-Tokens-Remaining")] u64),
}

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    Ok(UserId::parse("userId", raw)?)
}

#[OpenApi(tag = "ApiTags::Models")]
impl InvokeApi {
    /// Invoke the model
    ///
    /// Calls the model as the user. Before the call, the input tokens are counted and the input
    /// plus an output cap are reserved so that concurrent calls can never pass the limit; after
    /// it, the user is charged the real usage and cost. A user with no tokens left gets 429
    /// `token_limit_exceeded` before any model call; a failed call charges nothing.
    #[oai(path = "/invoke/:userId", method = "post", operation_id = "invokeModel")]
    async fn invoke(
        &self,
        caller: Caller,
        #[oai(name = "userId")] id: Path<String>,
        body: JsonBody<InvokeRequest>,
    ) -> ApiResult<InvokeReply> {
        let id = user_id(&id)?;
        let done = self.invocations.invoke(&caller.0, &id, body.0.into_prompt()?).await?;
        Ok(InvokeReply::Ok(Json((&done).into()), done.user.remaining_tokens()))
    }

    /// Invoke the model, streaming
    ///
    /// The same call as `invokeModel`, answered as server-sent events while the model
    /// generates. Errors before the stream starts (auth, validation, limit, model refusal)
    /// answer as usual; a failure mid-stream ends it with an `error` event. Closing the
    /// connection cancels the call and releases its hold: nothing is charged.
    #[oai(path = "/invoke/:userId/stream", method = "post", operation_id = "invokeModelStream")]
    async fn invoke_stream(
        &self,
        caller: Caller,
        #[oai(name = "userId")] id: Path<String>,
        body: JsonBody<InvokeRequest>,
    ) -> ApiResult<StreamReply> {
        let id = user_id(&id)?;
        let prompt = body.0.into_prompt()?;
        let (remaining, items) = self.invocations.invoke_stream(&caller.0, &id, prompt).await?;
        let events = items
            .map(|item| match item {
                StreamItem::Text(text) => InvokeEvent::Delta(Delta { text }),
                StreamItem::Done(done) => InvokeEvent::Done((&*done).into()),
                StreamItem::Failed(err) => InvokeEvent::Error(ApiError::from(err).body()),
            })
            .boxed();
        let stream =
            EventStream::new(events).to_event(|event| Event::message(event.to_json_string()).event_type(event.name()));
        Ok(StreamReply::Ok(stream, remaining))
    }
}
