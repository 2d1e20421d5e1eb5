//! The model-provider port: what the domain needs from an LLM, and how a call can fail.

use async_trait::async_trait;
use futures::stream::BoxStream;

use super::{ErrorCode, TokenUsage};

/// Who said a turn of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub speaker: Speaker,
    pub text: String,
}

/// One call to a model: the conversation so far (ending with the user's turn) and a hard cap
/// on the tokens the model may generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRequest {
    pub model_id: String,
    pub system: Option<String>,
    pub turns: Vec<Turn>,
    pub max_output_tokens: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelReply {
    pub text: String,
    pub usage: TokenUsage,
    pub stop_reason: String,
}

/// What a streaming call yields: text as it is generated, then the real usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelEvent {
    Text(String),
    Finished { usage: TokenUsage, stop_reason: String },
}

pub type ModelStream = BoxStream<'static, Result<ModelEvent, ModelError>>;

/// How a model call failed. Each kind has its own status and error code at the edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("the model provider is throttling requests: {0}")]
    Throttled(String),
    #[error("the model did not answer in time: {0}")]
    Timeout(String),
    #[error("the model provider is unavailable: {0}")]
    Unavailable(String),
    #[error("access to the model was denied: {0}")]
    AccessDenied(String),
    #[error("the model does not exist here: {0}")]
    ModelNotFound(String),
    #[error("the model rejected the request: {0}")]
    Rejected(String),
    #[error("the model call failed: {0}")]
    Failed(String),
}

impl ModelError {
    /// The error code a call that failed this way answers with.
    pub fn code(&self) -> ErrorCode {
        match self {
            ModelError::Throttled(_) => ErrorCode::ModelThrottled,
            ModelError::Timeout(_) => ErrorCode::ModelTimeout,
            ModelError::Unavailable(_) => ErrorCode::ModelUnavailable,
            ModelError::AccessDenied(_) => ErrorCode::ModelAccessDenied,
            ModelError::ModelNotFound(_) => ErrorCode::ModelNotFound,
            ModelError::Rejected(_) => ErrorCode::ModelRejectedRequest,
            ModelError::Failed(_) => ErrorCode::ModelError,
        }
    }
}

impl ModelRequest {
    /// Bytes of text the request sends: system prompt and every turn.
    pub fn text_bytes(&self) -> u64 {
        let system = self.system.as_ref().map_or(0, String::len);
        (system + self.turns.iter().map(|t| t.text.len()).sum::<usize>()) as u64
    }
}

/// An LLM behind some API. Implementations translate; the domain decides.
#[async_trait]
pub trait ModelProvider: Send + Sync + 'static {
    /// `bedrock` or `echo`: shown in `/health` and in every invocation answer.
    fn name(&self) -> &'static str;

    /// An upper bound, computed locally, on the input tokens `request` will be billed for:
    /// the provider's count can never exceed it. A call holds this bound and settles to the
    /// real count, so it needs no round trip to count first.
    fn input_bound(&self, request: &ModelRequest) -> u64;

    /// Exactly how many input tokens `request` will be billed for (asked of the provider only
    /// when the bound does not fit what the user has left).
    async fn count_input_tokens(&self, request: &ModelRequest) -> Result<u64, ModelError>;

    async fn converse(&self, request: &ModelRequest) -> Result<ModelReply, ModelError>;

    async fn converse_stream(&self, request: &ModelRequest) -> Result<ModelStream, ModelError>;
}
