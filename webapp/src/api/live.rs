//! Live views: figures that follow the service. A view opens the service's event stream
//! (changes arrive within a second) and, where the stream cannot work (a proxy that buffers
//! whole responses, such as API Gateway), polls every five seconds instead.
//!
//! What is on screen is never removed by a failure: the last figures stay, with the time they
//! are from, while the link says "Reconnecting…". A stream that drops (a restart, a network
//! blip) is opened again after 250 ms, then after twice as long each time, never more than
//! 2 s apart, so the figures are live again within about 2 s of the service's return.

use futures::StreamExt;
use sycamore::prelude::*;
use tokenmeter_client::{
    ByteStream, Client,
    types::{User, UsersChanged},
};

use super::{ApiError, append_utf8, now_ms, sleep, take_events, within};

/// How often a view polls when the live stream is unavailable.
pub const POLL_MS: i32 = 5000;
/// How long opening a stream (and its first event) may take before the view polls instead:
/// a proxy that buffers responses answers a stream only when it ends, which is never.
const OPEN_MS: i32 = 3000;
/// The first wait before opening a dropped stream again; it doubles up to [`MAX_BACKOFF_MS`].
const FIRST_RETRY_MS: i32 = 250;
const MAX_BACKOFF_MS: i32 = 2000;
/// Polls before trying the stream again, in polling mode (30 s).
const POLLS_BEFORE_STREAM: usize = 6;

/// How a live view currently gets its updates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// Opening the stream; nothing shown yet.
    Connecting,
    /// Server-sent events: changes arrive within a second.
    Live,
    /// The stream is unavailable here: polling every five seconds.
    Polling,
    /// The service cannot be reached: the figures shown are the last known ones.
    Reconnecting,
}

/// The state of a live view: the last known value, how it is kept up to date, when it was
/// last confirmed, and the service's last refusal (a deleted user, a revoked key).
pub struct Live<T: 'static> {
    pub value: Signal<Option<T>>,
    pub link: Signal<Link>,
    pub error: Signal<Option<ApiError>>,
    /// Until when `value` is known to be current (browser clock, ms): its last confirmation,
    /// or the moment a live stream that kept it current dropped.
    pub as_of: Signal<f64>,
    /// The browser clock, ticking every second, so ages shown stay current.
    pub now: Signal<f64>,
}

impl<T: 'static> Clone for Live<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: 'static> Copy for Live<T> {}

impl<T: Clone + 'static> Live<T> {
    /// A view with nothing loaded yet; its clock stops with the calling scope.
    pub fn new() -> Self {
        let now = create_signal(now_ms());
        sycamore::futures::spawn_local_scoped(async move {
            loop {
                sleep(1000).await;
                now.set(now_ms());
            }
        });
        Self {
            value: create_signal(None),
            link: create_signal(Link::Connecting),
            error: create_signal(None),
            as_of: create_signal(0.0),
            now,
        }
    }

    /// The service confirmed `value`.
    pub fn got(self, value: T) {
        self.value.set(Some(value));
        self.confirmed();
    }

    /// The service confirmed what is shown.
    fn confirmed(self) {
        self.as_of.set(now_ms());
        self.error.set(None);
    }

    /// A change the app made itself (the answer of a create, an update, a delete).
    pub fn change(self, f: impl FnOnce(&mut T)) {
        self.value.update(|value| {
            if let Some(value) = value {
                f(value);
            }
        });
    }

    /// Whole seconds since the figures were last confirmed.
    pub fn age_secs(self) -> u64 {
        ((self.now.get() - self.as_of.get()).max(0.0) / 1000.0) as u64
    }

    /// Keeps the view up to date: the stream `open` opens, each event applied to what is
    /// shown by `apply` (false: not an event it understands), or `poll` every five seconds
    /// where the stream cannot work. Stops with the calling scope.
    fn follow<OF, PF>(
        self,
        open: impl Fn() -> OF + 'static,
        apply: impl Fn(&str, &mut Option<T>) -> bool + 'static,
        poll: impl Fn() -> PF + 'static,
    ) where
        OF: Future<Output = Result<ByteStream, ApiError>>,
        PF: Future<Output = Result<T, ApiError>>,
    {
        sycamore::futures::spawn_local_scoped(async move {
            let mut backoff = FIRST_RETRY_MS;
            loop {
                let outcome = match within(OPEN_MS, open()).await {
                    Some(Ok(body)) => read_stream(body, self, &apply).await,
                    Some(Err(err)) => Outcome::Failed(err),
                    None => Outcome::Silent,
                };
                match outcome {
                    Outcome::Delivered => {
                        // It worked and ended: the service restarted or the network dropped.
                        backoff = FIRST_RETRY_MS;
                        self.lost();
                        sleep(backoff).await;
                    }
                    Outcome::Failed(ApiError::Unreachable) => {
                        self.lost();
                        sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF_MS);
                    }
                    Outcome::Failed(err) => {
                        // The service refused (a deleted user, a revoked key): say so, keep
                        // what is shown, and ask again in a while.
                        self.error.set(Some(err));
                        sleep(POLL_MS).await;
                    }
                    Outcome::Silent => {
                        backoff = FIRST_RETRY_MS;
                        self.poll_for_a_while(&poll).await;
                    }
                }
            }
        });
    }

    /// The figures shown (if any) are now the last known ones. A live stream kept them
    /// current up to this moment, so their age counts from here.
    fn lost(self) {
        if self.link.get_untracked() == Link::Live {
            self.as_of.set(now_ms());
        }
        self.link.set(if self.value.with_untracked(Option::is_some) { Link::Reconnecting } else { Link::Connecting });
    }

    /// Polling mode: a poll every five seconds for half a minute, or until the service
    /// cannot be reached (then the stream is tried again, with backoff).
    async fn poll_for_a_while<PF: Future<Output = Result<T, ApiError>>>(self, poll: &impl Fn() -> PF) {
        self.link.set(Link::Polling);
        for _ in 0..POLLS_BEFORE_STREAM {
            match poll().await {
                Ok(value) => {
                    self.got(value);
                    self.link.set(Link::Polling);
                }
                Err(ApiError::Unreachable) => {
                    self.lost();
                    return;
                }
                Err(err) => self.error.set(Some(err)),
            }
            sleep(POLL_MS).await;
        }
    }
}

