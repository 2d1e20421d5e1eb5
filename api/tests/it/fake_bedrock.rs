//! A stand-in for Amazon Bedrock at the wire level: wiremock answering the real SDK's signed
//! requests with Bedrock's JSON and event-stream bodies.

use std::time::Duration;

use aws_sdk_bedrockruntime::config::{Credentials, Region};
use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use serde_json::{Value, json};
use tokenmeter_api::model::{BedrockProvider, BedrockSettings};
use wiremock::{
    Mock, MockServer, Request, Respond, ResponseTemplate,
    matchers::{header_regex, method, path, path_regex},
};

/// The default model as the SDK puts it in the path: URL-encoded.
pub(crate) const CONVERSE_PATH: &str = "/model/global.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse";
pub(crate) const STREAM_PATH: &str = "/model/global.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse-stream";
/// CountTokens is asked about the base model, not the inference profile.
pub(crate) const COUNT_PATH: &str = "/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/count-tokens";

/// Every request must be SigV4-signed for Bedrock in us-east-1 with the test credentials.
const SIGNED: &str = r"^AWS4-HMAC-SHA256 Credential=AKIDTOKENMETERTEST/\d{8}/us-east-1/bedrock/aws4_request";

pub(crate) struct FakeBedrock {
    pub server: MockServer,
}

impl FakeBedrock {
    pub(crate) async fn start() -> Self {
        Self { server: MockServer::start().await }
    }

    /// The real Bedrock provider, pointed at this server, with short timeouts and back-offs.
    pub(crate) async fn provider(&self, timeout: Duration) -> BedrockProvider {
        provider_at(&self.server.uri(), timeout)
    }

    /// Every model answers like one that would write `natural` output tokens to a prompt of
    /// `input` tokens, after `delay` (its latency): the output stops at the cap the request
    /// gives (`stopReason` `max_tokens`), else ends the turn. CountTokens says `input`, after
    /// `delay` too.
    pub(crate) async fn metered(&self, input: u64, natural: u64, delay: Duration) {
        let counted = ResponseTemplate::new(200).set_delay(delay).set_body_json(json!({ "inputTokens": input }));
        Mock::given(method("POST"))
            .and(path_regex(r"^/model/[^/]+/count-tokens$"))
            .and(header_regex("authorization", SIGNED))
            .respond_with(counted)
            .mount(&self.server)
            .await;
        Mock::given(method("POST"))
            .and(path_regex(r"^/model/[^/]+/converse$"))
            .and(header_regex("authorization", SIGNED))
            .respond_with(Metered { input, natural, delay })
            .mount(&self.server)
            .await;
    }

    /// CountTokens answers `tokens`.
    pub(crate) async fn count_tokens(&self, tokens: u64) {
        Mock::given(method("POST"))
            .and(path(COUNT_PATH))
            .and(header_regex("authorization", SIGNED))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "inputTokens": tokens })))
            .mount(&self.server)
            .await;
    }

    /// Converse answers `text` with the given usage.
    pub(crate) async fn converse(&self, text: &str, input: u64, output: u64) {
        self.converse_after(Duration::ZERO, text, input, output).await;
    }

    /// Converse answers `text` with the given usage, after `delay`.
    pub(crate) async fn converse_after(&self, delay: Duration, text: &str, input: u64, output: u64) {
        let body = json!({
            "output": { "message": { "role": "assistant", "content": [{ "text": text }] } },
            "stopReason": "end_turn",
            "usage": { "inputTokens": input, "outputTokens": output, "totalTokens": input + output },
            "metrics": { "latencyMs": 321 }
        });
        Mock::given(method("POST"))
            .and(path(CONVERSE_PATH))
            .and(header_regex("authorization", SIGNED))
            .respond_with(ResponseTemplate::new(200).set_delay(delay).set_body_json(body))
            .mount(&self.server)
            .await;
    }

    /// ConverseStream answers `deltas` as content-block deltas, then stop and usage metadata.
    pub(crate) async fn converse_stream(&self, deltas: &[&str], input: u64, output: u64) {
        self.mount_stream(self.stream_answer(deltas, input, output)).await;
    }

    /// ConverseStream starts, sends `deltas`, then fails with a stream exception.
    pub(crate) async fn converse_stream_failing(&self, deltas: &[&str], exception: &str) {
        self.mount_stream(self.stream_failing_midway(deltas, exception)).await;
    }

    /// A ConverseStream answer: `deltas`, then stop and usage metadata.
    pub(crate) fn stream_answer(&self, deltas: &[&str], input: u64, output: u64) -> ResponseTemplate {
        let mut frames = started_with(deltas);
        frames.push(event("contentBlockStop", json!({ "contentBlockIndex": 0 })));
        frames.push(event("messageStop", json!({ "stopReason": "end_turn" })));
        frames.push(event(
            "metadata",
            json!({
                "usage": { "inputTokens": input, "outputTokens": output, "totalTokens": input + output },
                "metrics": { "latencyMs": 321 }
            }),
        ));
        event_stream(&frames)
    }

    /// A ConverseStream answer that sends `deltas`, then fails with a stream exception.
    pub(crate) fn stream_failing_midway(&self, deltas: &[&str], exception: &str) -> ResponseTemplate {
        let mut frames = started_with(deltas);
        let failure = Message::new(json!({ "message": "the model broke mid-answer" }).to_string())
            .add_header(Header::new(":message-type", HeaderValue::String("exception".into())))
            .add_header(Header::new(":exception-type", HeaderValue::String(exception.to_owned().into())))
            .add_header(Header::new(":content-type", HeaderValue::String("application/json".into())));
        frames.push(failure);
        event_stream(&frames)
    }

    async fn mount_stream(&self, answer: ResponseTemplate) {
        Mock::given(method("POST"))
            .and(path(STREAM_PATH))
            .and(header_regex("authorization", SIGNED))
            .respond_with(answer)
            .mount(&self.server)
            .await;
    }

    /// Every model operation fails the way Bedrock fails: `status`, `x-amzn-ErrorType`, message.
    pub(crate) async fn fail_everything(&self, status: u16, error_type: &str) {
        Mock::given(method("POST"))
            .and(path_regex(r"^/model/[^/]+/(converse|converse-stream|count-tokens)$"))
            .respond_with(
                ResponseTemplate::new(status)
                    .insert_header(
                        "x-amzn-ErrorType",
                        format!("{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
                    )
                    .set_body_json(json!({ "message": format!("{error_type} from the fake") })),
            )
            .mount(&self.server)
            .await;
    }

    /// Every model operation answers, but only after `delay`.
    pub(crate) async fn answer_slowly(&self, delay: Duration) {
        Mock::given(method("POST"))
            .and(path_regex(r"^/model/[^/]+/(converse|converse-stream|count-tokens)$"))
            .respond_with(ResponseTemplate::new(200).set_delay(delay).set_body_json(json!({ "inputTokens": 1 })))
            .mount(&self.server)
            .await;
    }

    /// The JSON bodies the fake received on `path`.
    pub(crate) async fn bodies(&self, on: &str) -> Vec<Value> {
        let requests = self.server.received_requests().await.unwrap_or_default();
        requests.iter().filter(|r| r.url.path() == on).map(|r| serde_json::from_slice(&r.body).unwrap()).collect()
    }

    pub(crate) async fn request_count(&self) -> usize {
        self.server.received_requests().await.unwrap_or_default().len()
    }
}

