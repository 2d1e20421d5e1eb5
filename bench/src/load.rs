//! The load generator: HTTP/1.1 keep-alive connections (hyper), an open loop at a fixed rate
//! whose latencies count from each request's scheduled time, and a closed loop of a fixed
//! number of connections that each send their next request as soon as the last one answered.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, Uri, header::HeaderValue};
use hyper_util::{
    client::legacy::{Client as HyperClient, connect::HttpConnector},
    rt::{TokioExecutor, TokioTimer},
};
use serde_json::Value;
use tokio::{sync::Semaphore, task::JoinSet};

use crate::{schedule::Schedule, stats::Latencies};

/// Requests of an open loop that may wait for an answer at once; more queue (and their wait
/// counts, since latency runs from the scheduled time).
const MAX_IN_FLIGHT: usize = 4096;

pub(crate) type Client = HyperClient<HttpConnector, Full<Bytes>>;

/// A pooled keep-alive client with Nagle off, as every serious HTTP client has.
pub(crate) fn client() -> Client {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    HyperClient::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(MAX_IN_FLIGHT)
        .build(connector)
}

/// One request, ready to be sent any number of times.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    method: Method,
    uri: Uri,
    key: Option<HeaderValue>,
    body: Bytes,
}

impl Call {
    /// A POST of `body` as JSON to `base` + `path`, with `key` as a bearer token.
    pub(crate) fn post(base: &str, path: &str, key: Option<&str>, body: &Value) -> anyhow::Result<Self> {
        Ok(Self {
            method: Method::POST,
            uri: format!("{base}{path}").parse()?,
            key: key.map(|k| HeaderValue::from_str(&format!("Bearer {k}"))).transpose()?,
            body: Bytes::from(body.to_string()),
        })
    }

    pub(crate) fn get(base: &str, path: &str, key: Option<&str>) -> anyhow::Result<Self> {
        Ok(Self { method: Method::GET, body: Bytes::new(), ..Self::post(base, path, key, &Value::Null)? })
    }

    pub(crate) fn put(base: &str, path: &str, key: Option<&str>, body: &Value) -> anyhow::Result<Self> {
        Ok(Self { method: Method::PUT, ..Self::post(base, path, key, body)? })
    }

    fn request(&self) -> Request<Full<Bytes>> {
        let mut request = Request::builder().method(self.method.clone()).uri(self.uri.clone());
        if !self.body.is_empty() {
            request = request.header("content-type", "application/json");
        }
        if let Some(key) = &self.key {
            request = request.header("authorization", key.clone());
        }
        request.body(Full::new(self.body.clone())).expect("a valid request")
    }

    /// Sends once and answers the status and the body as JSON (`null` when it is not JSON).
    pub(crate) async fn json(&self, client: &Client) -> anyhow::Result<(StatusCode, Value)> {
        let response = client.request(self.request()).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
    }

    /// Sends the request and reads the answer as text; fails unless it is 2xx.
    pub(crate) async fn text(&self, client: &Client) -> anyhow::Result<String> {
        let response = client.request(self.request()).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        anyhow::ensure!(status.is_success(), "{} {} answered {status}", self.method, self.uri);
        Ok(String::from_utf8_lossy(&body).into_owned())
    }
}

/// What one target is sent, and how its answers are judged.
#[derive(Debug, Clone)]
pub(crate) struct Load {
    /// Request `i` is `calls[i % calls.len()]` (e.g. one per user, round robin).
    pub calls: Arc<Vec<Call>>,
    /// A successful answer's body contains this (e.g. the final event of a stream).
    pub expect: &'static str,
}

impl Load {
    pub(crate) fn new(calls: Vec<Call>, expect: &'static str) -> Self {
        assert!(!calls.is_empty(), "a load needs at least one request");
        Self { calls: Arc::new(calls), expect }
    }

    fn call(&self, i: u64) -> &Call {
        &self.calls[(i % self.calls.len() as u64) as usize]
    }
}

/// When one request's answer began and ended, or why it failed.
type Sent = Result<(Instant, Instant), String>;

/// Sends `call`; a success is a 2xx whose whole body contains `expect`.
async fn send(client: &Client, call: &Call, expect: &str) -> Sent {
    let response = client
        .request(call.request())
        .await
        .map_err(|e| if e.is_connect() { "connection refused".to_owned() } else { "connection failed".to_owned() })?;
    let status = response.status();
    let mut body = response.into_body();
    let mut first_byte = None;
    let mut whole = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| "answer cut off".to_owned())?;
        if let Some(data) = frame.data_ref().filter(|d| !d.is_empty()) {
            first_byte.get_or_insert_with(Instant::now);
            whole.extend_from_slice(data);
        }
    }
    let done = Instant::now();
    if !status.is_success() {
        return Err(format!("HTTP {}", status.as_u16()));
    }
    if !expect.is_empty() && !whole.windows(expect.len()).any(|w| w == expect.as_bytes()) {
        return Err("incomplete answer".to_owned());
    }
    Ok((first_byte.unwrap_or(done), done))
}

