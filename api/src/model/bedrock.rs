//! Claude on Amazon Bedrock: Converse for one-shot calls, ConverseStream for streaming, and
//! CountTokens for exact input counts.

use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_bedrockruntime::{
    Client,
    config::{retry::RetryConfig, timeout::TimeoutConfig},
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
    types::{
        ContentBlock, ContentBlockDelta, ConversationRole, ConverseOutput, ConverseStreamOutput, ConverseTokensRequest,
        CountTokensInput, InferenceConfiguration, Message, SystemContentBlock,
    },
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::event_stream::RawMessage;

use futures::stream;

use crate::domain::{
    ModelError, ModelEvent, ModelProvider, ModelReply, ModelRequest, ModelStream, Speaker, TokenUsage,
};

/// Bedrock's cross-region inference-profile prefixes: `us.anthropic.claude-…` names the base
/// model `anthropic.claude-…` served from several regions.
const PROFILE_PREFIXES: &[&str] = &["global.", "us.", "us-gov.", "eu.", "apac.", "jp.", "au.", "ca."];

/// The base model an inference profile fronts (CountTokens may know only the base model).
pub(crate) fn base_model_id(model_id: &str) -> &str {
    PROFILE_PREFIXES.iter().find_map(|prefix| model_id.strip_prefix(prefix)).unwrap_or(model_id)
}

/// Tokens of framing Claude adds per message (role markers) and per request, at most.
const OVERHEAD_PER_TURN: u64 = 16;
const OVERHEAD_PER_REQUEST: u64 = 32;

#[derive(Debug, Clone)]
pub struct BedrockSettings {
    /// The longest a call may take before it fails with `model_timeout`.
    pub timeout: Duration,
    /// Attempts per call, retries included (throttling, 5xx, connection errors).
    pub max_attempts: u32,
    /// The first retry's back-off; later ones grow exponentially.
    pub initial_backoff: Duration,
}

impl Default for BedrockSettings {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(120), max_attempts: 3, initial_backoff: Duration::from_millis(500) }
    }
}

pub struct BedrockProvider {
    client: Client,
}

impl BedrockProvider {
    pub fn new(sdk: &SdkConfig, settings: &BedrockSettings) -> Self {
        let config = aws_sdk_bedrockruntime::config::Builder::from(sdk)
            .timeout_config(TimeoutConfig::builder().operation_timeout(settings.timeout).build())
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(settings.max_attempts)
                    .with_initial_backoff(settings.initial_backoff),
            )
            .build();
        Self { client: Client::from_conf(config) }
    }

    fn messages(request: &ModelRequest) -> Result<Vec<Message>, ModelError> {
        request
            .turns
            .iter()
            .map(|turn| {
                let role = match turn.speaker {
                    Speaker::User => ConversationRole::User,
                    Speaker::Assistant => ConversationRole::Assistant,
                };
                Message::builder()
                    .role(role)
                    .content(ContentBlock::Text(turn.text.clone()))
                    .build()
                    .map_err(|e| ModelError::Rejected(e.to_string()))
            })
            .collect()
    }

    fn system(request: &ModelRequest) -> Option<Vec<SystemContentBlock>> {
        request.system.clone().map(|text| vec![SystemContentBlock::Text(text)])
    }

    fn inference(request: &ModelRequest) -> InferenceConfiguration {
        let max_tokens = i32::try_from(request.max_output_tokens).unwrap_or(i32::MAX);
        InferenceConfiguration::builder().max_tokens(max_tokens).build()
    }
}

fn usage(tokens: Option<&aws_sdk_bedrockruntime::types::TokenUsage>) -> TokenUsage {
    let count = |n: i32| u64::try_from(n).unwrap_or(0);
    tokens.map_or_else(TokenUsage::default, |t| TokenUsage {
        input: count(t.input_tokens()),
        output: count(t.output_tokens()),
        cache_read: t.cache_read_input_tokens().map_or(0, count),
        cache_write: t.cache_write_input_tokens().map_or(0, count),
    })
}

