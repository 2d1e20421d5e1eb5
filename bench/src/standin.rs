//! A stand-in Amazon Bedrock Runtime for load tests: Converse, ConverseStream (real
//! event-stream frames) and CountTokens, answering after a configurable latency. It accepts
//! any SigV4 signature (or none) and any model ID, URL-encoded or not, so the real AWS SDK
//! (tokenmeter), botocore-style clients (LiteLLM) and the load generator can all call it.
//!
//! It counts what it is asked (`GET /_bench/stats`), so the bench can report upstream calls
//! per model call and wait until nothing is in flight between phases.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::{Method, Request, Response, StatusCode, body::Frame, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::frames;

/// How the stand-in answers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// How long Converse takes, and ConverseStream until its first event (CountTokens answers at once).
    pub latency: Duration,
    /// Output tokens of every answer (fewer when the request's `maxTokens` is lower).
    pub output_tokens: u64,
    /// The pause between a stream's content deltas.
    pub stream_gap: Duration,
}

/// Requests received, by operation, and how many are being answered right now.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    converse: AtomicU64,
    converse_stream: AtomicU64,
    count_tokens: AtomicU64,
    other: AtomicU64,
    in_flight: AtomicU64,
}

impl Counters {
    fn json(&self) -> Value {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        json!({
            "converse": n(&self.converse),
            "converseStream": n(&self.converse_stream),
            "countTokens": n(&self.count_tokens),
            "other": n(&self.other),
            "inFlight": n(&self.in_flight),
        })
    }
}

/// Counts a request as in flight until dropped (for a stream: until its last frame is sent).
struct InFlight(Arc<Counters>);

impl InFlight {
    fn new(counters: &Arc<Counters>) -> Self {
        counters.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(counters.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

type Body = BoxBody<Bytes, Infallible>;

/// Serves until the process ends.
pub(crate) async fn serve(listener: TcpListener, settings: Settings) -> anyhow::Result<()> {
    let counters = Arc::new(Counters::default());
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let counters = counters.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(request, settings, counters.clone()));
            // A client that goes away mid-answer is not the stand-in's problem.
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// Binds `listen` and prints `listening on <address>` (the parent process reads it), then serves.
pub(crate) async fn run(listen: SocketAddr, settings: Settings) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    crate::output::line(&format!("listening on {}", listener.local_addr()?));
    serve(listener, settings).await
}

async fn answer(
    request: Request<hyper::body::Incoming>,
    settings: Settings,
    counters: Arc<Counters>,
) -> Result<Response<Body>, Infallible> {
    let path = request.uri().path().to_owned();
    if request.method() == Method::GET && path == "/_bench/stats" {
        return Ok(json_response(StatusCode::OK, &counters.json()));
    }
    let operation = path.strip_prefix("/model/").and_then(|rest| rest.rsplit_once('/')).map(|(_, op)| op);
    let counter = match operation {
        Some("converse") => &counters.converse,
        Some("converse-stream") => &counters.converse_stream,
        Some("count-tokens") => &counters.count_tokens,
        _ => &counters.other,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    let in_flight = InFlight::new(&counters);
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return Ok(bedrock_error(StatusCode::BAD_REQUEST, "ValidationException", "unreadable body")),
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return Ok(bedrock_error(StatusCode::BAD_REQUEST, "ValidationException", "the body is not JSON"));
    };
    Ok(match operation {
        Some("count-tokens") => {
            let converse = &body["input"]["converse"];
            json_response(StatusCode::OK, &json!({ "inputTokens": input_tokens(converse) }))
        }
        Some("converse") => {
            tokio::time::sleep(settings.latency).await;
            let (input, output) = (input_tokens(&body), output_tokens(&body, settings.output_tokens));
            json_response(StatusCode::OK, &converse_reply(input, output, settings))
        }
        Some("converse-stream") => {
            tokio::time::sleep(settings.latency).await;
            let (input, output) = (input_tokens(&body), output_tokens(&body, settings.output_tokens));
            stream_response(input, output, settings, in_flight)
        }
        _ => bedrock_error(StatusCode::NOT_FOUND, "ResourceNotFoundException", &format!("no operation at {path}")),
    })
}

/// The stand-in's token count of a Converse request (`messages`, `system`): a quarter token per
/// byte of text, rounded up per block, plus three per message, like a real tokenizer's framing.
/// CountTokens and Converse's reported usage agree, as they do on Bedrock.
pub(crate) fn input_tokens(converse: &Value) -> u64 {
    let text_tokens = |blocks: &Value| -> u64 {
        blocks
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|block| block["text"].as_str())
            .map(|text| (text.len() as u64).div_ceil(4))
            .sum()
    };
    let messages = converse["messages"].as_array().map_or(&[][..], Vec::as_slice);
    let in_messages: u64 = messages.iter().map(|m| 3 + text_tokens(&m["content"])).sum();
    in_messages + text_tokens(&converse["system"])
}

/// Output tokens of an answer: the stand-in's usual count, or the request's `maxTokens` if lower.
pub(crate) fn output_tokens(converse: &Value, usual: u64) -> u64 {
    converse["inferenceConfig"]["maxTokens"].as_u64().map_or(usual, |cap| cap.min(usual))
}

/// `n` tokens of text, one word each.
fn words(n: u64) -> Vec<String> {
    (0..n).map(|i| if i == 0 { "Token".to_owned() } else { " token".to_owned() }).collect()
}

fn stop_reason(output: u64, settings: Settings) -> &'static str {
    if output < settings.output_tokens { "max_tokens" } else { "end_turn" }
}

