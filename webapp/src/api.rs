//! Everything the app knows about talking to the service: the signed-in session, error
//! sentences, and live views (server-sent events with polling as the fallback). All requests
//! go through the generated `tokenmeter-client`.

use futures::StreamExt;
use sycamore::prelude::*;
use tokenmeter_client::{
    Client, Error,
    types::{ErrorBody, KeyRole as Role, User},
};

/// Where the key is kept for the browser session (cleared on sign-out or when the tab closes).
const STORAGE_KEY: &str = "tokenmeter.apiKey";

/// How often a view polls when the live stream is unavailable.
pub const POLL_MS: i32 = 5000;

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

fn storage() -> Option<web_sys::Storage> {
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
pub async fn sign_in(key: &str) -> Result<Auth, String> {
    let key = key.trim();
    if key.is_empty() {
        return Err("Enter your API key.".into());
    }
    let client = Client::with_api_key(&base_url(), key).map_err(|e| format!("{e}."))?;
    let me = client.who_am_i().await.map_err(|e| describe(&e))?.into_inner();
    let who = match (me.role, me.user_id) {
        (Role::Admin, _) => Who::Admin,
        (Role::User, Some(id)) => Who::User(id),
        (Role::User, None) => return Err("This key belongs to no user; ask an administrator for a new one.".into()),
    };
    Ok(Auth { key: key.to_owned(), who, client })
}

/// A failed request, in words: the `message` of our error body, or what went wrong on the way.
pub fn describe(err: &Error<ErrorBody>) -> String {
    match err {
        Error::ErrorResponse(body) => body.message.clone(),
        Error::CommunicationError(_) => {
            "Could not reach the tokenmeter service. Check that it is running and your connection, then try again."
                .into()
        }
        Error::UnexpectedResponse(response) => {
            format!("The service answered unexpectedly (HTTP {}). Try again.", response.status().as_u16())
        }
        other => format!("The request failed: {other}."),
    }
}

/// Waits `ms` milliseconds (a browser timer).
pub async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// A value a view loads.
#[derive(Clone, Debug, PartialEq)]
pub enum Load<T> {
    Loading,
    Ready(T),
    Failed(String),
}

/// How a live view currently gets its updates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    Connecting,
    /// Server-sent events: changes arrive within a second.
    Live,
    /// The stream is unavailable: polling every five seconds.
    Polling,
}

/// Splits server-sent events out of `buffer`, leaving an incomplete event in it, and answers
/// the `data` of each complete one.
pub fn take_events(buffer: &mut String) -> Vec<String> {
    let mut events = Vec::new();
    loop {
        let normalized = buffer.replace("\r\n", "\n");
        *buffer = normalized;
        let Some(end) = buffer.find("\n\n") else { break };
        let event: String = buffer.drain(..end + 2).collect();
        let data: Vec<&str> = event
            .lines()
            .filter_map(|line| line.strip_prefix("data:").map(|d| d.strip_prefix(' ').unwrap_or(d)))
            .collect();
        if !data.is_empty() {
            events.push(data.join("\n"));
        }
    }
    events
}

/// Follows one user: the stream of `GET /users/{id}/events`, falling back to polling
/// `GET /users/{id}` every five seconds while the stream is unavailable. Stops when the
/// calling scope is disposed.
pub fn follow_user(client: Client, id: String, state: Signal<Load<User>>, link: Signal<Link>) {
    sycamore::futures::spawn_local_scoped(async move {
        loop {
            link.set(Link::Connecting);
            let delivered = match within(OPEN_MS, client.user_events(&id)).await {
                Some(Ok(response)) => {
                    read_stream(response.into_inner(), link, |user: User| state.set(Load::Ready(user))).await
                }
                _ => false,
            };
            link.set(Link::Polling);
            for _ in 0..polls_before_retry(delivered) {
                match client.get_user(&id).await {
                    Ok(found) => state.set(Load::Ready(found.into_inner().user)),
                    Err(err) => state.set(Load::Failed(describe(&err))),
                }
                sleep(POLL_MS).await;
            }
        }
    });
}

/// Follows the user list the same way (`GET /events/users`, falling back to `GET /users`).
pub fn follow_users(client: Client, state: Signal<Load<Vec<User>>>, link: Signal<Link>) {
    sycamore::futures::spawn_local_scoped(async move {
        loop {
            link.set(Link::Connecting);
            let delivered = match within(OPEN_MS, client.users_events()).await {
                Some(Ok(response)) => {
                    // The whole list first; then only what changed, merged in.
                    read_stream(response.into_inner(), link, |change: tokenmeter_client::types::UsersChanged| {
                        state.update(|loaded| apply_change(loaded, change))
                    })
                    .await
                }
                _ => false,
            };
            link.set(Link::Polling);
            for _ in 0..polls_before_retry(delivered) {
                match client.list_users().await {
                    Ok(list) => state.set(Load::Ready(list.into_inner().users)),
                    Err(err) => state.set(Load::Failed(describe(&err))),
                }
                sleep(POLL_MS).await;
            }
        }
    });
}

