//! A failed model call is not a used request: it leaves every counter (the account's and every
//! period's, every metric) as it was. A stream its client closes mid-answer releases its hold
//! on every counter, and charges nothing.

use std::{sync::Arc, time::Duration};

use reqwest::Method;
use serde_json::{Value, json};
use tokenmeter_client::types::PeriodName as P;
use wiremock::{
    Mock, ResponseTemplate,
    matchers::{body_string_contains, path_regex},
};

use super::{nothing_held, quotas, tokens};
use crate::{
    fake_bedrock::{FakeBedrock, provider_at},
    helpers::{ADMIN_KEY, TestApp, eventually},
    invoke::stream,
    lambda_runtime::GatedBedrock,
    sse::SseReader,
};

/// Every counter of `user` as the API shows it: each rule's state, and the account's figures.
async fn counters(app: &TestApp, user: &str) -> Value {
    let account = app.client.get_user(user).await.unwrap().into_inner();
    json!({
        "quotas": serde_json::to_value(quotas(app, user).await).unwrap(),
        "account": [account.token_usage, account.request_count, account.held_tokens],
        "cost": account.total_cost,
    })
}

/// The user `tiered`: on the `free` tier (requests, tokens and cost per day and per month) with
/// a Sonnet token rule of its own.
async fn tiered_user(app: &TestApp) {
    let request = tokenmeter_client::types::CreateUserRequest {
        tier: Some("free".into()),
        ..crate::helpers::new_user("tiered", 100_000)
    };
    app.client.create_user(None, &request).await.expect("create");
    let rules = tokenmeter_client::types::RulesBody { quotas: vec![tokens(P::Day, 50_000, Some("sonnet"))] };
    app.client.set_user_quotas("tiered", &rules).await.expect("own rules");
}

fn bedrock_error(status: u16, kind: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("x-amzn-ErrorType", format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"))
        .set_body_json(json!({ "message": format!("{kind} from the stand-in") }))
}

/// Answers a Converse or ConverseStream request whose prompt contains `marker` with `answer`.
async fn on(fake: &FakeBedrock, operation: &str, marker: &str, answer: ResponseTemplate) {
    Mock::given(path_regex(format!("^/model/[^/]+/{operation}$")))
        .and(body_string_contains(marker))
        .respond_with(answer)
        .mount(&fake.server)
        .await;
}

#[tokio::test]
async fn a_failed_model_call_leaves_every_counter_as_it_was() {
    let fake = FakeBedrock::start().await;
    fake.count_tokens(5).await;
    let answered = json!({
        "output": { "message": { "role": "assistant", "content": [{ "text": "fine" }] } },
        "stopReason": "end_turn",
        "usage": { "inputTokens": 5, "outputTokens": 30, "totalTokens": 35 },
    });
    on(&fake, "converse", "answer me", ResponseTemplate::new(200).set_body_json(answered.clone())).await;
    on(&fake, "converse", "throttle me", bedrock_error(429, "ThrottlingException")).await;
    on(&fake, "converse", "break down", bedrock_error(500, "InternalServerException")).await;
    on(&fake, "converse", "reject me", bedrock_error(400, "ValidationException")).await;
    on(&fake, "converse", "take forever", ResponseTemplate::new(200).set_delay(Duration::from_secs(3))).await;
    let midway = fake.stream_failing_midway(&["half an ", "answer"], "modelStreamErrorException");
    on(&fake, "converse-stream", "fail midway", midway).await;
    on(&fake, "converse-stream", "be unavailable", bedrock_error(503, "ServiceUnavailableException")).await;
    let provider = Arc::new(fake.provider(Duration::from_millis(800)).await);
    let app = TestApp::builder().provider(provider).spawn().await;
    tiered_user(&app).await;
    // One call that succeeds, so that every counter holds something.
    let (status, _) = app.send_raw(Method::POST, "/invoke/tiered", Some(r#"{"prompt": "answer me"}"#)).await;
    assert_eq!(status, 200);
    let before = counters(&app, "tiered").await;
    assert_eq!(before["account"], json!([35, 1, 0]), "{before}");

    let one_shot = [
        ("throttle me", 429, "model_throttled"),
        ("break down", 503, "model_unavailable"),
        ("reject me", 400, "model_rejected_request"),
        ("take forever", 504, "model_timeout"),
    ];
    for (prompt, status, code) in one_shot {
        let body = json!({ "prompt": prompt }).to_string();
        let (got, error) = app.send_raw(Method::POST, "/invoke/tiered", Some(&body)).await;
        assert_eq!((got, error["error"].as_str()), (status, Some(code)), "{error}");
        assert_eq!(counters(&app, "tiered").await, before, "after a call that failed with {code}");
    }
    let (got, events) = stream(&app, "tiered", json!({ "prompt": "fail midway" })).await;
    let last = events.last().expect("events");
    assert_eq!((got, last.0.as_str(), last.1["error"].as_str()), (200, "error", Some("model_error")), "{events:?}");
    assert_eq!(counters(&app, "tiered").await, before, "after a stream that failed midway");
    let (got, events) = stream(&app, "tiered", json!({ "prompt": "be unavailable" })).await;
    assert_eq!((got, events[0].1["error"].as_str()), (503, Some("model_unavailable")), "{events:?}");
    assert_eq!(counters(&app, "tiered").await, before, "after a stream that could not start");
    nothing_held(&app, "tiered").await;
}

#[tokio::test]
async fn a_stream_its_client_closes_mid_answer_releases_every_counter() {
    // The model sends its first words, then holds the rest back (the gate is never opened).
    let model = GatedBedrock::start().await;
    let provider = Arc::new(provider_at(&format!("http://{}", model.addr), Duration::from_secs(60)));
    let app = TestApp::builder().provider(provider).spawn().await;
    tiered_user(&app).await;
    app.client.record_usage("tiered", None, &crate::helpers::usage(500)).await.unwrap();
    let before = counters(&app, "tiered").await;

    let answer = app
        .http
        .post(app.url("/invoke/tiered/stream"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({ "prompt": "Say hello" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let mut events = SseReader::of_response(answer);
    let first = events.next_event(Duration::from_secs(10)).await.expect("the first delta");
    assert_eq!((first.kind.as_str(), first.json()["text"].as_str()), ("delta", Some("Hello")));
    // Mid-answer, the call holds a request, tokens and cost on every rule that applies.
    let held = quotas(&app, "tiered").await;
    assert!(held.iter().all(|state| state.reserved > 0.0), "{held:#?}");

    drop(events); // the client closes the connection
    eventually("the stream's holds are released", Duration::from_secs(5), || async {
        quotas(&app, "tiered").await.iter().all(|state| state.reserved == 0.0)
    })
    .await;
    assert_eq!(counters(&app, "tiered").await, before, "a cancelled stream charges nothing");
    nothing_held(&app, "tiered").await;
}