fn converse_reply(input: u64, output: u64, settings: Settings) -> Value {
    json!({
        "output": { "message": { "role": "assistant", "content": [{ "text": words(output).concat() }] } },
        "stopReason": stop_reason(output, settings),
        "usage": { "inputTokens": input, "outputTokens": output, "totalTokens": input + output },
        "metrics": { "latencyMs": settings.latency.as_millis() as u64 }
    })
}

fn stream_response(input: u64, output: u64, settings: Settings, in_flight: InFlight) -> Response<Body> {
    let chunks = frames::converse_stream(&words(output), input, output, stop_reason(output, settings));
    let gap = settings.stream_gap;
    let body =
        futures::stream::unfold((chunks.into_iter(), true, in_flight), move |(mut chunks, first, guard)| async move {
            let chunk = chunks.next()?;
            if !first && !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
            Some((Ok(Frame::data(chunk)), (chunks, false, guard)))
        });
    Response::builder()
        .header("content-type", "application/vnd.amazon.eventstream")
        .header("x-amzn-requestid", "bench")
        .body(BodyExt::boxed(StreamBody::new(body)))
        .expect("a valid response")
}

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-requestid", "bench")
        .body(Full::new(Bytes::from(body.to_string())).boxed())
        .expect("a valid response")
}

/// A failure the way Bedrock answers one: status, `x-amzn-ErrorType`, `{message}`.
fn bedrock_error(status: StatusCode, kind: &str, message: &str) -> Response<Body> {
    let mut response = json_response(status, &json!({ "message": message }));
    let error_type = format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/");
    response.headers_mut().insert("x-amzn-ErrorType", error_type.parse().expect("a valid header"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_text_of_messages_and_system() {
        let converse = json!({
            "messages": [
                { "role": "user", "content": [{ "text": "12345678" }, { "text": "1" }] },
                { "role": "assistant", "content": [{ "text": "" }] },
            ],
            "system": [{ "text": "1234" }],
        });
        // (3 + 2 + 1) + (3 + 0) + 1
        assert_eq!(input_tokens(&converse), 10);
        assert_eq!(input_tokens(&json!({})), 0);
    }

    #[test]
    fn the_output_cap_is_respected() {
        assert_eq!(output_tokens(&json!({ "inferenceConfig": { "maxTokens": 5 } }), 32), 5);
        assert_eq!(output_tokens(&json!({ "inferenceConfig": { "maxTokens": 500 } }), 32), 32);
        assert_eq!(output_tokens(&json!({}), 32), 32);
        assert_eq!(words(3).concat(), "Token token token");
    }
}
