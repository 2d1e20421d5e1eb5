//! An integrator's view: create a user, record usage, read it back, handle a typed error.
//!
//! ```sh
//! cargo xtask dev &                                   # the service on 127.0.0.1:8080
//! cargo run -p tokenmeter-client --example integrator -- http://127.0.0.1:8080
//! ```

use tokenmeter_client::{
    Client, Error,
    types::{CreateUserRequest, RecordUsageRequest},
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base_url = std::env::args().nth(1).unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let client = Client::new(&base_url);
    let user_id = format!("example-{}", std::process::id());

    let created = client.create_user(&CreateUserRequest { user_id: user_id.clone(), token_limit: 10_000 }).await?;
    println!("created {} with {} tokens", created.user.user_id, created.user.token_limit);

    let after = client.record_usage(&user_id, &RecordUsageRequest { tokens_consumed: 1_234 }).await?;
    println!("used {} ({:.2} %), {} remaining", after.token_usage, after.percentage_used, after.remaining_tokens);

    // Errors are typed: the body is our `{error, message, details}` shape.
    match client.create_user(&CreateUserRequest { user_id: user_id.clone(), token_limit: 0 }).await {
        Err(Error::ErrorResponse(response)) => {
            println!("refused with {}: {} ({})", response.status(), response.message, response.error)
        }
        other => println!("unexpected: {other:?}"),
    }

    client.delete_user(&user_id).await?;
    Ok(())
}
