//! 64 concurrent model calls against a user whose tightest rule is a daily cost quota, a daily
//! request quota of 10, or a per-model token quota: the rule is never passed, what it counts
//! is exactly what the answers say was charged, and no hold is left.

use std::{num::NonZeroU64, sync::Arc, time::Duration};

use futures::future::join_all;
use tokenmeter_client::types::{ErrorBody, InvokeRequest, InvokeResponse, MetricName as M, PeriodName as P};

use super::{MODEL_TIMEOUT, cost, nanos, nothing_held, quotas, requests, rule, tokens, user_with_rules};
use crate::{fake_bedrock::FakeBedrock, helpers::TestApp};

const CALLS: usize = 64;
const HAIKU: &str = "global.anthropic.claude-haiku-4-5-20251001-v1:0";
/// The stand-in model's prompt: 96 bytes, counted as 20 tokens.
const PROMPT: &str = "Summarise the quarterly report in three short bullet points for the board, plainly and briefly.";

/// A service on a stand-in Bedrock whose answers are 20 tokens in and `natural` out (fewer
/// when the cap is lower), after 50 ms.
async fn app_with_model(natural: u64) -> (TestApp, FakeBedrock) {
    let fake = FakeBedrock::start().await;
    fake.metered(20, natural, Duration::from_millis(50)).await;
    let app = TestApp::builder().provider(Arc::new(fake.provider(MODEL_TIMEOUT).await)).spawn().await;
    (app, fake)
}

fn call_to(model: Option<&str>, cap: u64) -> InvokeRequest {
    InvokeRequest {
        prompt: PROMPT.into(),
        system: None,
        max_output_tokens: NonZeroU64::new(cap),
        model: model.map(str::to_owned),
        history: None,
        conversation_id: None,
    }
}

/// What 64 concurrent calls got: the answers (with the model each asked) and the refusals.
struct Outcome {
    answered: Vec<(Option<String>, InvokeResponse)>,
    refused: Vec<ErrorBody>,
}

impl Outcome {
    fn tokens(&self) -> u64 {
        self.answered.iter().map(|(_, a)| a.tokens_consumed).sum()
    }

    fn cost_nanos(&self) -> u64 {
        self.answered.iter().map(|(_, a)| nanos(a.cost.total_cost)).sum()
    }
}

/// Sends `requests` all at once as `user`; every call is answered or refused with 429
/// `quota_exceeded`.
async fn all_at_once(app: &TestApp, user: &str, requests: Vec<InvokeRequest>) -> Outcome {
    let started = std::time::Instant::now();
    let calls = requests.into_iter().map(|request| {
        let client = app.client.clone();
        async move { (request.model.clone(), client.invoke_model(user, None, &request).await) }
    });
    let mut outcome = Outcome { answered: Vec::new(), refused: Vec::new() };
    for (model, result) in join_all(calls).await {
        match result {
            Ok(answer) => outcome.answered.push((model, answer.into_inner())),
            Err(tokenmeter_client::Error::ErrorResponse(answer)) => {
                assert_eq!(answer.status(), 429, "{answer:?}");
                let body = answer.into_inner();
                assert_eq!(body.error, "quota_exceeded", "{}", body.message);
                outcome.refused.push(body);
            }
            Err(other) => panic!("a call failed: {other:?}"),
        }
    }
    eprintln!(
        "{CALLS} calls as {user}: {} answered, {} refused, in {:?}",
        outcome.answered.len(),
        outcome.refused.len(),
        started.elapsed()
    );
    outcome
}

/// Every refusal names the rule on `metric` per day (on `model`).
fn refused_by(outcome: &Outcome, metric: &str, model: Option<&str>) {
    assert!(!outcome.refused.is_empty(), "64 calls cannot all fit");
    for body in &outcome.refused {
        let quota = body.details.as_ref().and_then(|d| d.quota.as_ref()).expect("the rule that refused");
        assert_eq!((quota.metric.as_str(), quota.period.as_str(), quota.model.as_deref()), (metric, "day", model));
    }
}

/// The account holds exactly what the answers charged: tokens and cost.
async fn account_matches(app: &TestApp, user: &str, outcome: &Outcome) {
    let account = app.client.get_user(user).await.unwrap().into_inner();
    assert_eq!(account.token_usage, outcome.tokens(), "lifetime tokens = Σ tokensConsumed");
    assert_eq!(nanos(account.total_cost), outcome.cost_nanos(), "lifetime cost = Σ cost.totalCost");
    assert_eq!(account.request_count, outcome.answered.len() as u64, "requests = answers");
    nothing_held(app, user).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_calls_never_pass_a_daily_cost_quota() {
    let (app, _model) = app_with_model(150).await;
    let rules = vec![cost(P::Day, 0.01), tokens(P::Day, 1_000_000, None), requests(P::Day, 1_000)];
    user_with_rules(&app, "spender", 1_000_000, rules).await;

    // Each asks for more output than the quota's worth, so each first has its input counted
    // (50 ms, as CountTokens takes): every call plans while the others are planning too.
    let outcome = all_at_once(&app, "spender", vec![call_to(None, 1_000); CALLS]).await;

    refused_by(&outcome, "cost", None);
    let used = nanos(rule(&quotas(&app, "spender").await, M::Cost, P::Day, None).used);
    assert!(used <= 10_000_000, "${} used of a $0.01 quota", used as f64 / 1e9);
    assert_eq!(used, outcome.cost_nanos(), "the day's cost = Σ cost.totalCost");
    account_matches(&app, "spender", &outcome).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_calls_never_pass_a_daily_request_quota_of_10() {
    let (app, _model) = app_with_model(30).await;
    user_with_rules(&app, "caller", 1_000_000, vec![requests(P::Day, 10), tokens(P::Day, 100_000, None)]).await;

    let outcome = all_at_once(&app, "caller", vec![call_to(None, 100); CALLS]).await;

    refused_by(&outcome, "requests", None);
    assert_eq!(outcome.answered.len(), 10, "exactly the 10 requests of the day are answered");
    let states = quotas(&app, "caller").await;
    assert_eq!(rule(&states, M::Requests, P::Day, None).used, 10.0);
    assert_eq!(rule(&states, M::Tokens, P::Day, None).used, outcome.tokens() as f64);
    account_matches(&app, "caller", &outcome).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_calls_never_pass_a_per_model_token_quota() {
    let (app, _model) = app_with_model(80).await;
    user_with_rules(&app, "mixed", 1_000_000, vec![tokens(P::Day, 1_000, Some("sonnet"))]).await;

    // Half the calls go to the default model (Sonnet), half to Haiku, which the rule ignores.
    let requests = (0..CALLS).map(|i| call_to((i % 2 == 1).then_some(HAIKU), 100)).collect();
    let outcome = all_at_once(&app, "mixed", requests).await;

    refused_by(&outcome, "tokens", Some("sonnet"));
    let haiku_answered = outcome.answered.iter().filter(|(m, _)| m.as_deref() == Some(HAIKU)).count();
    assert_eq!(haiku_answered, CALLS / 2, "no Haiku call is refused by a Sonnet quota");
    let sonnet = outcome.answered.iter().filter(|(m, _)| m.is_none()).map(|(_, a)| a.tokens_consumed).sum::<u64>();
    let used = rule(&quotas(&app, "mixed").await, M::Tokens, P::Day, Some("sonnet")).used;
    assert!(used <= 1_000.0, "{used} Sonnet tokens used of a 1,000-token quota");
    assert_eq!(used, sonnet as f64, "the Sonnet quota counts exactly the Sonnet answers' tokens");
    account_matches(&app, "mixed", &outcome).await;
}
