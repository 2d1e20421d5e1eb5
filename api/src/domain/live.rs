//! Live views: a stream of snapshots that answers every change to what a subscriber follows.
//!
//! Two sources of change feed each stream:
//! - changes made through this instance's [`Tracker`](super::Tracker) are announced on a
//!   broadcast channel ([`Changes`]) and pushed at once;
//! - changes made by other instances sharing the store are found by polling the store every
//!   [`POLL_EVERY`] for exactly what the subscriber follows (one user, or the list).
//!
//! A snapshot is sent only when it differs from the last one sent, so a quiet user costs one
//! store read per poll and no traffic. Each poll also checks that the subscriber's key still
//! works: revoking it (or deleting its user) ends the stream within one poll.

use std::{sync::Arc, time::Duration};

use futures::{Stream, stream};
use tokio::sync::broadcast;

use super::{Keys, Principal, User, UserId, UserStore};

/// How often a live view reads the store to catch changes made by other instances.
pub const POLL_EVERY: Duration = Duration::from_millis(400);

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

    fn subscribe(&self) -> broadcast::Receiver<UserId> {
        self.sender.subscribe()
    }
}

/// What a live view follows.
#[derive(Clone)]
enum Followed {
    One(UserId),
    All,
}

impl Followed {
    fn covers(&self, changed: &UserId) -> bool {
        match self {
            Followed::One(id) => id == changed,
            Followed::All => true,
        }
    }
}

struct Watch<T> {
    store: Arc<dyn UserStore>,
    keys: Keys,
    principal: Principal,
    followed: Followed,
    changes: broadcast::Receiver<UserId>,
    poll: tokio::time::Interval,
    last: Option<T>,
}

/// Who watches, and with which key.
pub(super) struct Subscriber {
    pub keys: Keys,
    pub principal: Principal,
}

impl<T> Watch<T> {
    fn new(store: Arc<dyn UserStore>, by: Subscriber, changes: &Changes, followed: Followed, first: T) -> Self {
        let mut poll = tokio::time::interval(POLL_EVERY);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        poll.reset(); // the first snapshot is the current one: the first poll is one period away
        let Subscriber { keys, principal } = by;
        Self { store, keys, principal, followed, changes: changes.subscribe(), poll, last: Some(first) }
    }

    /// Waits for a reason to look again: a local change to what is followed, or the poll.
    /// `false` when the stream must end: the subscriber's key no longer works, or this
    /// instance is shutting down.
    async fn next_reason(&mut self) -> bool {
        loop {
            tokio::select! {
                _ = self.poll.tick() => {
                    // A store hiccup is not a revocation: keep going and ask again next poll.
                    return self.keys.still_valid(&self.principal).await.unwrap_or(true);
                }
                changed = self.changes.recv() => match changed {
                    Ok(id) if self.followed.covers(&id) => return true,
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(_)) => return true,
                    Err(broadcast::error::RecvError::Closed) => return false,
                },
            }
        }
    }
}

/// Snapshots of one user: the current one first, then one per change. Ends when the user is
/// deleted or the subscriber's key stops working.
pub(super) fn user_snapshots(
    store: Arc<dyn UserStore>,
    by: Subscriber,
    changes: &Changes,
    first: User,
) -> impl Stream<Item = User> + Send + 'static {
    let id = first.id.clone();
    let watch = Watch::new(store, by, changes, Followed::One(id.clone()), first);
    stream::unfold((watch, true), move |(mut watch, first)| {
        let id = id.clone();
        async move {
            if first {
                let user = watch.last.clone()?;
                return Some((user, (watch, false)));
            }
            loop {
                if !watch.next_reason().await {
                    return None;
                }
                match watch.store.get(&id).await {
                    Ok(Some(user)) if watch.last.as_ref() != Some(&user) => {
                        watch.last = Some(user.clone());
                        return Some((user, (watch, false)));
                    }
                    Ok(Some(_)) => continue,
                    Ok(None) => return None,
                    // A store hiccup: keep the last snapshot and look again at the next poll.
                    Err(err) => tracing::warn!(error = %err, user = %id, "live view could not read the store"),
                }
            }
        }
    })
}

/// Snapshots of the whole user list: the current one first, then one per change.
pub(super) fn list_snapshots(
    store: Arc<dyn UserStore>,
    by: Subscriber,
    changes: &Changes,
    first: Vec<User>,
) -> impl Stream<Item = Vec<User>> + Send + 'static {
    let watch = Watch::new(store, by, changes, Followed::All, first);
    stream::unfold((watch, true), |(mut watch, first)| async move {
        if first {
            let users = watch.last.clone()?;
            return Some((users, (watch, false)));
        }
        loop {
            if !watch.next_reason().await {
                return None;
            }
            match watch.store.list().await {
                Ok(users) if watch.last.as_ref() != Some(&users) => {
                    watch.last = Some(users.clone());
                    return Some((users, (watch, false)));
                }
                Ok(_) => continue,
                Err(err) => tracing::warn!(error = %err, "live list could not read the store"),
            }
        }
    })
}
