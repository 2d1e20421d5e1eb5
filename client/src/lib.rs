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
//! let client = Client::with_api_key("http://127.0.0.1:8080", "tmk_…").expect("a printable key");
//! let created = client
//!     .create_user(&CreateUserRequest { user_id: "alice".into(), token_limit: 100_000, issue_key: Some(true) })
//!     .await?;
//! assert_eq!(created.user.remaining_tokens, 100_000);
//! let alice_key = created.into_inner().api_key.expect("asked for a key").api_key;
//! # let _ = alice_key;
//! # Ok(()) }
//! ```
//!
//! [progenitor]: https://github.com/oxidecomputer/progenitor

progenitor::generate_api!(spec = "../openapi/openapi.json", interface = Positional, derives = [PartialEq],);

/// A key that cannot be sent in an HTTP header (it contains control characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidApiKey;

impl std::fmt::Display for InvalidApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the API key contains characters that cannot be sent in an HTTP header")
    }
}

impl std::error::Error for InvalidApiKey {}

impl Client {
    /// A client that sends `api_key` as `Authorization: Bearer <api_key>` on every request.
    pub fn with_api_key(base_url: &str, api_key: &str) -> Result<Self, InvalidApiKey> {
        let mut value =
            reqwest::header::HeaderValue::from_str(&format!("Bearer {api_key}")).map_err(|_| InvalidApiKey)?;
        value.set_sensitive(true);
        let headers = reqwest::header::HeaderMap::from_iter([(reqwest::header::AUTHORIZATION, value)]);
        let http = reqwest::Client::builder().default_headers(headers).build().map_err(|_| InvalidApiKey)?;
        Ok(Self::new_with_client(base_url, http))
    }
}
