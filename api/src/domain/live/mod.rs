//! Live views: streams that answer every change to what a subscriber follows.
//!
//! Two sources of change feed each view: changes made through this instance are announced on
//! a broadcast channel ([`Changes`]) and pushed at once; changes made by other instances
//! sharing the store are found by polling the store.
//!
//! Reading is shared: an instance keeps one feed per followed user (polled every
//! [`POLL_EVERY`]) and one for the list (polled every [`LIST_POLL_EVERY`]), however many streams
//! follow them, and stops a feed with its last stream. A user's stream sends a snapshot when it
//! differs from the last one sent. The list's stream sends the whole list once, then only what
//! changed: a local change costs one point read, not a scan. Each stream also checks every
//! poll that its subscriber's key still works: revoking the key (or deleting its user) ends the
//! stream within one poll.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use futures::{Stream, StreamExt, stream};
use tokio::sync::{broadcast, watch};

use super::{Core, Keys, Principal, User, UserId};

mod list;

pub use list::ListChange;
use list::ListFeed;

/// How often a user's feed reads the store to catch changes made by other instances.
pub const POLL_EVERY: Duration = Duration::from_millis(400);
/// How often the list's feed reads the whole list for changes made by other instances.
pub const LIST_POLL_EVERY: Duration = Duration::from_secs(1);

/// The changes made through this instance, by user ID.
#[derive(Clone)]
pub struct Changes {
    sender: broadcast::Sender<UserId>,
}

impl Default for Changes {
    fn default() -> Self {
        Self { sender: broadcast::channel(1024).0 }
    }
}

impl Changes {
    /// Announces that `id` changed (created, re-limited, spent, deleted). Nobody listening is fine.
    pub fn publish(&self, id: &UserId) {
        let _ = self.sender.send(id.clone());
    }

    pub fn subscribe(&self) -> broadcast::Receiver<UserId> {
        self.sender.subscribe()
    }
}

/// Per followed user, the feed its streams share.
type UserFeeds = Arc<Mutex<HashMap<UserId, Arc<watch::Sender<Option<User>>>>>>;

/// This instance's live views.
#[derive(Clone)]
pub struct Live {
    core: Core,
    keys: Keys,
    users: UserFeeds,
    list: Arc<Mutex<Option<Arc<ListFeed>>>>,
}

impl Live {
    pub fn new(core: Core, keys: Keys) -> Self {
        Self { core, keys, users: Arc::default(), list: Arc::default() }
    }

    /// Snapshots of one user for `by`: `first` (the current one), then one per change. Ends
    /// when the user is deleted or `by`'s key stops working.
    pub fn user(&self, by: &Principal, first: User) -> impl Stream<Item = User> + Send + 'static {
        let feed = {
            let mut feeds = self.users.lock().unwrap_or_else(PoisonError::into_inner);
            match feeds.get(&first.id) {
                Some(feed) => feed.subscribe(),
                None => {
                    let (sender, receiver) = watch::channel(Some(first.clone()));
                    let sender = Arc::new(sender);
                    feeds.insert(first.id.clone(), sender.clone());
                    tokio::spawn(self.clone().run_user_feed(first.id.clone(), sender));
                    receiver
                }
            }
        };
        let guard = KeyCheck::new(self.keys.clone(), by.clone());
        let stream =
            stream::unfold((guard, feed, Some(first), None::<User>), |(mut guard, mut feed, first, last)| async move {
                if let Some(first) = first {
                    return Some((first.clone(), (guard, feed, None, Some(first))));
                }
                loop {
                    tokio::select! {
                        valid = guard.tick() => if !valid { return None },
                        changed = feed.changed() => {
                            changed.ok()?;
                            let next = feed.borrow_and_update().clone()?;
                            if last.as_ref() != Some(&next) {
                                return Some((next.clone(), (guard, feed, None, Some(next))));
                            }
                        }
                    }
                }
            });
        stream.take_until(self.core.stopping.clone().cancelled_owned())
    }

    /// Reads one user on every poll and every local change to it, until no stream follows it.
    async fn run_user_feed(self, id: UserId, feed: Arc<watch::Sender<Option<User>>>) {
        let mut changes = self.core.changes.subscribe();
        let mut poll = interval(POLL_EVERY);
        loop {
            tokio::select! {
                () = feed.closed() => {
                    let mut feeds = self.users.lock().unwrap_or_else(PoisonError::into_inner);
                    // A stream may have joined between `closed` and the lock: then go on.
                    if feed.receiver_count() == 0 {
                        feeds.remove(&id);
                        return;
                    }
                    continue;
                }
                _ = poll.tick() => {}
                changed = changes.recv() => match changed {
                    Ok(changed) if changed != id => continue,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => changes = self.core.changes.subscribe(),
                },
            }
            match self.core.accounts.user(&id).await {
                Ok(user) => {
                    feed.send_if_modified(|current| {
                        let changed = *current != user;
                        *current = user;
                        changed
                    });
                }
                // A store hiccup: keep the last snapshot and look again at the next poll.
                Err(err) => tracing::warn!(error = %err, "a live view could not read the store"),
            }
        }
    }
}

fn interval(every: Duration) -> tokio::time::Interval {
    let mut poll = tokio::time::interval(every);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    poll.reset(); // the first snapshot is the current one: the first poll is one period away
    poll
}

/// A stream's check, every poll, that its subscriber's key still works.
struct KeyCheck {
    keys: Keys,
    by: Principal,
    every: tokio::time::Interval,
}

impl KeyCheck {
    fn new(keys: Keys, by: Principal) -> Self {
        Self { keys, by, every: interval(POLL_EVERY) }
    }

    /// Waits for the next check; `false` once the key stopped working. A store hiccup is not a
    /// revocation: it keeps going and asks again next poll.
    async fn tick(&mut self) -> bool {
        self.every.tick().await;
        self.keys.still_valid(&self.by).await.unwrap_or(true)
    }
}

#[cfg(test)]
mod tests;