/// How a call that the SDK sent over HTTP failed.
fn classify_http<E>(err: SdkError<E, HttpResponse>) -> ModelError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = err.raw_response().map(|response| response.status().as_u16());
    classify(&err, status)
}

/// How a streaming call failed after it started (errors arrive as event-stream frames).
fn classify_stream<E>(err: SdkError<E, RawMessage>) -> ModelError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    classify(&err, None)
}

/// One mapping from every Bedrock failure to the domain's kinds: by the kind of transport
/// failure, else by the service's error code (`ThrottlingException`, …), else by HTTP status.
fn classify<E, R>(err: &SdkError<E, R>, status: Option<u16>) -> ModelError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let said = err.message().map(str::to_owned).unwrap_or_else(|| DisplayErrorContext(err).to_string());
    match err {
        SdkError::TimeoutError(_) => return ModelError::Timeout(said),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => return ModelError::Timeout(said),
        SdkError::DispatchFailure(_) => return ModelError::Unavailable(said),
        _ => {}
    }
    match (err.code(), status) {
        (Some("ThrottlingException" | "TooManyRequestsException" | "ServiceQuotaExceededException"), _)
        | (_, Some(429)) => ModelError::Throttled(said),
        (Some("ModelTimeoutException"), _) | (_, Some(408)) => ModelError::Timeout(said),
        (Some("ServiceUnavailableException" | "InternalServerException" | "ModelNotReadyException"), _) => {
            ModelError::Unavailable(said)
        }
        (Some("AccessDeniedException" | "UnrecognizedClientException"), _) | (_, Some(403)) => {
            ModelError::AccessDenied(said)
        }
        (Some("ResourceNotFoundException"), _) | (_, Some(404)) => ModelError::ModelNotFound(said),
        (Some("ValidationException"), _) | (_, Some(400)) => ModelError::Rejected(said),
        (_, Some(500..=599)) => ModelError::Unavailable(said),
        _ => ModelError::Failed(said),
    }
}

#[async_trait]
impl ModelProvider for BedrockProvider {
    fn name(&self) -> &'static str {
        "bedrock"
    }

    /// Claude's tokenizer works on bytes: no token covers less than one byte of text, so the
    /// text's byte length plus the framing of each turn bounds the count from above (about four
    /// times the typical count of English; settlement gives the excess back).
    fn input_bound(&self, request: &ModelRequest) -> u64 {
        request.text_bytes() + OVERHEAD_PER_TURN * (request.turns.len() as u64 + 1) + OVERHEAD_PER_REQUEST
    }

    async fn count_input_tokens(&self, request: &ModelRequest) -> Result<u64, ModelError> {
        let converse = ConverseTokensRequest::builder()
            .set_messages(Some(Self::messages(request)?))
            .set_system(Self::system(request))
            .build();
        // CountTokens wants the base model, not the cross-region inference profile.
        let answer = self
            .client
            .count_tokens()
            .model_id(base_model_id(&request.model_id))
            .input(CountTokensInput::Converse(converse))
            .send()
            .await;
        match answer {
            Ok(counted) => Ok(u64::try_from(counted.input_tokens()).unwrap_or(0)),
            Err(err) => match classify_http(err) {
                failure @ (ModelError::Throttled(_) | ModelError::Timeout(_) | ModelError::Unavailable(_)) => {
                    Err(failure)
                }
                other => {
                    tracing::warn!(error = %other, "CountTokens cannot count for this model here; holding the bound");
                    Ok(self.input_bound(request))
                }
            },
        }
    }

    async fn converse(&self, request: &ModelRequest) -> Result<ModelReply, ModelError> {
        let reply = self
            .client
            .converse()
            .model_id(&request.model_id)
            .set_messages(Some(Self::messages(request)?))
            .set_system(Self::system(request))
            .inference_config(Self::inference(request))
            .send()
            .await
            .map_err(classify_http)?;
        let text = match reply.output() {
            Some(ConverseOutput::Message(message)) => message
                .content()
                .iter()
                .filter_map(|block| if let ContentBlock::Text(text) = block { Some(text.as_str()) } else { None })
                .collect::<String>(),
            _ => String::new(),
        };
        Ok(ModelReply { text, usage: usage(reply.usage()), stop_reason: reply.stop_reason().as_str().to_owned() })
    }

    async fn converse_stream(&self, request: &ModelRequest) -> Result<ModelStream, ModelError> {
        let answer = self
            .client
            .converse_stream()
            .model_id(&request.model_id)
            .set_messages(Some(Self::messages(request)?))
            .set_system(Self::system(request))
            .inference_config(Self::inference(request))
            .send()
            .await
            .map_err(classify_http)?;
        // State: the receiver, the stop reason once seen, and whether the stream is over.
        let events =
            stream::unfold((answer.stream, String::new(), false), |(mut receiver, mut stop, done)| async move {
                if done {
                    return None;
                }
                loop {
                    match receiver.recv().await {
                        Ok(Some(ConverseStreamOutput::ContentBlockDelta(event))) => {
                            if let Some(ContentBlockDelta::Text(text)) = event.delta() {
                                return Some((Ok(ModelEvent::Text(text.clone())), (receiver, stop, false)));
                            }
                        }
                        Ok(Some(ConverseStreamOutput::MessageStop(event))) => {
                            stop = event.stop_reason().as_str().to_owned()
                        }
                        Ok(Some(ConverseStreamOutput::Metadata(event))) => {
                            let finished =
                                ModelEvent::Finished { usage: usage(event.usage()), stop_reason: stop.clone() };
                            return Some((Ok(finished), (receiver, stop, true)));
                        }
                        Ok(Some(_)) => {}
                        Ok(None) => return None,
                        Err(err) => return Some((Err(classify_stream(err)), (receiver, stop, true))),
                    }
                }
            });
        Ok(Box::pin(events))
    }
}

