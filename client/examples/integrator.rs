//! An integrator's view: create a user, record usage, read it back, handle a typed error.
//!
//! ```sh
//! cargo xtask dev &                    # the service on 127.0.0.1:8080; prints an admin key once
//! TOKENMETER_API_KEY=tmk_… cargo run -p tokenmeter-client --example integrator -- http://127.0.0.1:8080
//! ```

// An example program: it prints what it did and reads its base URL and key from the environment.
#![allow(clippy::print_stdout, clippy::disallowed_methods)]

use tokenmeter_client::{
    Client, Error,
    types::{CreateUserRequest, RecordUsageRequest},
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base_url = std::env::args().nth(1).unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let admin_key = std::env::var("TOKENMETER_API_KEY").map_err(|_| "set TOKENMETER_API_KEY to an admin key")?;
    let admin = Client::with_api_key(&base_url, &admin_key)?;
    let user_id = format!("example-{}", std::process::id());

    // An admin creates a user and asks for the user's own key.
    let request = CreateUserRequest {
        user_id: user_id.clone(),
        token_limit: 10_000.try_into()?,
        issue_key: Some(true),
        tier: None,
        from_guest: None,
    };
    let created = admin.create_user(None, &request).await?.into_inner();
    println!("created {} with {} tokens", created.user.user_id, created.user.token_limit);

    // The user's key sees and spends only that user.
    let user_key = created.api_key.ok_or("the service issued no key")?.api_key;
    let user = Client::with_api_key(&base_url, &user_key)?;
    let usage = RecordUsageRequest { tokens_consumed: 1_234, input_tokens: None, output_tokens: None, model: None };
    let after = user.record_usage(&user_id, None, &usage).await?;
    println!("used {} ({:.2} %), {} remaining", after.token_usage, after.percentage_used, after.remaining_tokens);

    // Errors are typed: the body is our `{error, message, details}` shape.
    match user.list_users().await {
        Err(Error::ErrorResponse(response)) => {
            println!("a user key may not list users: {} {}", response.status(), response.error)
        }
        other => println!("unexpected: {other:?}"),
    }
    // The typed client refuses what the spec forbids before sending anything…
    println!("a limit of 0 is refused here: {}", std::num::NonZeroU64::try_from(0u64).is_err());
    // …and the service answers the rest with a typed error body.
    match admin.create_user(None, &request).await {
        Err(Error::ErrorResponse(response)) => {
            println!("refused with {}: {} ({})", response.status(), response.message, response.error)
        }
        other => println!("unexpected: {other:?}"),
    }

    admin.delete_user(&user_id).await?;

    Ok(())
}
