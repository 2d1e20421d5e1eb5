//! Faults under load: the service killed and restarted mid-load (its store stopped and
//! restarted: see `dynamodb`), and a model failing in every way it can. Every answer is an
//! honest status; acknowledged work counts exactly once (503s and dropped requests are sent
//! again with their `Idempotency-Key`); a failed call charges nothing and leaves no hold.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use futures::future::join_all;
use serde_json::json;
use wiremock::{Mock, Request, Respond, ResponseTemplate, matchers::path};

use crate::{
    binary::start_on,
    fake_bedrock::{CONVERSE_PATH, FakeBedrock, STREAM_PATH},
    helpers::{ADMIN_KEY, TestApp, binary_store_env, eventually},
};

pub(crate) const CLIENTS: usize = 64;
pub(crate) const RECORDS_EACH: usize = 12;
pub(crate) const TOKENS: u64 = 3;

/// What one logical record met before it was acknowledged: statuses, and `0` for a request
/// that got no answer (the process was gone).
pub(crate) type Attempts = Vec<u16>;

/// Sends one record until it is acknowledged, sending it again with the same key after a 503
/// or a dropped request.
async fn record_until_acknowledged(http: &reqwest::Client, base: &str, user: &str, key: String) -> Attempts {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut attempts = Vec::new();
    loop {
        let sent = http
            .post(format!("{base}/users/{user}/usage"))
            .bearer_auth(ADMIN_KEY)
            .header("idempotency-key", &key)
            .json(&json!({ "tokensConsumed": TOKENS }))
            .timeout(Duration::from_secs(20))
            .send()
            .await;
        let status = sent.map_or(0, |answer| answer.status().as_u16());
        attempts.push(status);
        match status {
            200 => return attempts,
            0 | 409 | 503 => {}
            other => panic!("a record was answered {other}"),
        }
        assert!(Instant::now() < deadline, "a record was never acknowledged: {attempts:?}");
        // Pacing between attempts, as a client backs off; the loop ends on the answer.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `CLIENTS` clients each sending `RECORDS_EACH` records to `user` at `base`, each until it is
/// acknowledged. Answers every record's attempts.
pub(crate) async fn load(base: String, user: &'static str) -> Vec<Attempts> {
    let http = reqwest::Client::new();
    let clients = (0..CLIENTS).map(|client| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let mut all = Vec::new();
            for record in 0..RECORDS_EACH {
                let key = format!("load-{client}-{record}");
                all.push(record_until_acknowledged(&http, &base, user, key).await);
            }
            all
        }
    });
    join_all(clients).await.into_iter().flatten().collect()
}

/// How many requests got no 200 (the fault was met under load).
pub(crate) fn refused_or_dropped(attempts: &[Attempts]) -> usize {
    attempts.iter().flatten().filter(|status| **status != 200).count()
}

