//! A typed client for the tokenmeter HTTP API.
//!
//! Generated at compile time by [progenitor] from `openapi/openapi.json`, the committed spec;
//! no request is written by hand. Regenerate the spec with `cargo xtask openapi` and this client
//! follows. The one hand-written policy (`retry.rs`): calls that take an `Idempotency-Key` get
//! one, and a 503 is sent again with it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use tokenmeter_client::{Client, types::CreateUserRequest};
//!
//! let client = Client::with_api_key("http://127.0.0.1:8080", "tmk_…")?;
//! let request = CreateUserRequest {
//!     user_id: "alice".into(),
//!     token_limit: 100_000.try_into()?,
//!     issue_key: Some(true),
//!     tier: None,
//!     from_guest: None,
//! };
//! let created = client.create_user(None, &request).await?;
//! assert_eq!(created.user.remaining_tokens, 100_000);
//! let alice_key = created.into_inner().api_key.expect("asked for a key").api_key;
//! # let _ = alice_key;
//! # Ok(()) }
//! ```
//!
//! [progenitor]: https://github.com/oxidecomputer/progenitor

// Strings the spec constrains (patterns, lengths) stay `String`s: the service checks them and
// answers with the field and the reason, and a pattern check in the client would carry a regex
// engine into the web app.
progenitor::generate_api!(
    spec = "../openapi/openapi.json",
    interface = Positional,
    derives = [PartialEq],
    replace = {
        AlertRuleName = str,
        EventIdParam = str,
        ConversationId = String,
        ConversationIdParam = str,
        ConversationTitle = String,
        GuestKey = String,
        IdempotencyKey = str,
        KeyIdParam = str,
        KeyLabel = String,
        ModelId = String,
        ModelScope = String,
        PromptText = String,
        TierName = String,
        TierNameParam = str,
        TurnText = String,
        UserId = String,
        UserIdParam = str,
    },
);

// progenitor reads the spec without telling cargo: this makes the client rebuild when it changes.
const _SPEC: &[u8] = include_bytes!("../../openapi/openapi.json");

pub mod figures;
mod retry;

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
