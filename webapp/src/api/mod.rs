//! Everything the app knows about talking to the service: the signed-in session, typed
//! errors, and live views (server-sent events with polling as the fallback). All requests
//! go through the generated `tokenmeter-client`.

mod error;
mod live;
mod sse;

pub use error::ApiError;
pub use live::{Link, Live, POLL_MS, follow_user, follow_users};
pub use sse::{append_utf8, take_events};
use tokenmeter_client::{Client, types::KeyRole as Role};

pub use crate::timer::sleep;

/// Where the key is kept for the browser session (cleared on sign-out or when the tab closes).
const STORAGE_KEY: &str = "tokenmeter.apiKey";

/// Who is signed in.
#[derive(Clone, Debug, PartialEq)]
pub enum Who {
    Admin,
    User(String),
}

/// A signed-in session: the key, who it is, and a client that sends it.
#[derive(Clone)]
pub struct Auth {
    pub key: String,
    pub who: Who,
    pub client: Client,
}

impl Auth {
    pub fn is_admin(&self) -> bool {
        self.who == Who::Admin
    }

    /// The signed-in user's own ID (`None` for an administrator).
    pub fn user_id(&self) -> Option<&str> {
        match &self.who {
            Who::Admin => None,
            Who::User(id) => Some(id),
        }
    }

    pub fn name(&self) -> String {
        match &self.who {
            Who::Admin => "Administrator".into(),
            Who::User(id) => id.clone(),
        }
    }
}

/// The page's origin: the API serves the app, so it is also the API's base URL.
pub fn base_url() -> String {
    web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_default()
}

pub(crate) fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok()?
}

pub fn stored_key() -> Option<String> {
    storage()?.get_item(STORAGE_KEY).ok()?.filter(|k| !k.is_empty())
}

pub fn store_key(key: &str) {
    if let Some(s) = storage() {
        let _ = s.set_item(STORAGE_KEY, key);
    }
}

pub fn forget_key() {
    if let Some(s) = storage() {
        let _ = s.remove_item(STORAGE_KEY);
    }
}

/// Checks `key` with `GET /me` and answers the session it opens.
pub async fn sign_in(key: &str) -> Result<Auth, ApiError> {
    let key = key.trim();
    if key.is_empty() {
        return Err(ApiError::Invalid("API key is required.".into()));
    }
    let client = Client::with_api_key(&base_url(), key).map_err(|e| ApiError::Invalid(format!("{e}.")))?;
    let me = client.who_am_i().await?.into_inner();
    let who = match (me.role, me.user_id) {
        (Role::Admin, _) => Who::Admin,
        (Role::User, Some(id)) => Who::User(id),
        (Role::User, None) => {
            return Err(ApiError::Invalid("This key belongs to no user; ask an administrator for a new one.".into()));
        }
    };
    Ok(Auth { key: key.to_owned(), who, client })
}

/// Milliseconds since the epoch, by the browser's clock.
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// `future`, or `None` when it takes longer than `ms`.
pub async fn within<T>(ms: i32, future: impl std::future::Future<Output = T>) -> Option<T> {
    use futures::future::{Either, select};
    match select(Box::pin(future), Box::pin(sleep(ms))).await {
        Either::Left((value, _)) => Some(value),
        Either::Right(_) => None,
    }
}

/// Copies `text` to the clipboard; answers whether the browser allowed it.
pub async fn copy_text(text: &str) -> bool {
    let Some(window) = web_sys::window() else { return false };
    let promise = window.navigator().clipboard().write_text(text);
    wasm_bindgen_futures::JsFuture::from(promise).await.is_ok()
}