async fn usage_at(base: &str, user: &str) -> Option<u64> {
    let answer = reqwest::Client::new().get(format!("{base}/users/{user}")).bearer_auth(ADMIN_KEY).send().await.ok()?;
    let user: serde_json::Value = answer.json().await.ok()?;
    user["tokenUsage"].as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_service_killed_and_restarted_under_load_counts_every_acknowledged_record_once() {
    let data = tempfile::tempdir().unwrap();
    let mut env = binary_store_env(data.path()).await;
    env.push(("TOKENMETER_ADMIN_KEY", ADMIN_KEY.to_owned()));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let service = start_on(&listen, &env);
    let base = service.url.clone();
    let created = reqwest::Client::new()
        .post(format!("{base}/users"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({ "userId": "loaded", "tokenLimit": 1_000_000 }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    let load = tokio::spawn(load(base.clone(), "loaded"));
    eventually("the load is under way", Duration::from_secs(30), || async {
        usage_at(&base, "loaded").await.is_some_and(|usage| usage >= 100 * TOKENS)
    })
    .await;
    service.kill(); // SIGKILL, mid-load
    let _restarted = start_on(&listen, &env);
    let attempts = load.await.expect("the load ran");

    let total = (CLIENTS * RECORDS_EACH) as u64 * TOKENS;
    assert_eq!(usage_at(&base, "loaded").await, Some(total), "every record counted exactly once");
    assert!(refused_or_dropped(&attempts) > 0, "the kill met requests in flight");
}

/// Answers each request with the next response of a cycle.
struct Cycle {
    next: AtomicUsize,
    answers: Vec<ResponseTemplate>,
}

impl Respond for Cycle {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.answers[self.next.fetch_add(1, Ordering::Relaxed) % self.answers.len()].clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_model_failing_every_way_charges_only_the_calls_it_answered() {
    let fake = FakeBedrock::start().await;
    fake.count_tokens(5).await;
    let failure = |status: u16, kind: &str| {
        ResponseTemplate::new(status)
            .insert_header("x-amzn-ErrorType", format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"))
            .set_body_json(json!({ "message": format!("{kind} from the fake") }))
    };
    let answered = |output: u64| {
        ResponseTemplate::new(200).set_body_json(json!({
            "output": { "message": { "role": "assistant", "content": [{ "text": "fine" }] } },
            "stopReason": "end_turn",
            "usage": { "inputTokens": 5, "outputTokens": output, "totalTokens": 5 + output },
        }))
    };
    let converse = Cycle {
        next: AtomicUsize::new(0),
        answers: vec![
            failure(429, "ThrottlingException"),
            answered(11),
            failure(500, "InternalServerException"),
            failure(503, "ServiceUnavailableException"),
            answered(13),
            answered(17).set_delay(Duration::from_secs(3)), // past the call's timeout
            failure(400, "ValidationException"),
        ],
    };
    Mock::given(path(CONVERSE_PATH)).respond_with(converse).mount(&fake.server).await;
    let streams = Cycle {
        next: AtomicUsize::new(0),
        answers: vec![
            fake.stream_answer(&["a", "b"], 5, 7),
            fake.stream_failing_midway(&["a", "b"], "modelStreamErrorException"),
            failure(429, "ThrottlingException"),
            fake.stream_failing_midway(&["c"], "internalServerException"),
        ],
    };
    Mock::given(path(STREAM_PATH)).respond_with(streams).mount(&fake.server).await;
    let provider = Arc::new(fake.provider(Duration::from_secs(1)).await);
    let app = &TestApp::builder().provider(provider).spawn().await;
    app.create_user("unlucky", 1_000_000).await;

    let calls = (0..48).map(|i| async move {
        let body = json!({ "prompt": format!("call {i}") });
        let path = if i % 3 == 0 { "/invoke/unlucky/stream" } else { "/invoke/unlucky" };
        let answer = app.http.post(app.url(path)).bearer_auth(ADMIN_KEY).json(&body).send().await.unwrap();
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap();
        (status, charged_by(path, status, &text))
    });
    let outcomes = join_all(calls).await;
    for (status, _) in &outcomes {
        assert!(matches!(status, 200 | 400 | 429 | 502 | 503 | 504), "an honest status, not {status}");
    }
    let charged: u64 = outcomes.iter().map(|(_, charged)| charged).sum();
    let succeeded = outcomes.iter().filter(|(_, charged)| *charged > 0).count();
    assert!(succeeded > 0 && succeeded < outcomes.len(), "a mix of answers and failures");
    let user = app.client.get_user("unlucky").await.unwrap().into_inner();
    assert_eq!(user.token_usage, charged, "only answered calls are charged, each exactly");
    assert_eq!(app.reserved("unlucky").await, 0, "no hold is left");
}

/// What an answer says was charged: a call's `tokensConsumed`, a stream's final `done` event's.
fn charged_by(path: &str, status: u16, text: &str) -> u64 {
    if status != 200 {
        return 0;
    }
    if !path.ends_with("/stream") {
        let answer: serde_json::Value = serde_json::from_str(text).expect("a JSON answer");
        return answer["tokensConsumed"].as_u64().expect("tokensConsumed");
    }
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line == "event: done" {
            let data = lines.next().and_then(|l| l.strip_prefix("data:")).expect("the done event's data");
            let done: serde_json::Value = serde_json::from_str(data.trim()).expect("JSON");
            return done["tokensConsumed"].as_u64().expect("tokensConsumed");
        }
    }
    0 // the stream ended with an error event
}