/// The real Bedrock provider pointed at `endpoint` (a stand-in), with short timeouts and back-offs.
pub(crate) fn provider_at(endpoint: &str, timeout: Duration) -> BedrockProvider {
    let sdk = aws_config::SdkConfig::builder()
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_bedrockruntime::config::SharedCredentialsProvider::new(Credentials::new(
            "AKIDTOKENMETERTEST",
            "secret",
            None,
            None,
            "tests",
        )))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .http_client(tokenmeter_api::aws::http_client())
        .build();
    let settings = BedrockSettings { timeout, max_attempts: 2, initial_backoff: Duration::from_millis(10) };
    BedrockProvider::new(&sdk, &settings)
}

/// A model whose answer is as long as it would be, or as the request's cap allows.
struct Metered {
    input: u64,
    natural: u64,
    delay: Duration,
}

impl Respond for Metered {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let cap = body["inferenceConfig"]["maxTokens"].as_u64().unwrap_or(u64::MAX);
        let output = self.natural.min(cap);
        let stop = if output < self.natural { "max_tokens" } else { "end_turn" };
        ResponseTemplate::new(200).set_delay(self.delay).set_body_json(json!({
            "output": { "message": { "role": "assistant", "content": [{ "text": "word ".repeat(output as usize) }] } },
            "stopReason": stop,
            "usage": { "inputTokens": self.input, "outputTokens": output, "totalTokens": self.input + output },
            "metrics": { "latencyMs": self.delay.as_millis() as u64 }
        }))
    }
}

fn event(kind: &str, payload: Value) -> Message {
    Message::new(payload.to_string())
        .add_header(Header::new(":event-type", HeaderValue::String(kind.to_owned().into())))
        .add_header(Header::new(":content-type", HeaderValue::String("application/json".into())))
        .add_header(Header::new(":message-type", HeaderValue::String("event".into())))
}

/// A stream's opening: the message starts, then `deltas` as content-block deltas.
fn started_with(deltas: &[&str]) -> Vec<Message> {
    let mut frames = vec![event("messageStart", json!({ "role": "assistant" }))];
    frames.extend(
        deltas
            .iter()
            .map(|text| event("contentBlockDelta", json!({ "contentBlockIndex": 0, "delta": { "text": text } }))),
    );
    frames
}

/// `frames` as an `application/vnd.amazon.eventstream` answer.
fn event_stream(frames: &[Message]) -> ResponseTemplate {
    let mut body = Vec::new();
    for frame in frames {
        write_message_to(frame, &mut body).expect("encode frame");
    }
    ResponseTemplate::new(200).insert_header("content-type", "application/vnd.amazon.eventstream").set_body_bytes(body)
}
