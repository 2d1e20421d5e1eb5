//! Quotas from an integrator's side: put a user on a tier and give it a rule of its own, read
//! the state of every rule, check a request before sending it, and handle a 429
//! `quota_exceeded` with the rule it names and when to retry.
//!
//! ```sh
//! cargo xtask dev &                    # the service on 127.0.0.1:8080; prints an admin key once
//! TOKENMETER_API_KEY=tmk_… cargo run -p tokenmeter-client --example quotas -- http://127.0.0.1:8080
//! ```

// An example program: it prints what it did and reads its base URL and key from the environment.
#![allow(clippy::print_stdout, clippy::disallowed_methods)]

use tokenmeter_client::{
    Client, Error,
    types::{CreateUserRequest, InvokeRequest, PeriodName, QuotaCheckBody, QuotaRule, RulesBody},
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base_url = std::env::args().nth(1).unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let admin_key = std::env::var("TOKENMETER_API_KEY").map_err(|_| "set TOKENMETER_API_KEY to an admin key")?;
    let admin = Client::with_api_key(&base_url, &admin_key)?;
    let user_id = format!("quota-example-{}", std::process::id());

    // A user on the `free` tier, with a rule of its own on top: 3 model calls a day.
    let request = CreateUserRequest {
        user_id: user_id.clone(),
        token_limit: 100_000.try_into()?,
        issue_key: Some(true),
        tier: Some("free".into()),
        from_guest: None,
    };
    let created = admin.create_user(None, &request).await?.into_inner();
    let three_a_day = QuotaRule::Requests { limit: 3.try_into()?, model: None, period: PeriodName::Day };
    admin.set_user_quotas(&user_id, &RulesBody { quotas: vec![three_a_day] }).await?;

    // The user's own key reads every rule that applies, with what is used and when it resets.
    let user = Client::with_api_key(&base_url, &created.api_key.ok_or("no key was issued")?.api_key)?;
    for rule in user.get_user_quotas(&user_id).await?.into_inner().quotas {
        let resets = rule.resets_at.as_deref().unwrap_or("never");
        println!(
            "{} {} per {} ({}): {} used, resets {resets}",
            rule.limit, rule.metric, rule.period, rule.source, rule.used
        );
    }

    // Before sending a large request: would it pass? (Nothing changes.)
    let check = QuotaCheckBody { estimated_tokens: 250_000, estimated_cost: None, model: None };
    let answer = user.check_quota(&user_id, &check).await?.into_inner();
    println!("250,000 tokens can proceed: {}; refused by {} rule(s)", answer.can_proceed, answer.reasons.len());

    // Call until a quota says no. Each answer names the tightest rule in `RateLimit`.
    let ask = InvokeRequest {
        prompt: "Say hello".into(),
        system: None,
        max_output_tokens: None,
        model: None,
        history: None,
        conversation_id: None,
    };
    loop {
        match user.invoke_model(&user_id, None, &ask).await {
            Ok(answer) => {
                let header = |name| answer.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned();
                println!(
                    "answered; RateLimit-Policy: {}; RateLimit: {}",
                    header("ratelimit-policy"),
                    header("ratelimit")
                );
            }
            Err(Error::ErrorResponse(refused)) if refused.status() == 429 => {
                let retry_after = refused.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
                let body = refused.into_inner();
                if let Some(quota) = body.details.and_then(|d| d.quota) {
                    println!(
                        "{}: {} {} per {} used of {}; resets at {:?}; Retry-After: {retry_after:?}",
                        body.error, quota.used, quota.metric, quota.period, quota.limit, quota.resets_at
                    );
                }
                break;
            }
            Err(other) => return Err(other.into()),
        }
    }

    admin.delete_user(&user_id).await?;
    Ok(())
}