/// Applies a change of the user list's stream to the list on screen.
fn apply_change(loaded: &mut Load<Vec<User>>, change: tokenmeter_client::types::UsersChanged) {
    let users = match loaded {
        Load::Ready(users) if !change.full => users,
        _ => {
            *loaded = Load::Ready(change.users);
            return;
        }
    };
    users.retain(|u| !change.deleted.contains(&u.user_id));
    for changed in change.users {
        match users.binary_search_by(|u| u.user_id.cmp(&changed.user_id)) {
            Ok(at) => users[at] = changed,
            Err(at) => users.insert(at, changed),
        }
    }
}

/// How long opening a stream may take (a proxy that buffers responses, such as API Gateway,
/// answers only when the response is complete: never, for a stream).
const OPEN_MS: i32 = 3000;

/// After a stream that worked and then ended (a restart, a dropped connection), one poll and
/// the stream again; after a stream that never worked, poll every 5 s for 30 s first.
fn polls_before_retry(delivered: bool) -> usize {
    if delivered { 1 } else { 6 }
}

/// `future`, or `None` when it takes longer than `ms`.
async fn within<T>(ms: i32, future: impl std::future::Future<Output = T>) -> Option<T> {
    use futures::future::{Either, select};
    match select(Box::pin(future), Box::pin(sleep(ms))).await {
        Either::Left((value, _)) => Some(value),
        Either::Right(_) => None,
    }
}

/// Reads JSON events from a server-sent-events body until it ends or fails; the first must
/// arrive within [`OPEN_MS`]. Answers whether any arrived. Marks the view live from the first.
async fn read_stream<T: serde::de::DeserializeOwned>(
    body: tokenmeter_client::ByteStream,
    link: Signal<Link>,
    mut on_event: impl FnMut(T),
) -> bool {
    let mut stream = body.into_inner();
    let mut buffer = String::new();
    let mut pending = Vec::new();
    let mut delivered = false;
    loop {
        let chunk = if delivered { stream.next().await } else { within(OPEN_MS, stream.next()).await.flatten() };
        let Some(Ok(bytes)) = chunk else { return delivered };
        pending.extend_from_slice(&bytes);
        append_utf8(&mut buffer, &mut pending);
        for data in take_events(&mut buffer) {
            if let Ok(value) = serde_json::from_str::<T>(&data) {
                if !delivered {
                    delivered = true;
                    link.set(Link::Live);
                }
                on_event(value);
            }
        }
    }
}

/// Moves the complete UTF-8 text of `pending` into `buffer`, keeping a character split
/// across chunks for the next one.
pub fn append_utf8(buffer: &mut String, pending: &mut Vec<u8>) {
    match std::str::from_utf8(pending) {
        Ok(text) => buffer.push_str(text),
        Err(err) if err.error_len().is_none() => {
            let valid = err.valid_up_to();
            buffer.push_str(&String::from_utf8_lossy(&pending[..valid]));
            pending.drain(..valid);
            return;
        }
        Err(_) => buffer.push_str(&String::from_utf8_lossy(pending)),
    }
    pending.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_across_chunks_survives() {
        let text = "data: {\"userId\": \"zoë\"}\n\n".as_bytes();
        let split = text.iter().position(|&b| b == 0xc3).unwrap() + 1;
        let (mut buffer, mut pending) = (String::new(), text[..split].to_vec());
        append_utf8(&mut buffer, &mut pending);
        assert_eq!(pending.len(), 1);
        pending.extend_from_slice(&text[split..]);
        append_utf8(&mut buffer, &mut pending);
        assert_eq!(take_events(&mut buffer), vec!["{\"userId\": \"zoë\"}".to_owned()]);
    }

    #[test]
    fn events_are_split_at_blank_lines_and_partial_ones_wait() {
        let mut buffer = String::from(": keep-alive\n\ndata: {\"a\":1}\n\ndata: {\"b\"");
        assert_eq!(take_events(&mut buffer), vec!["{\"a\":1}".to_owned()]);
        assert_eq!(buffer, "data: {\"b\"");
        buffer.push_str(":2}\r\n\r\n");
        assert_eq!(take_events(&mut buffer), vec!["{\"b\":2}".to_owned()]);
        assert!(buffer.is_empty());
    }
}