/// What a phase measured.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outcome {
    /// From scheduled time (open loop) or send (closed loop) to the last byte of each answer.
    pub latencies: Latencies,
    /// The same to the first byte of each answer's body.
    pub first_byte: Latencies,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    /// From the start to the last answer (or the planned duration, if longer).
    pub elapsed: Duration,
    /// From the first successful answer to the last.
    pub answering: Duration,
}

impl Outcome {
    /// Successful answers per second: the rate at which answers arrived, from the first to the
    /// last (at a rate the target keeps up with, the offered rate exactly, whatever its latency).
    pub(crate) fn achieved(&self) -> f64 {
        if self.ok < 2 || self.answering.is_zero() {
            return self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9);
        }
        (self.ok - 1) as f64 / self.answering.as_secs_f64()
    }

    pub(crate) fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// `0`, or e.g. `12 (timeout 10, HTTP 429 2)`.
    pub(crate) fn errors_text(&self) -> String {
        if self.errors.is_empty() {
            return "0".to_owned();
        }
        let kinds: Vec<String> = self.errors.iter().map(|(kind, n)| format!("{kind} {n}")).collect();
        format!("{} ({})", crate::stats::thousands(self.error_count()), kinds.join(", "))
    }

    fn collect(results: Vec<(Instant, Sent)>, started: Instant, planned: Duration) -> Self {
        let (mut total, mut first, mut errors, mut ok) = (Vec::new(), Vec::new(), BTreeMap::new(), 0);
        let mut last = started + planned;
        let (mut first_done, mut last_done): (Option<Instant>, Option<Instant>) = (None, None);
        for (from, sent) in results {
            match sent {
                Ok((first_byte, done)) => {
                    ok += 1;
                    last = last.max(done);
                    first_done = Some(first_done.map_or(done, |f| f.min(done)));
                    last_done = Some(last_done.map_or(done, |l| l.max(done)));
                    total.push((done - from).as_micros() as u64);
                    first.push((first_byte - from).as_micros() as u64);
                }
                Err(kind) => *errors.entry(kind).or_insert(0) += 1,
            }
        }
        let elapsed = last - started;
        let answering = first_done.zip(last_done).map_or(Duration::ZERO, |(first, last)| last - first);
        Self { latencies: Latencies::new(total), first_byte: Latencies::new(first), ok, errors, elapsed, answering }
    }
}

/// `rate` requests a second for `duration`, each timed from when it was due; each may take up
/// to `timeout` from then. Waits for every answer before returning.
pub(crate) async fn open_loop(
    client: &Client,
    load: &Load,
    rate: u32,
    duration: Duration,
    timeout: Duration,
) -> Outcome {
    open_loop_with_slots(client, load, rate, duration, timeout, MAX_IN_FLIGHT).await
}

/// [`open_loop`] with at most `slots` requests in flight.
async fn open_loop_with_slots(
    client: &Client,
    load: &Load,
    rate: u32,
    duration: Duration,
    timeout: Duration,
    slots: usize,
) -> Outcome {
    let schedule = Schedule::new(rate, duration);
    let in_flight = Arc::new(Semaphore::new(slots));
    let mut tasks = JoinSet::new();
    let started = Instant::now() + Duration::from_millis(2);
    for i in 0..schedule.count() {
        let due = started + schedule.due(i);
        tokio::time::sleep_until(due.into()).await;
        let (client, call, expect, in_flight) = (client.clone(), load.call(i).clone(), load.expect, in_flight.clone());
        tasks.spawn(async move {
            let sent = tokio::time::timeout_at((due + timeout).into(), async {
                let _slot = in_flight.acquire_owned().await.expect("the semaphore is never closed");
                send(&client, &call, expect).await
            })
            .await
            .unwrap_or_else(|_| Err("timeout".to_owned()));
            (due, sent)
        });
    }
    Outcome::collect(tasks.join_all().await, started, duration)
}

