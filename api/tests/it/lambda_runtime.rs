//! Stand-ins for the two services a Lambda function talks to that cannot run here, speaking
//! their wire formats over real HTTP (hyper, so bodies are read and written as they flow;
//! wiremock would buffer them):
//!
//! - [`RuntimeApi`]: Lambda's Runtime API. `GET …/invocation/next` hands out the events the
//!   test queues (and waits, as Lambda does, while there are none); `POST …/{id}/response`
//!   is read frame by frame, so the test sees each chunk of a streamed answer (prelude,
//!   body, trailers) the moment the function writes it.
//! - [`GatedBedrock`]: Bedrock's CountTokens and ConverseStream, whose stream sends its first
//!   delta and then holds the rest until the test opens the gate.

use std::{
    collections::HashMap,
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::{
    HeaderMap, Method, Request, Response, StatusCode,
    body::{Frame, Incoming},
    server::conn::http1,
    service::service_fn,
};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::{Mutex as AsyncMutex, Notify, mpsc};

type Body = UnsyncBoxBody<Bytes, Infallible>;

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:tokenmeter-stream";
/// What separates a streamed answer's JSON prelude (status, headers) from its body.
const PRELUDE_END: &[u8] = &[0; 8];

/// Serves `handle` on a fresh loopback port, each connection in its own task, for as long as
/// the test runs.
async fn serve<H, F>(handle: H) -> SocketAddr
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handle = handle.clone();
            let service = service_fn(move |request| {
                let answer = handle(request);
                async move { Ok::<_, Infallible>(answer.await) }
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    addr
}

fn full(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()).boxed_unsync());
    *response.status_mut() = status;
    response
}

/// One piece of what the function posted for an invocation, in order.
#[derive(Debug)]
enum Part {
    /// The request head: the function posted an answer (`error: false`) or an error.
    Head {
        error: bool,
        headers: HeaderMap,
    },
    Data(Bytes),
    Trailers(HeaderMap),
    End,
}

struct Invocation {
    id: String,
    event: Value,
    deadline_ms: u128,
}

type Answers = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Part>>>>;

/// Lambda's Runtime API, as far as a function uses it.
pub(crate) struct RuntimeApi {
    pub addr: SocketAddr,
    queue: mpsc::UnboundedSender<Invocation>,
    answers: Answers,
}

impl RuntimeApi {
    pub(crate) async fn start() -> Self {
        let (queue, pending) = mpsc::unbounded_channel::<Invocation>();
        let pending = Arc::new(AsyncMutex::new(pending));
        let answers = Answers::default();
        let addr = serve({
            let answers = answers.clone();
            move |request| runtime_api(request, pending.clone(), answers.clone())
        })
        .await;
        Self { addr, queue, answers }
    }

    /// Hands `event` to the function as invocation `id`, due within `deadline`; the answer is
    /// read as it arrives.
    pub(crate) fn invoke(&self, id: &str, event: Value, deadline: Duration) -> Answer {
        let (parts, received) = mpsc::unbounded_channel();
        self.answers.lock().unwrap().insert(id.to_owned(), parts);
        let deadline_ms = (SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + deadline).as_millis();
        self.queue.send(Invocation { id: id.to_owned(), event, deadline_ms }).expect("the runtime API runs");
        Answer { received, head: None, bytes: Vec::new(), trailers: None, ended: None }
    }
}

