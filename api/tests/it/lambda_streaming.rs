//! The service on AWS Lambda behind a Function URL in `RESPONSE_STREAM` mode: the real
//! binary (`TOKENMETER_LAMBDA_RESPONSE=streaming`) against the stand-in Runtime API, which
//! reads each answer as it is posted. A streamed model answer reaches the caller while the
//! model is still generating; a live view streams and closes itself before the invocation's
//! deadline, in both response modes.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::{
    helpers::{ADMIN_KEY, binary_store_env},
    lambda::{Function, function_binary, http_api_event},
    lambda_runtime::{GatedBedrock, RuntimeApi},
};

/// Starts the function against `runtime`, answering `mode` (`buffered` or `streaming`), with
/// Bedrock at `bedrock` (the echo model without one).
async fn start_function(
    runtime: &RuntimeApi,
    mode: &str,
    bedrock: Option<&GatedBedrock>,
    data: &std::path::Path,
) -> Function {
    let mut command = Command::new(function_binary());
    command
        .env("AWS_LAMBDA_RUNTIME_API", runtime.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "tokenmeter-stream")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("TOKENMETER_LAMBDA_RESPONSE", mode)
        .env("TOKENMETER_ADMIN_KEY", ADMIN_KEY)
        .env("TOKENMETER_MODEL_PROVIDER", "echo")
        .env("RUST_LOG", "warn")
        .envs(binary_store_env(data).await)
        .stdout(Stdio::null());
    if let Some(bedrock) = bedrock {
        command
            .env("TOKENMETER_MODEL_PROVIDER", "bedrock")
            .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", format!("http://{}", bedrock.addr))
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "AKIDTOKENMETERTEST")
            .env("AWS_SECRET_ACCESS_KEY", "secret");
    }
    Function(command.spawn().expect("start the function"))
}

/// A Function URL event (the HTTP API's payload format 2.0, from a `lambda-url` domain).
fn url_event(method: &str, path: &str, body: Option<Value>) -> Value {
    let mut event = http_api_event(method, path, Some(ADMIN_KEY), body);
    let domain = "abcdefgh.lambda-url.us-east-1.on.aws";
    event["headers"]["host"] = json!(domain);
    event["requestContext"]["domainName"] = json!(domain);
    event["requestContext"]["domainPrefix"] = json!("abcdefgh");
    event
}

const MINUTE: Duration = Duration::from_secs(60);
const PATIENCE: Duration = Duration::from_secs(30);

/// Creates `user` through the function and checks the answer.
async fn create_user(runtime: &RuntimeApi, user: &str) {
    let mut created = runtime.invoke(
        "create",
        url_event("POST", "/users", Some(json!({"userId": user, "tokenLimit": 1000}))),
        MINUTE,
    );
    created.read_to_end(PATIENCE).await;
    assert_eq!(created.prelude()["statusCode"], 201, "create: {}", created.body());
}

#[tokio::test]
async fn a_streamed_model_answer_reaches_the_caller_before_the_call_ends() {
    let (runtime, bedrock, data) =
        (RuntimeApi::start().await, GatedBedrock::start().await, tempfile::tempdir().unwrap());
    let _function = start_function(&runtime, "streaming", Some(&bedrock), data.path()).await;
    create_user(&runtime, "streamer").await;

    let mut chat = runtime.invoke(
        "chat",
        url_event("POST", "/invoke/streamer/stream", Some(json!({"prompt": "Say hello"}))),
        MINUTE,
    );
    // The model holds the rest of its answer until the gate opens, which happens only after
    // this: a function that buffered its answer would never get here.
    let first = chat.read_until("event: delta", PATIENCE).await;
    assert!(chat.streamed(), "the answer is posted as a stream");
    assert!(chat.ended.is_none(), "the call is still going");
    assert!(first.contains(r#""text":"Hello""#), "the first delta carries the first words: {first}");
    assert!(!first.contains("world") && !first.contains("event: done"), "nothing past the gate yet: {first}");
    let prelude = chat.prelude();
    assert_eq!(prelude["statusCode"], 200);
    assert!(prelude["headers"]["content-type"].as_str().unwrap().starts_with("text/event-stream"), "{prelude}");
    assert_eq!(
        prelude["headers"]["x-tokens-remaining"].as_str().map(str::parse::<u64>).and_then(Result::ok).map(|n| n < 1000),
        Some(true)
    );

    bedrock.open_gate();
    let all = chat.read_to_end(PATIENCE).await;
    assert_eq!(chat.error_trailer(), None);
    assert!(all.contains(r#""text":" world""#), "the rest follows: {all}");
    let done = all.split("event: done\n").nth(1).expect("a done event");
    let summary: Value = serde_json::from_str(done.lines().next().unwrap().trim_start_matches("data: ")).unwrap();
    assert_eq!(summary["response"], "Hello world");
    assert_eq!(summary["inputTokens"], GatedBedrock::INPUT_TOKENS);
    assert_eq!(summary["outputTokens"], GatedBedrock::OUTPUT_TOKENS);
    assert_eq!(summary["remainingTokens"], 1000 - GatedBedrock::INPUT_TOKENS - GatedBedrock::OUTPUT_TOKENS);
}

/// A live view never ends by itself; on Lambda its answer must end before the invocation's
/// deadline, cleanly, so that the client reconnects instead of seeing the call time out.
async fn live_view_ends_before_the_deadline(mode: &str) {
    let (runtime, data) = (RuntimeApi::start().await, tempfile::tempdir().unwrap());
    let _function = start_function(&runtime, mode, None, data.path()).await;
    create_user(&runtime, "watched").await;

    let deadline = Duration::from_secs(5);
    let opened = Instant::now();
    let mut view = runtime.invoke("view", url_event("GET", "/users/watched/events", None), deadline);
    if mode == "streaming" {
        let first = view.read_until(r#""userId":"watched""#, deadline).await;
        let seen = Instant::now();
        assert!(view.streamed() && view.ended.is_none(), "the snapshot arrives while the view is open: {first}");
        view.read_to_end(deadline).await;
        let lasted = view.ended.unwrap() - seen;
        assert!(lasted >= Duration::from_secs(1), "the view stayed open after its first snapshot ({lasted:?})");
    } else {
        view.read_to_end(deadline).await;
        assert!(!view.streamed());
        assert_eq!(view.prelude()["statusCode"], 200);
        assert!(view.body().contains(r#""userId":"watched""#), "the snapshots so far: {}", view.body());
    }
    let ended = view.ended.unwrap() - opened;
    assert!(ended < deadline, "the view ended {ended:?} after it opened, past its {deadline:?} deadline");
    assert_eq!(view.error_trailer(), None, "the view ended cleanly");
}

#[tokio::test]
async fn a_live_view_streams_and_closes_before_the_deadline() {
    live_view_ends_before_the_deadline("streaming").await;
}

#[tokio::test]
async fn buffered_a_live_view_answers_its_snapshots_before_the_deadline() {
    live_view_ends_before_the_deadline("buffered").await;
}
