//! The service as an AWS Lambda function: the real binary, started the way Lambda starts it
//! (`AWS_LAMBDA_RUNTIME_API` and the function's variables), fetches API Gateway HTTP API
//! events (payload 2.0) from the Runtime API and posts each answer back. wiremock plays the
//! Runtime API, the one part of Lambda that cannot run here, speaking its wire format.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path, path_regex},
};

use crate::helpers::{ADMIN_KEY, binary_store_env, test_env};

const NEXT: &str = "/2018-06-01/runtime/invocation/next";

/// Kills the function's process when the test ends, however it ends.
pub(crate) struct Function(pub Child);

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn on_lambda_the_binary_answers_api_gateway_events_from_the_runtime_api() {
    let runtime = MockServer::start().await;
    let events = [
        ("create", http_api_event("POST", "/users", Some(ADMIN_KEY), Some(json!({"userId": "fn", "tokenLimit": 500})))),
        ("record", http_api_event("POST", "/users/fn/usage", Some(ADMIN_KEY), Some(json!({"tokensConsumed": 42})))),
        ("read", http_api_event("GET", "/users/fn", Some(ADMIN_KEY), None)),
        ("anonymous", http_api_event("GET", "/users/fn", None, None)),
        ("malformed", http_api_event("POST", "/users", Some(ADMIN_KEY), Some(json!({"userId": "fn2"})))),
    ];
    // Each event is handed out once, in order; then the runtime waits, as Lambda's does.
    for (priority, (id, event)) in (1u8..).zip(&events) {
        Mock::given(method("GET"))
            .and(path(NEXT))
            .respond_with(invocation(id, event))
            .up_to_n_times(1)
            .with_priority(priority)
            .mount(&runtime)
            .await;
    }
    Mock::given(method("GET"))
        .and(path(NEXT))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(600)))
        .with_priority(100)
        .mount(&runtime)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/2018-06-01/runtime/invocation/[^/]+/response$"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&runtime)
        .await;

    let data = tempfile::tempdir().unwrap();
    let _function = Function(
        Command::new(function_binary())
            .env("AWS_LAMBDA_RUNTIME_API", runtime.address().to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "tokenmeter")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("TOKENMETER_ADMIN_KEY", ADMIN_KEY)
            .env("TOKENMETER_MODEL_PROVIDER", "echo")
            .env("RUST_LOG", "warn")
            .envs(binary_store_env(data.path()).await)
            .stdout(Stdio::null())
            .spawn()
            .expect("start tokenmeter"),
    );

    let answers = answers(&runtime, events.len()).await;
    let answer = |id: &str| answers.iter().find(|(answered, _)| answered == id).map(|(_, a)| a).unwrap();

    let created = answer("create");
    assert_eq!(created["statusCode"], 201);
    assert_eq!(body(created)["user"]["userId"], "fn");
    assert!(header(created, "x-request-id").is_some(), "every answer has a request ID: {created}");

    let recorded = body(answer("record"));
    assert_eq!((recorded["tokenUsage"].as_u64(), recorded["remainingTokens"].as_u64()), (Some(42), Some(458)));

    let read = answer("read");
    assert_eq!(read["statusCode"], 200);
    assert_eq!(body(read)["tokenUsage"], 42);
    assert_eq!(header(read, "x-tokens-remaining").as_deref(), Some("458"));

    let anonymous = answer("anonymous");
    assert_eq!(
        (anonymous["statusCode"].as_u64(), body(anonymous)["error"].as_str()),
        (Some(401), Some("unauthorized"))
    );

    let malformed = answer("malformed");
    assert_eq!(malformed["statusCode"], 400);
    assert_eq!(body(malformed)["details"]["field"], "tokenLimit");
}

/// The binary the function runs: the `bootstrap` of the Lambda package when
/// `TOKENMETER_TEST_LAMBDA_BOOTSTRAP` names it (`cargo xtask test` extracts it from the zip
/// that `cargo xtask build lambda` makes), else this build's `tokenmeter`.
pub(crate) fn function_binary() -> String {
    test_env("TOKENMETER_TEST_LAMBDA_BOOTSTRAP").unwrap_or_else(|| env!("CARGO_BIN_EXE_tokenmeter").to_owned())
}

/// An API Gateway HTTP API (payload format 2.0) event for `method path`. Function URLs send
/// the same format.
pub(crate) fn http_api_event(method: &str, path: &str, key: Option<&str>, body: Option<Value>) -> Value {
    let mut headers = json!({
        "host": "abc123.execute-api.us-east-1.amazonaws.com",
        "content-type": "application/json",
        "user-agent": "tokenmeter-tests",
    });
    if let Some(key) = key {
        headers["authorization"] = json!(format!("Bearer {key}"));
    }
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "tokenmeter-tests"
            },
            "requestId": "api-gateway-request",
            "routeKey": "$default",
            "stage": "$default",
            "time": "22/Nov/2026:17:00:00 +0000",
            "timeEpoch": 1_795_366_800_000u64
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    })
}

/// The Runtime API's answer to `GET …/invocation/next`: the event, and its ID and deadline.
fn invocation(id: &str, event: &Value) -> ResponseTemplate {
    let deadline =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap() + Duration::from_secs(60);
    ResponseTemplate::new(200)
        .insert_header("lambda-runtime-aws-request-id", id)
        .insert_header("lambda-runtime-deadline-ms", deadline.as_millis().to_string().as_str())
        .insert_header(
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:tokenmeter",
        )
        .set_body_json(event)
}

/// The answers the function posted, by invocation ID, once there are `count` of them.
async fn answers(runtime: &MockServer, count: usize) -> Vec<(String, Value)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let posted: Vec<(String, Value)> = runtime
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.method == wiremock::http::Method::POST)
            .map(|r| {
                let id = r.url.path().trim_end_matches("/response").rsplit('/').next().unwrap().to_owned();
                (id, serde_json::from_slice(&r.body).expect("an answer is JSON"))
            })
            .collect();
        if posted.len() >= count {
            return posted;
        }
        assert!(Instant::now() < deadline, "the function posted {} of {count} answers within 30 s", posted.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An answer's body, parsed (API Gateway answers carry it as a string).
fn body(answer: &Value) -> Value {
    let text = answer["body"].as_str().unwrap_or_else(|| panic!("no body in {answer}"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text}"))
}

fn header(answer: &Value, name: &str) -> Option<String> {
    answer["headers"][name].as_str().map(str::to_owned)
}