async fn runtime_api(
    request: Request<Incoming>,
    pending: Arc<AsyncMutex<mpsc::UnboundedReceiver<Invocation>>>,
    answers: Answers,
) -> Response<Body> {
    let path = request.uri().path().to_owned();
    if request.method() == Method::GET && path == NEXT {
        // Long-polls, as Lambda's does: the next event when the test queues one.
        let Some(next) = pending.lock().await.recv().await else {
            return full(StatusCode::GONE, "no more events");
        };
        let mut response = full(StatusCode::OK, next.event.to_string());
        let headers = response.headers_mut();
        headers.insert("lambda-runtime-aws-request-id", next.id.parse().unwrap());
        headers.insert("lambda-runtime-deadline-ms", next.deadline_ms.to_string().parse().unwrap());
        headers.insert("lambda-runtime-invoked-function-arn", FUNCTION_ARN.parse().unwrap());
        headers.insert("content-type", "application/json".parse().unwrap());
        return response;
    }
    let invocation = path.strip_prefix("/2018-06-01/runtime/invocation/").and_then(|rest| rest.split_once('/'));
    let Some((id, kind @ ("response" | "error"))) = invocation else {
        return full(StatusCode::NOT_FOUND, format!("the stand-in Runtime API has no {path}"));
    };
    let Some(parts) = answers.lock().unwrap().get(id).cloned() else {
        return full(StatusCode::BAD_REQUEST, format!("unknown invocation {id}"));
    };
    let _ = parts.send(Part::Head { error: kind == "error", headers: request.headers().clone() });
    let mut body = request.into_body();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        let part = match frame.into_data() {
            Ok(data) => Part::Data(data),
            Err(frame) => match frame.into_trailers() {
                Ok(trailers) => Part::Trailers(trailers),
                Err(_) => continue,
            },
        };
        let _ = parts.send(part);
    }
    let _ = parts.send(Part::End);
    full(StatusCode::ACCEPTED, "")
}

/// What the function answers to one invocation, read as it arrives.
pub(crate) struct Answer {
    received: mpsc::UnboundedReceiver<Part>,
    head: Option<(bool, HeaderMap)>,
    bytes: Vec<u8>,
    trailers: Option<HeaderMap>,
    /// When the function finished posting the answer.
    pub ended: Option<Instant>,
}

impl Answer {
    /// Takes the next part, failing the test if none comes by `deadline`. False once ended.
    async fn next_part(&mut self, deadline: Instant, waiting_for: &str) -> bool {
        if self.ended.is_some() {
            return false;
        }
        let part = tokio::time::timeout_at(deadline.into(), self.received.recv()).await;
        match part {
            Ok(Some(Part::Head { error, headers })) => self.head = Some((error, headers)),
            Ok(Some(Part::Data(data))) => self.bytes.extend_from_slice(&data),
            Ok(Some(Part::Trailers(trailers))) => self.trailers = Some(trailers),
            Ok(Some(Part::End)) => self.ended = Some(Instant::now()),
            Ok(None) => panic!("the stand-in Runtime API stopped"),
            Err(_) => panic!("no {waiting_for} within the time allowed; so far: {}", self.so_far()),
        }
        true
    }

    /// Reads until the body holds `text`, failing the test if it takes longer than `within`.
    pub(crate) async fn read_until(&mut self, text: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        while !self.body().contains(text) {
            assert!(self.next_part(deadline, text).await, "the answer ended without {text}: {}", self.so_far());
        }
        self.body()
    }

    /// Reads until the function has posted the whole answer.
    pub(crate) async fn read_to_end(&mut self, within: Duration) -> String {
        let deadline = Instant::now() + within;
        while self.next_part(deadline, "end of the answer").await {}
        self.body()
    }

    /// Whether the function posts its answer as a stream (`RESPONSE_STREAM`), not whole.
    pub(crate) fn streamed(&self) -> bool {
        let (error, headers) = self.head.as_ref().expect("the answer has begun");
        assert!(!error, "the function reported an error: {}", self.so_far());
        headers.get("lambda-runtime-function-response-mode").is_some_and(|mode| mode == "streaming")
    }

    /// Where a streamed answer's prelude ends, once it has arrived.
    fn prelude_end(&self) -> Option<usize> {
        self.bytes.windows(PRELUDE_END.len()).position(|window| window == PRELUDE_END)
    }

    /// A streamed answer's prelude (`statusCode`, `headers`), or a buffered answer's JSON.
    pub(crate) fn prelude(&self) -> Value {
        let raw = match self.prelude_end() {
            Some(end) if self.streamed() => &self.bytes[..end],
            _ => &self.bytes[..],
        };
        serde_json::from_slice(raw).unwrap_or_else(|e| panic!("no JSON prelude ({e}): {}", self.so_far()))
    }

