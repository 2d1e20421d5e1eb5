//! A typed client for the tokenmeter HTTP API.
//!
//! Generated at compile time by [progenitor] from `openapi/openapi.json`, the committed spec;
//! nothing here is written by hand except this page. Regenerate the spec with
//! `cargo xtask openapi` and this client follows.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tokenmeter_client::Error<tokenmeter_client::types::ErrorBody>> {
//! use tokenmeter_client::{Client, types::CreateUserRequest};
//!
//! let client = Client::new("http://127.0.0.1:8080");
//! let created = client
//!     .create_user(&CreateUserRequest { user_id: "alice".into(), token_limit: 100_000 })
//!     .await?;
//! assert_eq!(created.user.remaining_tokens, 100_000);
//! # Ok(()) }
//! ```
//!
//! [progenitor]: https://github.com/oxidecomputer/progenitor

progenitor::generate_api!(spec = "../openapi/openapi.json", interface = Positional, derives = [PartialEq],);