/// `connections` clients, each sending its next request as soon as the last one answered, for
/// `duration`; latencies count from each send.
pub(crate) async fn closed_loop(
    client: &Client,
    load: &Load,
    connections: usize,
    duration: Duration,
    timeout: Duration,
) -> Outcome {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = JoinSet::new();
    for worker in 0..connections {
        let (client, load) = (client.clone(), load.clone());
        tasks.spawn(async move {
            let mut results = Vec::new();
            let mut i = worker as u64;
            while Instant::now() < deadline {
                let from = Instant::now();
                let sent = tokio::time::timeout(timeout, send(&client, load.call(i), load.expect))
                    .await
                    .unwrap_or_else(|_| Err("timeout".to_owned()));
                results.push((from, sent));
                i += connections as u64;
            }
            results
        });
    }
    let results = tasks.join_all().await.into_iter().flatten().collect();
    Outcome::collect(results, started, duration)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tokio::net::TcpListener;

    use super::*;
    use crate::standin::{self, Settings};

    /// A stand-in in this process answering Converse after `latency`; its base URL.
    async fn stand_in(latency: Duration) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let base = format!("http://{}", listener.local_addr().expect("bound"));
        let settings = Settings { latency, output_tokens: 4, stream_gap: Duration::ZERO };
        tokio::spawn(standin::serve(listener, settings));
        base
    }

    fn converse(base: &str) -> Load {
        let body = json!({ "messages": [{ "role": "user", "content": [{ "text": "hi" }] }] });
        let call = Call::post(base, "/model/m%3A0/converse", None, &body).expect("a call");
        Load::new(vec![call], "stopReason")
    }

    #[tokio::test]
    async fn waiting_to_be_sent_counts_from_the_scheduled_time() {
        // One request in flight at a time, each taking 20 ms, due every 10 ms: the requests
        // queue in the generator, and each is charged from when it was due, so the last of 30
        // (due at 290 ms, sent after 29 others that took 20 ms each, at 580 ms or later) shows
        // about 300 ms. Timed from sending instead, every request would show about 20 ms.
        let load = converse(&stand_in(Duration::from_millis(20)).await);
        let client = client();
        let run = Duration::from_millis(300);
        let outcome = open_loop_with_slots(&client, &load, 100, run, Duration::from_secs(30), 1).await;
        assert_eq!((outcome.ok, outcome.error_count()), (30, 0), "{:?}", outcome.errors);
        let summary = outcome.latencies.summary().expect("samples");
        assert!(summary.max >= Duration::from_millis(270), "{summary:?}");
        assert!(summary.p50 >= Duration::from_millis(130), "{summary:?}");
        assert!(outcome.elapsed >= Duration::from_millis(600), "{:?}", outcome.elapsed);
        // One slot of 20 ms answers: at most 50 answers a second, though 100 were asked for.
        assert!(outcome.achieved() <= 51.0, "{}", outcome.achieved());
    }

    #[test]
    fn the_achieved_rate_is_how_fast_answers_came() {
        let at = Instant::now();
        let answered = |due_ms: u64, latency_ms: u64| {
            let due = at + Duration::from_millis(due_ms);
            (due, Ok((due, due + Duration::from_millis(latency_ms))))
        };
        // 101 answers due 10 ms apart (100/s), each after 50 ms: 100/s, the tail of latency aside.
        let results = (0..=100).map(|i| answered(i * 10, 50)).collect();
        let outcome = Outcome::collect(results, at, Duration::from_secs(1));
        assert!((outcome.achieved() - 100.0).abs() < 1e-6, "{}", outcome.achieved());
        assert_eq!(outcome.elapsed, Duration::from_millis(1050));
    }

    #[tokio::test]
    async fn a_closed_loop_sends_only_when_answered() {
        // 4 connections against 20 ms answers for 200 ms: at most 4 × (200 / 20 + 1) answers.
        let load = converse(&stand_in(Duration::from_millis(20)).await);
        let outcome = closed_loop(&client(), &load, 4, Duration::from_millis(200), Duration::from_secs(30)).await;
        assert!((4..=44).contains(&outcome.ok), "{} answers", outcome.ok);
        let summary = outcome.latencies.summary().expect("samples");
        assert!(summary.p50 >= Duration::from_millis(20), "{summary:?}");
    }

    #[tokio::test]
    async fn failures_are_counted_by_kind() {
        let base = stand_in(Duration::ZERO).await;
        let client = client();
        let not_found = Load::new(vec![Call::post(&base, "/nowhere", None, &json!({})).expect("a call")], "");
        let wrong_answer = Load::new(converse(&base).calls.to_vec(), "a marker no answer has");
        let closed_port = format!("http://127.0.0.1:{}", crate::process::free_port().expect("a port"));
        let refused = Load::new(vec![Call::post(&closed_port, "/", None, &json!({})).expect("a call")], "");
        let timeout = Duration::from_secs(10);
        for (load, kind) in
            [(not_found, "HTTP 404"), (wrong_answer, "incomplete answer"), (refused, "connection refused")]
        {
            let outcome = open_loop(&client, &load, 100, Duration::from_millis(50), timeout).await;
            assert_eq!(outcome.ok, 0);
            assert_eq!(outcome.errors.get(kind), Some(&5), "{:?}", outcome.errors);
        }
    }

    #[tokio::test]
    async fn the_stand_in_counts_what_it_is_asked() {
        let base = stand_in(Duration::ZERO).await;
        let client = client();
        let count =
            json!({ "input": { "converse": { "messages": [{ "role": "user", "content": [{ "text": "12345" }] }] } } });
        let (status, counted) = Call::post(&base, "/model/anthropic.claude%3A0/count-tokens", None, &count)
            .expect("a call")
            .json(&client)
            .await
            .expect("an answer");
        assert_eq!((status, counted["inputTokens"].as_u64()), (StatusCode::OK, Some(5)));
        let (status, reply) = converse(&base).calls[0].json(&client).await.expect("an answer");
        assert_eq!(status, StatusCode::OK);
        assert_eq!(reply["usage"]["outputTokens"], 4);
        let (_, stats) = Call::get(&base, "/_bench/stats", None).expect("a call").json(&client).await.expect("stats");
        assert_eq!((stats["countTokens"].as_u64(), stats["converse"].as_u64()), (Some(1), Some(1)));
        assert_eq!(stats["inFlight"].as_u64(), Some(0));
    }
}
