//! Admission that is exact and generous: 64 concurrent prompt-only calls of about 100 tokens
//! each, to a model answering after 50 ms, against 1,000 tokens. A call that finds the budget
//! merely held by calls in flight waits for them instead of being refused, so about ten calls
//! complete (not one), and still nothing passes the limit or stays held.

use std::{sync::Arc, time::Duration};

use futures::future::join_all;
use tokenmeter_client::types::{InvokeRequest, MetricName as M, PeriodName as P};

use super::{MODEL_TIMEOUT, nothing_held, quotas, rule, tokens, user_with_rules};
use crate::{
    fake_bedrock::FakeBedrock,
    helpers::{TestApp, ask},
};

const CALLS: usize = 64;
/// 60 tokens in (about 4 bytes each), 40 out: 100 tokens a call.
const INPUT: u64 = 60;
const OUTPUT: u64 = 40;

/// What the 64 calls got: complete answers (`end_turn`), answers cut at their cap, refusals
/// (with their error codes), and the tokens the answers charged.
struct Tally {
    complete: usize,
    cut: usize,
    refused: Vec<String>,
    charged: u64,
}

/// Sends the calls at once for `user`, under the rule that `what` names, and says how they went.
async fn sixty_four_prompt_only_calls(app: &TestApp, user: &str, what: &str) -> Tally {
    let started = std::time::Instant::now();
    let prompt = "Tell me, in a sentence or two, what the weather is usually like in Lisbon in late spring. ".repeat(3);
    assert!(prompt.len() as u64 >= 4 * INPUT, "a prompt of {INPUT} tokens is at least {} bytes", 4 * INPUT);
    let request = InvokeRequest { max_output_tokens: None, ..ask(&prompt) };
    let calls = (0..CALLS).map(|_| {
        let (client, request) = (app.client.clone(), request.clone());
        async move { client.invoke_model(user, None, &request).await }
    });
    let mut tally = Tally { complete: 0, cut: 0, refused: Vec::new(), charged: 0 };
    for result in join_all(calls).await {
        match result {
            Ok(answer) => {
                tally.charged += answer.tokens_consumed;
                match answer.stop_reason.as_str() {
                    "end_turn" => tally.complete += 1,
                    _ => tally.cut += 1,
                }
            }
            Err(tokenmeter_client::Error::ErrorResponse(answer)) => {
                assert_eq!(answer.status(), 429, "{answer:?}");
                tally.refused.push(answer.into_inner().error);
            }
            Err(other) => panic!("a call failed: {other:?}"),
        }
    }
    eprintln!(
        "{what}: {} of {CALLS} calls complete (end_turn), {} cut at their cap, {} refused, in {:?}",
        tally.complete,
        tally.cut,
        tally.refused.len(),
        started.elapsed()
    );
    tally
}

/// The service waits up to this for held budget (default 2 s, `TOKENMETER_ADMISSION_WAIT_MS`).
/// The ten calls that fit run one after another, each as long as its store steps take: about
/// 80 ms on the embedded store, about 230 ms on DynamoDB Local on two shared cores, more while
/// other tests run (with 2 s, 5 of 64 completed then). So the tests give the wait time enough
/// that the count measures the policy, not the machine; the figures printed say how long the
/// calls really took.
const ADMISSION_WAIT: Duration = Duration::from_secs(10);

async fn app_on_a_model_answering_after_50_ms() -> (TestApp, FakeBedrock) {
    let fake = FakeBedrock::start().await;
    fake.metered(INPUT, OUTPUT, Duration::from_millis(50)).await;
    let app = TestApp::builder()
        .provider(Arc::new(fake.provider(MODEL_TIMEOUT).await))
        .settings(|s| s.invoke.admission_wait = ADMISSION_WAIT)
        .spawn()
        .await;
    (app, fake)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_tokens_serve_about_ten_concurrent_calls_of_a_hundred() {
    let (app, _model) = app_on_a_model_answering_after_50_ms().await;
    app.create_user("crowd", 1_000).await;

    let tally = sixty_four_prompt_only_calls(&app, "crowd", "lifetime limit of 1,000 tokens").await;

    assert!(tally.complete >= 8, "only {} of {CALLS} calls completed", tally.complete);
    assert!(tally.refused.iter().all(|code| code == "token_limit_exceeded"), "{:?}", tally.refused);
    let user = app.client.get_user("crowd").await.unwrap().into_inner();
    assert!(user.token_usage <= 1_000, "usage {} passed the limit", user.token_usage);
    assert_eq!(user.token_usage, tally.charged, "usage = Σ tokensConsumed");
    nothing_held(&app, "crowd").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_daily_quota_of_a_thousand_tokens_serves_about_ten_concurrent_calls_of_a_hundred() {
    let (app, _model) = app_on_a_model_answering_after_50_ms().await;
    user_with_rules(&app, "daily", 1_000_000, vec![tokens(P::Day, 1_000, None)]).await;

    let tally = sixty_four_prompt_only_calls(&app, "daily", "daily quota of 1,000 tokens").await;

    assert!(tally.complete >= 8, "only {} of {CALLS} calls completed", tally.complete);
    assert!(tally.refused.iter().all(|code| code == "quota_exceeded"), "{:?}", tally.refused);
    let used = rule(&quotas(&app, "daily").await, M::Tokens, P::Day, None).used;
    assert!(used <= 1_000.0, "{used} tokens used of a 1,000-token quota");
    assert_eq!(used, tally.charged as f64, "the day's tokens = Σ tokensConsumed");
    nothing_held(&app, "daily").await;
}