impl<T: Clone + 'static> Default for Live<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// How reading a stream ended.
enum Outcome {
    /// Events arrived, then the stream ended or broke.
    Delivered,
    /// Nothing arrived in time: the stream cannot work here (a buffering proxy).
    Silent,
    /// It could not be opened.
    Failed(ApiError),
}

/// Reads JSON events until the stream ends or fails; the first must arrive within
/// [`OPEN_MS`]. Marks the view live from the first.
async fn read_stream<T: Clone + 'static>(
    body: ByteStream,
    live: Live<T>,
    apply: &impl Fn(&str, &mut Option<T>) -> bool,
) -> Outcome {
    let mut stream = body.into_inner();
    let (mut buffer, mut pending) = (String::new(), Vec::new());
    let mut delivered = false;
    loop {
        let chunk = if delivered { stream.next().await } else { within(OPEN_MS, stream.next()).await.flatten() };
        let Some(Ok(bytes)) = chunk else {
            return if delivered { Outcome::Delivered } else { Outcome::Silent };
        };
        pending.extend_from_slice(&bytes);
        append_utf8(&mut buffer, &mut pending);
        for data in take_events(&mut buffer) {
            let mut applied = false;
            live.value.update(|shown| applied = apply(&data, shown));
            if applied {
                if !delivered {
                    delivered = true;
                    live.link.set(Link::Live);
                }
                live.confirmed();
            }
        }
    }
}

/// Follows one user: `GET /users/{id}/events`, or `GET /users/{id}` every five seconds.
pub fn follow_user(client: Client, id: String, live: Live<User>) {
    let (stream_client, stream_id) = (client.clone(), id.clone());
    live.follow(
        move || {
            let (client, id) = (stream_client.clone(), stream_id.clone());
            async move { Ok(client.user_events(&id).await?.into_inner()) }
        },
        |data, shown| match serde_json::from_str::<User>(data) {
            Ok(user) => {
                *shown = Some(user);
                true
            }
            Err(_) => false,
        },
        move || {
            let (client, id) = (client.clone(), id.clone());
            async move { Ok(client.get_user(&id).await?.into_inner().user) }
        },
    );
}

/// Follows the user list: `GET /events/users` (the whole list, then what changed), or
/// `GET /users` every five seconds.
pub fn follow_users(client: Client, live: Live<Vec<User>>) {
    let stream_client = client.clone();
    live.follow(
        move || {
            let client = stream_client.clone();
            async move { Ok(client.users_events().await?.into_inner()) }
        },
        |data, shown| match serde_json::from_str::<UsersChanged>(data) {
            Ok(change) => {
                apply_change(shown, change);
                true
            }
            Err(_) => false,
        },
        move || {
            let client = client.clone();
            async move { Ok(client.list_users().await?.into_inner().users) }
        },
    );
}

/// Applies a change of the user list's stream to the list shown: the whole list replaces it;
/// otherwise the changed users are put in place (the list is ordered by ID) and the deleted
/// ones removed.
fn apply_change(shown: &mut Option<Vec<User>>, change: UsersChanged) {
    let users = match shown {
        Some(users) if !change.full => users,
        _ => {
            *shown = Some(change.users);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, usage: u64) -> User {
        User {
            user_id: id.into(),
            token_limit: 1000,
            token_usage: usage,
            total_cost: 0.0,
            last_updated: "2026-01-01T00:00:00.000Z".into(),
            remaining_tokens: 1000 - usage,
            percentage_used: usage as f64 / 10.0,
            held_tokens: 0,
            request_count: 0,
            tier: None,
        }
    }

    #[test]
    fn the_list_takes_the_whole_list_then_only_what_changed() {
        let mut shown = None;
        let full = UsersChanged { full: true, users: vec![user("a", 1), user("c", 3)], deleted: vec![] };
        apply_change(&mut shown, full);
        let change = UsersChanged { full: false, users: vec![user("b", 2), user("c", 30)], deleted: vec!["a".into()] };
        apply_change(&mut shown, change);
        let ids: Vec<_> = shown.unwrap().into_iter().map(|u| (u.user_id, u.token_usage)).collect();
        assert_eq!(ids, [("b".to_owned(), 2), ("c".to_owned(), 30)]);
    }
}
