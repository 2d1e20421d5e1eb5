//! `Idempotency-Key` on `POST /users`, `POST /users/{userId}/usage` and `POST /invoke/{userId}`:
//! a retry with the same key answers as the first request did and changes nothing; the same
//! key with another body is refused; concurrent requests with one key apply once. The
//! generated client sends a key on every such call and retries a 503 with it.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::future::join_all;
use poem::{Response, http::StatusCode};
use serde_json::{Value, json};
use tokenmeter_client::Client;

use crate::{
    fake_bedrock::FakeBedrock,
    helpers::{ADMIN_KEY, TestApp, ask, new_user, usage},
    invoke::on_bedrock,
    proxy::{Intercept, spawn_proxy},
};

/// Sends `body` to `path` with `key` and returns the status, the replay header and the JSON.
async fn send(app: &TestApp, path: &str, key: &str, body: &Value) -> (u16, Option<String>, Value) {
    let response =
        app.http.post(app.url(path)).bearer_auth(ADMIN_KEY).header("idempotency-key", key).json(body).send().await;
    let response = response.expect("send");
    let status = response.status().as_u16();
    let replayed = response.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap().to_owned());
    (status, replayed, response.json().await.expect("JSON"))
}

#[tokio::test]
async fn a_retried_create_answers_the_first_result_and_creates_once() {
    let app = TestApp::spawn().await;
    let body = json!({ "userId": "once", "tokenLimit": 100, "issueKey": true });
    let (status, replayed, first) = send(&app, "/users", "create-1", &body).await;
    assert_eq!((status, replayed), (201, None));
    let (status, replayed, again) = send(&app, "/users", "create-1", &body).await;
    assert_eq!((status, replayed.as_deref()), (201, Some("true")));
    // The same answer, but for the new key's secret: it is shown once and never stored.
    let mut without_secret = first.clone();
    without_secret.as_object_mut().unwrap().remove("apiKey");
    assert!(first["apiKey"]["apiKey"].is_string());
    assert_eq!(again, without_secret);
    assert_eq!(app.client.list_users().await.unwrap().into_inner().users.len(), 1);

    let other = json!({ "userId": "once", "tokenLimit": 999 });
    let (status, _, refused) = send(&app, "/users", "create-1", &other).await;
    assert_eq!((status, refused["error"].as_str()), (422, Some("idempotency_key_reused")));
    // Without the key, the duplicate is what it is: a conflict.
    let (status, _) = app.send_raw(reqwest::Method::POST, "/users", Some(&body.to_string())).await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn a_retried_usage_record_counts_once_and_another_body_is_refused() {
    let app = TestApp::spawn().await;
    app.create_user("counted", 1_000).await;
    let body = json!({ "tokensConsumed": 40 });
    for expected_replay in [None, Some("true"), Some("true")] {
        let (status, replayed, answer) = send(&app, "/users/counted/usage", "usage-1", &body).await;
        assert_eq!((status, replayed.as_deref()), (200, expected_replay));
        assert_eq!(answer["user"]["tokenUsage"], 40, "{answer}");
    }
    let (status, _, refused) = send(&app, "/users/counted/usage", "usage-1", &json!({ "tokensConsumed": 41 })).await;
    assert_eq!((status, refused["error"].as_str()), (422, Some("idempotency_key_reused")));
    // A key belongs to its user: the same key on another user is another request.
    app.create_user("other", 1_000).await;
    let (status, replayed, _) = send(&app, "/users/other/usage", "usage-1", &body).await;
    assert_eq!((status, replayed), (200, None));
    assert_eq!(app.client.get_user("counted").await.unwrap().into_inner().token_usage, 40);
    assert_eq!(app.client.get_user("other").await.unwrap().into_inner().token_usage, 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_with_one_key_apply_once() {
    let app = &TestApp::spawn().await;
    app.create_user("raced", 1_000_000).await;
    let body = json!({ "tokensConsumed": 7 });
    let answers = join_all((0..16).map(|_| send(app, "/users/raced/usage", "raced-1", &body))).await;
    let fresh = answers.iter().filter(|(status, replayed, _)| *status == 200 && replayed.is_none()).count();
    assert_eq!(fresh, 1, "exactly one applied");
    for (status, replayed, answer) in &answers {
        let in_progress = *status == 409 && answer["error"] == "idempotency_in_progress";
        assert!(*status == 200 || in_progress, "{status} {replayed:?} {answer}");
    }
    assert_eq!(app.client.get_user("raced").await.unwrap().into_inner().token_usage, 7);
}

#[tokio::test]
async fn a_retried_model_call_answers_the_first_answer_and_calls_the_model_once() {
    let fake = FakeBedrock::start().await;
    fake.count_tokens(5).await;
    fake.converse("the one answer", 5, 9).await;
    let app = on_bedrock(&fake, Duration::from_secs(5)).await;
    app.create_user("caller", 1_000).await;
    let body = json!({ "prompt": "say it once" });
    let (status, replayed, first) = send(&app, "/invoke/caller", "call-1", &body).await;
    assert_eq!((status, replayed, first["response"].as_str()), (200, None, Some("the one answer")));
    let (status, replayed, again) = send(&app, "/invoke/caller", "call-1", &body).await;
    assert_eq!((status, replayed.as_deref()), (200, Some("true")));
    for field in ["response", "tokensConsumed", "inputTokens", "outputTokens", "cost", "modelId"] {
        assert_eq!(again[field], first[field], "{field}");
    }
    let converse_calls = fake.bodies(crate::fake_bedrock::CONVERSE_PATH).await.len();
    assert_eq!(converse_calls, 1, "the model was called once");
    assert_eq!(app.client.get_user("caller").await.unwrap().into_inner().token_usage, 14);

    let (status, _, refused) = send(&app, "/invoke/caller", "call-1", &json!({ "prompt": "something else" })).await;
    assert_eq!((status, refused["error"].as_str()), (422, Some("idempotency_key_reused")));
}

#[tokio::test]
async fn a_retried_model_call_replays_even_after_the_budget_is_spent() {
    let app = TestApp::spawn().await;
    app.create_user("spender", 60).await;
    let body = json!({ "prompt": "remember me", "maxOutputTokens": 5 });
    let (status, _, first) = send(&app, "/invoke/spender", "spend-1", &body).await;
    assert_eq!(status, 200, "{first}");
    let left = first["remainingTokens"].as_u64().unwrap();
    app.record("spender", left).await;
    let (status, replayed, again) = send(&app, "/invoke/spender", "spend-1", &body).await;
    assert_eq!((status, replayed.as_deref()), (200, Some("true")), "{again}");
    assert_eq!(again["response"], first["response"]);
    let fresh = send(&app, "/invoke/spender", "spend-2", &body).await;
    assert_eq!((fresh.0, fresh.2["error"].as_str()), (429, Some("token_limit_exceeded")));
}

/// The generated client: a key on every create, record and call even when the caller sends
/// none, and a 503 sent again with the same key. A proxy answers the first attempt of each
/// request 503 and forwards the rest, noting the keys it saw.
#[tokio::test]
async fn the_generated_client_sends_a_key_and_retries_a_503_with_it() {
    let app = TestApp::spawn().await;
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let log = seen.clone();
    let url = spawn_proxy(app.url(""), move |req| {
        let key = req.headers().get("idempotency-key").map(|v| v.to_str().unwrap().to_owned());
        let mut log = log.lock().unwrap();
        log.push(key.clone());
        match log.iter().filter(|k| **k == key).count() {
            1 => {
                let unavailable = json!({ "error": "store_unavailable", "message": "try again" });
                let response = Response::builder().status(StatusCode::SERVICE_UNAVAILABLE);
                Intercept::Answer(response.body(unavailable.to_string()))
            }
            _ => Intercept::Forward,
        }
    })
    .await;

    let client = Client::with_api_key(&url, ADMIN_KEY).unwrap();
    client.create_user(None, &new_user("retried", 100)).await.expect("created on the retry");
    client.record_usage("retried", None, &usage(3)).await.expect("recorded on the retry");
    let called = client.invoke_model("retried", None, &ask("hi")).await.expect("called on the retry").into_inner();

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 6, "each request sent twice: {seen:?}");
    for pair in seen.chunks(2) {
        assert!(pair[0].is_some(), "the client made up a key");
        assert_eq!(pair[0], pair[1], "the retry carries the first attempt's key");
    }
    let user = app.client.get_user("retried").await.unwrap().into_inner();
    assert_eq!(user.token_usage, 3 + called.tokens_consumed, "the record and the echo call, each once");
}