    /// The HTTP body so far: what follows a streamed answer's prelude, or a buffered answer's
    /// `body` once it has all arrived.
    pub(crate) fn body(&self) -> String {
        if self.head.is_none() {
            return String::new();
        }
        match self.prelude_end() {
            Some(end) if self.streamed() => {
                String::from_utf8_lossy(&self.bytes[end + PRELUDE_END.len()..]).into_owned()
            }
            _ if !self.streamed() && self.ended.is_some() => {
                self.prelude()["body"].as_str().unwrap_or_default().to_owned()
            }
            _ => String::new(),
        }
    }

    /// The error a streamed answer reported in its trailers, if any.
    pub(crate) fn error_trailer(&self) -> Option<String> {
        let trailers = self.trailers.as_ref()?;
        trailers.get("lambda-runtime-function-error-type").map(|t| t.to_str().unwrap_or("?").to_owned())
    }

    fn so_far(&self) -> String {
        format!("head {:?}, {} bytes: {}", self.head, self.bytes.len(), String::from_utf8_lossy(&self.bytes))
    }
}

/// Bedrock's CountTokens (any prompt counts [`GatedBedrock::INPUT_TOKENS`]) and
/// ConverseStream, whose answer is `Hello`, then — once the gate opens — ` world` and the end.
pub(crate) struct GatedBedrock {
    pub addr: SocketAddr,
    gate: Arc<Notify>,
}

impl GatedBedrock {
    pub(crate) const INPUT_TOKENS: u64 = 12;
    pub(crate) const OUTPUT_TOKENS: u64 = 2;

    pub(crate) async fn start() -> Self {
        let gate = Arc::new(Notify::new());
        let addr = serve({
            let gate = gate.clone();
            move |request| bedrock(request, gate.clone())
        })
        .await;
        Self { addr, gate }
    }

    /// Lets the held stream finish.
    pub(crate) fn open_gate(&self) {
        self.gate.notify_one();
    }
}

async fn bedrock(request: Request<Incoming>, gate: Arc<Notify>) -> Response<Body> {
    let path = request.uri().path().to_owned();
    if path.ends_with("/count-tokens") {
        return full(StatusCode::OK, json!({ "inputTokens": GatedBedrock::INPUT_TOKENS }).to_string());
    }
    if !path.ends_with("/converse-stream") {
        return full(StatusCode::NOT_FOUND, format!("the stand-in Bedrock has no {path}"));
    }
    let (frames, held) = mpsc::channel::<Bytes>(8);
    tokio::spawn(async move {
        let _ = frames.send(frame("messageStart", json!({ "role": "assistant" }))).await;
        let _ = frames.send(delta("Hello")).await;
        gate.notified().await;
        for last in [
            delta(" world"),
            frame("contentBlockStop", json!({ "contentBlockIndex": 0 })),
            frame("messageStop", json!({ "stopReason": "end_turn" })),
            frame(
                "metadata",
                json!({
                    "usage": {
                        "inputTokens": GatedBedrock::INPUT_TOKENS,
                        "outputTokens": GatedBedrock::OUTPUT_TOKENS,
                        "totalTokens": GatedBedrock::INPUT_TOKENS + GatedBedrock::OUTPUT_TOKENS,
                    },
                    "metrics": { "latencyMs": 5 }
                }),
            ),
        ] {
            let _ = frames.send(last).await;
        }
    });
    let body = futures::stream::unfold(held, |mut held| async move {
        held.recv().await.map(|bytes| (Ok::<_, Infallible>(Frame::data(bytes)), held))
    });
    let mut response = Response::new(StreamBody::new(body.boxed()).boxed_unsync());
    response.headers_mut().insert("content-type", "application/vnd.amazon.eventstream".parse().unwrap());
    response
}

fn delta(text: &str) -> Bytes {
    frame("contentBlockDelta", json!({ "contentBlockIndex": 0, "delta": { "text": text } }))
}

/// One event-stream frame, as Bedrock encodes it.
fn frame(kind: &str, payload: Value) -> Bytes {
    let message = Message::new(payload.to_string())
        .add_header(Header::new(":event-type", HeaderValue::String(kind.to_owned().into())))
        .add_header(Header::new(":content-type", HeaderValue::String("application/json".into())))
        .add_header(Header::new(":message-type", HeaderValue::String("event".into())));
    let mut bytes = Vec::new();
    write_message_to(&message, &mut bytes).expect("encode a frame");
    bytes.into()
}
