//! Model invocation: the seed shape, exact enforcement, streaming, cost, and every failure
//! mode charging nothing. Echo and Bedrock-over-wiremock, through the real HTTP API.

use std::{sync::Arc, time::Duration};

use futures::{StreamExt, future::join_all};
use reqwest::Method;
use serde_json::{Value, json};
use tokenmeter_client::types::InvokeRequest;

use crate::{
    fake_bedrock::{CONVERSE_PATH, COUNT_PATH, FakeBedrock},
    helpers::{ADMIN_KEY, TestApp, ask, error_of, eventually, usage},
    sse::SseReader,
};

pub(crate) async fn on_bedrock(fake: &FakeBedrock, timeout: Duration) -> TestApp {
    let provider = Arc::new(fake.provider(timeout).await);
    TestApp::builder().provider(provider).spawn().await
}

/// Sends a streaming call and returns the status and its `(event, data)` pairs.
pub(crate) async fn stream(app: &TestApp, user: &str, body: Value) -> (u16, Vec<(String, Value)>) {
    let response = app
        .http
        .post(app.url(&format!("/invoke/{user}/stream")))
        .bearer_auth(ADMIN_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    if status != 200 {
        return (status, vec![("http-error".into(), response.json().await.unwrap())]);
    }
    let events = SseReader::of_response(response).all(Duration::from_secs(10)).await;
    (status, events.into_iter().map(|e| (e.kind.clone(), e.json())).collect())
}

#[tokio::test]
async fn echo_answers_the_seed_shape_and_charges_exactly() {
    let app = TestApp::spawn().await;
    app.create_user("ann", 1000).await;
    let response = app.client.invoke_model("ann", None, &ask("hello there world")).await.unwrap();
    assert_eq!(response.headers()["x-tokens-remaining"], "992");
    let done = response.into_inner();
    assert_eq!(done.response, "echo: hello there world");
    // echo: 3 words + 1 for the turn in; 4 words out.
    assert_eq!((done.input_tokens, done.output_tokens, done.tokens_consumed), (4, 4, 8));
    assert_eq!((done.remaining_tokens, done.provider.as_str(), done.stop_reason.as_str()), (992, "echo", "end_turn"));
    // Sonnet 4.5 prices: $3 and $15 per million tokens.
    assert_eq!((done.cost.input_cost, done.cost.output_cost, done.cost.total_cost), (0.000012, 0.00006, 0.000072));

    let ann = app.client.get_user("ann").await.unwrap().into_inner();
    assert_eq!((ann.token_usage, ann.total_cost, ann.remaining_tokens), (8, 0.000072, 992));
    assert_eq!(app.reserved("ann").await, 0);
}

#[tokio::test]
async fn the_output_cap_is_what_remains_so_usage_lands_exactly_on_the_limit() {
    let app = TestApp::spawn().await;
    app.create_user("cap", 12).await;
    // 8 words in = 9 input tokens; 3 remain for output.
    let done = app.client.invoke_model("cap", None, &ask("a b c d e f g h")).await.unwrap().into_inner();
    assert_eq!((done.max_output_tokens, done.output_tokens, done.stop_reason.as_str()), (3, 3, "max_tokens"));
    assert_eq!((done.response.as_str(), done.remaining_tokens), ("echo: a b", 0));

    let (status, err) = error_of(app.client.invoke_model("cap", None, &ask("again")).await);
    assert_eq!((status, err.error.as_str()), (429, "token_limit_exceeded"));
    assert_eq!(err.details.unwrap().remaining_tokens, Some(0));
}

#[tokio::test]
async fn a_prompt_larger_than_what_remains_is_refused_with_the_numbers() {
    let app = TestApp::spawn().await;
    app.create_user("small", 5).await;
    let (status, err) = error_of(app.client.invoke_model("small", None, &ask("one two three four five six")).await);
    assert_eq!((status, err.error.as_str()), (429, "token_limit_exceeded"));
    let details = err.details.unwrap();
    assert_eq!((details.remaining_tokens, details.required_tokens), (Some(5), Some(8)));
    assert_eq!(app.client.get_user("small").await.unwrap().into_inner().token_usage, 0);
}

#[tokio::test]
async fn bad_invoke_requests_name_the_field() {
    let app = TestApp::spawn().await;
    app.create_user("val", 100).await;
    for (body, field) in [
        (json!({}), "prompt"),
        (json!({ "prompt": "   " }), "prompt"),
        (json!({ "prompt": 5 }), "prompt"),
        (json!({ "prompt": "hi", "maxOutputTokens": 0 }), "maxOutputTokens"),
        (json!({ "prompt": "hi", "maxOutputTokens": 1.5 }), "maxOutputTokens"),
        (json!({ "prompt": "hi", "model": "gpt-4" }), "model"),
        (json!({ "prompt": "hi", "history": [{ "role": "robot", "text": "x" }] }), "history[0].role"),
    ] {
        let (status, err) = app.send_raw(Method::POST, "/invoke/val", Some(&body.to_string())).await;
        assert_eq!((status, err["details"]["field"].as_str()), (400, Some(field)), "{body}: {err}");
    }
    let (status, _) = app.send_raw(Method::POST, "/invoke/ghost", Some(r#"{"prompt": "hi"}"#)).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn echo_streams_words_then_the_summary() {
    let app = TestApp::spawn().await;
    app.create_user("streamer", 1000).await;
    let (status, events) = stream(&app, "streamer", json!({ "prompt": "stream me please" })).await;
    assert_eq!(status, 200);
    let deltas: String =
        events.iter().filter(|(e, _)| e == "delta").map(|(_, d)| d["text"].as_str().unwrap()).collect();
    assert_eq!(deltas, "echo: stream me please");
    let (last, done) = events.last().unwrap();
    assert_eq!((last.as_str(), done["type"].as_str()), ("done", Some("done")));
    assert_eq!((done["tokensConsumed"].as_u64(), done["remainingTokens"].as_u64()), (Some(8), Some(992)));
    assert_eq!(app.client.get_user("streamer").await.unwrap().into_inner().token_usage, 8);
    assert_eq!(app.reserved("streamer").await, 0);
}

/// 64 concurrent calls whose outputs together would overshoot: usage never passes the limit,
/// the excess get 429, and every token is accounted for (usage = Σ charged, no hold left).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_calls_never_pass_the_limit() {
    const LIMIT: u64 = 500;
    let app = TestApp::spawn().await;
    app.create_user("race", LIMIT).await;
    let request = InvokeRequest {
        max_output_tokens: std::num::NonZeroU64::new(20),
        ..ask("one two three four five six seven eight nine ten")
    };
    let calls = (0..64).map(|_| {
        let client = app.client_with(ADMIN_KEY);
        let request = request.clone();
        async move { client.invoke_model("race", None, &request).await }
    });
    let results = join_all(calls).await;

    let charged: u64 = results.iter().filter_map(|r| r.as_ref().ok()).map(|r| r.tokens_consumed).sum();
    let refused = results.iter().filter(|r| r.is_err()).count();
    for failure in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(failure.status().map(|s| s.as_u16()), Some(429), "{failure:?}");
    }
    let race = app.client.get_user("race").await.unwrap().into_inner();
    assert!(race.token_usage <= LIMIT, "usage {} passed the limit", race.token_usage);
    assert_eq!(race.token_usage, charged, "usage must be exactly what the answers charged");
    assert_eq!(app.reserved("race").await, 0, "every hold was settled or released");
    // Each call is 11 in + 11 out: 64 of them (1,408 tokens) cannot fit in 500.
    assert!(refused > 0 && charged > 0, "refused {refused}, charged {charged}");
}

#[tokio::test]
async fn bedrock_converse_round_trip_with_exact_counts_and_cost() {
    let fake = FakeBedrock::start().await;
    fake.count_tokens(12).await;
    fake.converse("I'm Claude, an AI assistant created by Anthropic.", 12, 30).await;
    let app = on_bedrock(&fake, Duration::from_secs(5)).await;
    app.create_user("user3", 1000).await;

    let done = app.client.invoke_model("user3", None, &ask("what's your name ?")).await.unwrap().into_inner();
    assert_eq!(done.response, "I'm Claude, an AI assistant created by Anthropic.");
    assert_eq!((done.input_tokens, done.output_tokens, done.tokens_consumed, done.remaining_tokens), (12, 30, 42, 958));
    // The reference screen's numbers: $0.000036 + $0.000450 = $0.000486.
    assert_eq!((done.cost.input_cost, done.cost.output_cost, done.cost.total_cost), (0.000036, 0.00045, 0.000486));
    assert_eq!(
        (done.provider.as_str(), done.model.as_str()),
        ("bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0")
    );

    // CountTokens saw the prompt; Converse was capped by what remained after the input.
    let counted = &fake.bodies(COUNT_PATH).await[0];
    assert_eq!(counted["input"]["converse"]["messages"][0]["content"][0]["text"], "what's your name ?");
    let sent = &fake.bodies(CONVERSE_PATH).await[0];
    assert_eq!(sent["inferenceConfig"]["maxTokens"], 988);
    assert_eq!(sent["messages"][0]["role"], "user");
}

#[tokio::test]
async fn a_call_far_from_every_limit_makes_one_upstream_request() {
    let fake = FakeBedrock::start().await;
    fake.count_tokens(12).await;
    fake.converse("Short answer.", 12, 3).await;
    let app = on_bedrock(&fake, Duration::from_secs(5)).await;
    app.create_user("roomy", 1_000_000).await;
    let done = app.client.invoke_model("roomy", None, &ask("what's your name ?")).await.unwrap().into_inner();
    assert_eq!((done.tokens_consumed, done.max_output_tokens), (15, 1024));
    // The input was bounded locally and the hold settled to Bedrock's count: no CountTokens.
    assert!(fake.bodies(COUNT_PATH).await.is_empty(), "CountTokens was called");
    assert_eq!(fake.request_count().await, 1);
    assert_eq!(app.client.get_user("roomy").await.unwrap().into_inner().token_usage, 15);
}

#[tokio::test]
async fn bedrock_streams_deltas_from_event_stream_frames() {
    let fake = FakeBedrock::start().await;
    fake.count_tokens(7).await;
    fake.converse_stream(&["Hel", "lo, ", "world"], 7, 5).await;
    let app = on_bedrock(&fake, Duration::from_secs(5)).await;
    app.create_user("s", 100).await;

    let (status, events) = stream(&app, "s", json!({ "prompt": "greet me", "system": "be warm" })).await;
    assert_eq!(status, 200);
    let kinds: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(kinds, ["delta", "delta", "delta", "done"]);
    let done = &events[3].1;
    assert_eq!((done["response"].as_str(), done["tokensConsumed"].as_u64()), (Some("Hello, world"), Some(12)));
    assert_eq!(app.client.get_user("s").await.unwrap().into_inner().token_usage, 12);
}

#[tokio::test]
async fn a_stream_failing_midway_ends_with_an_error_event_and_charges_nothing() {
    let fake = FakeBedrock::start().await;
    fake.count_tokens(7).await;
    fake.converse_stream_failing(&["partial "], "modelStreamErrorException").await;
    let app = on_bedrock(&fake, Duration::from_secs(5)).await;
    app.create_user("mid", 100).await;

    let (status, events) = stream(&app, "mid", json!({ "prompt": "go" })).await;
    assert_eq!(status, 200);
    let (last, error) = events.last().unwrap();
    assert_eq!((last.as_str(), error["error"].as_str()), ("error", Some("model_error")));
    let mid = app.client.get_user("mid").await.unwrap().into_inner();
    assert_eq!((mid.token_usage, mid.remaining_tokens), (0, 100));
    assert_eq!(app.reserved("mid").await, 0);
}

#[tokio::test]
async fn every_bedrock_failure_has_its_own_status_and_code_and_charges_nothing() {
    let cases = [
        (429, "ThrottlingException", 429, "model_throttled"),
        (403, "AccessDeniedException", 502, "model_access_denied"),
        (404, "ResourceNotFoundException", 502, "model_not_found"),
        (500, "InternalServerException", 503, "model_unavailable"),
        (503, "ServiceUnavailableException", 503, "model_unavailable"),
        (400, "ValidationException", 400, "model_rejected_request"),
    ];
    for (upstream, error_type, status, code) in cases {
        let fake = FakeBedrock::start().await;
        // CountTokens fails the same way: throttling and outages fail the call at once; the
        // others fall back to an estimated hold, and then the call itself fails.
        fake.fail_everything(upstream, error_type).await;
        let app = on_bedrock(&fake, Duration::from_secs(5)).await;
        app.create_user("victim", 1000).await;
        for streaming in [false, true] {
            let (got, err) = if streaming {
                let (got, events) = stream(&app, "victim", json!({ "prompt": "hello" })).await;
                (got, events[0].1.clone())
            } else {
                app.send_raw(Method::POST, "/invoke/victim", Some(r#"{"prompt": "hello"}"#)).await
            };
            assert_eq!(
                (got, err["error"].as_str()),
                (status, Some(code)),
                "{error_type} (streaming: {streaming}): {err}"
            );
            assert!(err["message"].as_str().unwrap().contains("Nothing was charged"), "{err}");
            // What the provider said is logged with the request ID, never sent: an AWS message can
            // carry role ARNs and account IDs.
            assert!(!err.to_string().contains("from the fake"), "the provider's words reached the client: {err}");
            assert!(err["details"]["requestId"].as_str().is_some_and(|id| !id.is_empty()), "{err}");
        }
        let victim = app.client.get_user("victim").await.unwrap().into_inner();
        assert_eq!((victim.token_usage, victim.total_cost, victim.remaining_tokens), (0, 0.0, 1000), "{error_type}");
        assert_eq!(app.reserved("victim").await, 0);
    }
}

#[tokio::test]
async fn a_model_that_does_not_answer_in_time_is_a_504_and_charges_nothing() {
    let fake = FakeBedrock::start().await;
    fake.answer_slowly(Duration::from_secs(3)).await;
    let app = on_bedrock(&fake, Duration::from_millis(300)).await;
    app.create_user("slow", 1000).await;
    let (status, err) = app.send_raw(Method::POST, "/invoke/slow", Some(r#"{"prompt": "hello"}"#)).await;
    assert_eq!((status, err["error"].as_str()), (504, Some("model_timeout")), "{err}");
    assert_eq!(app.client.get_user("slow").await.unwrap().into_inner().token_usage, 0);
    assert_eq!(app.reserved("slow").await, 0);
}

#[tokio::test]
async fn nothing_left_means_429_before_any_model_call() {
    let fake = FakeBedrock::start().await;
    fake.count_tokens(3).await;
    let app = on_bedrock(&fake, Duration::from_secs(5)).await;
    app.create_user("spent", 10).await;
    app.client.record_usage("spent", None, &usage(10)).await.unwrap();

    let (status, err) = error_of(app.client.invoke_model("spent", None, &ask("hello")).await);
    assert_eq!((status, err.error.as_str()), (429, "token_limit_exceeded"));
    let (status, events) = stream(&app, "spent", json!({ "prompt": "hello" })).await;
    assert_eq!((status, events[0].1["error"].as_str()), (429, Some("token_limit_exceeded")));
    assert_eq!(fake.request_count().await, 0, "not even CountTokens may be called");
}

#[tokio::test]
async fn a_client_leaving_mid_stream_releases_the_hold() {
    let fake = FakeBedrock::start().await;
    fake.count_tokens(5).await;
    // The model takes long enough that the client gives up first.
    fake.answer_slowly(Duration::from_secs(2)).await;
    let app = on_bedrock(&fake, Duration::from_secs(10)).await;
    app.create_user("leaver", 1000).await;

    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let gave_up = impatient
        .post(app.url("/invoke/leaver/stream"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({ "prompt": "take your time" }))
        .send()
        .await;
    assert!(gave_up.is_err(), "the client should have timed out");

    eventually("the hold is released", Duration::from_secs(5), || async { app.reserved("leaver").await == 0 }).await;
    assert_eq!(app.client.get_user("leaver").await.unwrap().into_inner().token_usage, 0);
}

#[tokio::test]
async fn holds_left_by_a_crashed_process_expire_and_are_released() {
    use tokenmeter_api::domain::{Amounts, Ceiling, Guards, Hold, HoldId, Reservation, Timestamp, UserId};
    let clock = tokenmeter_api::domain::ManualClock::at(Timestamp::from_millis(1_000_000));
    let app = TestApp::builder().clock(clock.clone()).spawn().await;
    app.create_user("crashed", 100).await;
    let id = UserId::parse("userId", "crashed").unwrap();
    let reserve = |tokens: u64, expires: i64| Reservation {
        user: id.clone(),
        hold: Hold {
            id: HoldId::generate(),
            amounts: Amounts { tokens, requests: 1, ..Amounts::ZERO },
            counters: Vec::new(),
            expires_at: Timestamp::from_millis(expires),
        },
        account: Ceiling::default(),
        counters: Vec::new(),
        guards: Guards { rules_version: 0, tier_version: None },
        idempotency: None,
    };
    app.stores.accounts.reserve(&reserve(60, 999_999)).await.unwrap();
    app.stores.accounts.reserve(&reserve(30, 1_060_000)).await.unwrap();
    assert_eq!(app.client.get_user("crashed").await.unwrap().into_inner().remaining_tokens, 10);

    assert_eq!(app.services.invocations.release_expired().await.unwrap(), 1);
    assert_eq!(app.reserved("crashed").await, 30, "only the expired hold is released");
    assert_eq!(app.client.get_user("crashed").await.unwrap().into_inner().remaining_tokens, 70);
    clock.set(Timestamp::from_millis(1_060_001));
    assert_eq!(app.services.invocations.release_expired().await.unwrap(), 1);
    assert_eq!(app.reserved("crashed").await, 0);
}

#[tokio::test]
async fn user_keys_invoke_only_as_themselves() {
    let app = TestApp::spawn().await;
    app.create_user("me", 100).await;
    app.create_user("you", 100).await;
    let mine = app.client_with(&app.user_key("me").await);
    // "hi": 1 word + 1 for the turn in, "echo: hi" out.
    assert_eq!(mine.invoke_model("me", None, &ask("hi")).await.unwrap().into_inner().tokens_consumed, 4);

    assert_eq!(error_of(mine.invoke_model("you", None, &ask("hi")).await).0, 404);
    let streamed = mine.invoke_model_stream("me", &ask("hi")).await.unwrap().into_inner();
    let bytes: Vec<_> = streamed.into_inner().collect().await;
    assert!(!bytes.is_empty());
}