#[cfg(test)]
mod tests {
    use aws_config::{BehaviorVersion, Region};
    use proptest::prelude::*;

    use super::*;
    use crate::{
        domain::{Speaker, Turn},
        model::EchoProvider,
    };

    fn provider() -> BedrockProvider {
        let sdk =
            SdkConfig::builder().behavior_version(BehaviorVersion::latest()).region(Region::new("us-east-1")).build();
        BedrockProvider::new(&sdk, &BedrockSettings::default())
    }

    fn request(system: Option<String>, texts: Vec<String>) -> ModelRequest {
        let turns = texts
            .into_iter()
            .enumerate()
            .map(|(i, text)| Turn { speaker: if i % 2 == 0 { Speaker::User } else { Speaker::Assistant }, text })
            .collect();
        ModelRequest {
            model_id: "anthropic.claude-sonnet-4-5-20250929-v1:0".into(),
            system,
            turns,
            max_output_tokens: 1,
        }
    }

    proptest! {
        /// Claude's tokenizer is a byte-level BPE: no text yields more tokens than it has bytes,
        /// and role markers add a few per message. The local bound covers that worst case, and
        /// so every count below it: the stand-in Bedrock's (a quarter token per byte, rounded up
        /// per block, plus 3 per message) and the echo model's (a token per word, plus 1 per turn).
        #[test]
        fn the_local_bound_is_never_below_a_byte_level_count(
            system in proptest::option::of(".{0,200}"),
            texts in proptest::collection::vec(".{0,400}", 1..8),
        ) {
            let request = request(system, texts);
            let bound = provider().input_bound(&request);
            let messages = request.turns.len() as u64 + u64::from(request.system.is_some());
            let bytes = request.text_bytes();
            prop_assert!(bound >= bytes + 3 * messages, "byte-level worst case: {bound} < {bytes} + framing");
            let quarter = |text: &str| (text.len() as u64).div_ceil(4);
            let standin = request.turns.iter().map(|t| 3 + quarter(&t.text)).sum::<u64>()
                + request.system.as_deref().map_or(0, quarter);
            prop_assert!(bound >= standin);
            let echo = futures::executor::block_on(EchoProvider.count_input_tokens(&request)).unwrap();
            prop_assert!(bound >= echo);
        }
    }
}
