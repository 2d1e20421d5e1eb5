//! Live views: a stream of snapshots that answers every change to what a subscriber follows.
//!
//! Two sources of change feed each view:
//! - changes made through this instance's [`Tracker`](super::Tracker) are announced on a
//!   broadcast channel ([`Changes`]) and pushed at once;
//! - changes made by other instances sharing the store are found by polling the store every
//!   [`POLL_EVERY`] for exactly what is followed (one user, or the list).
//!
//! Reading is shared: an instance keeps one feed per followed thing, whatever the number of
//! streams following it. A feed reads the store once per poll and once per local change to
//! what it follows, keeps the latest snapshot, and stops when its last stream goes; a stream
//! sends a snapshot only when it differs from the last one it sent. So a hundred dashboards of
//! one user cost one read per poll, and a quiet user costs no traffic. Each stream also checks
//! every poll that its subscriber's key still works: revoking the key (or deleting its user)
//! ends the stream within one poll.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use futures::{Stream, stream};
use tokio::sync::{broadcast, watch};

use super::{Keys, Principal, StoreError, User, UserId, UserStore};

/// How often a feed reads the store to catch changes made by other instances.
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

/// What a feed follows.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Followed {
    One(UserId),
    All,
}

/// What a feed holds: the followed user (`None` once deleted), or the whole list.
#[derive(Clone, PartialEq)]
enum Snapshot {
    One(Option<User>),
    All(Vec<User>),
}

impl Followed {
    fn covers(&self, changed: &UserId) -> bool {
        match self {
            Followed::One(id) => id == changed,
            Followed::All => true,
        }
    }

    async fn read(&self, store: &dyn UserStore) -> Result<Snapshot, StoreError> {
        Ok(match self {
            Followed::One(id) => Snapshot::One(store.get(id).await?),
            Followed::All => Snapshot::All(store.list().await?),
        })
    }
}

type Feed = Arc<watch::Sender<Snapshot>>;

/// This instance's live views: the feeds, and the streams that follow them.
#[derive(Clone)]
pub struct Live {
    store: Arc<dyn UserStore>,
    keys: Keys,
    changes: Changes,
    feeds: Arc<Mutex<HashMap<Followed, Feed>>>,
}

impl Live {
    pub fn new(store: Arc<dyn UserStore>, keys: Keys) -> Self {
        Self { store, keys, changes: Changes::default(), feeds: Arc::default() }
    }

    /// The announcements of changes made through this instance.
    pub fn changes(&self) -> &Changes {
        &self.changes
    }

    /// Snapshots of one user for `by`: `first` (the current one), then one per change. Ends
    /// when the user is deleted or `by`'s key stops working.
    pub fn user(&self, by: &Principal, first: User) -> impl Stream<Item = User> + Send + 'static {
        let feed = self.follow(Followed::One(first.id.clone()), || Snapshot::One(Some(first.clone())));
        self.stream(by, feed, first, |snapshot| match snapshot {
            Snapshot::One(user) => user.clone(),
            Snapshot::All(_) => None,
        })
    }

    /// Snapshots of the whole list for `by`: `first` (the current one), then one per change.
    /// Ends when `by`'s key stops working.
    pub fn list(&self, by: &Principal, first: Vec<User>) -> impl Stream<Item = Vec<User>> + Send + 'static {
        let feed = self.follow(Followed::All, || Snapshot::All(first.clone()));
        self.stream(by, feed, first, |snapshot| match snapshot {
            Snapshot::All(users) => Some(users.clone()),
            Snapshot::One(_) => None,
        })
    }

    /// The feed of `followed`, started (holding `current()`) when there is none yet.
    fn follow(&self, followed: Followed, current: impl FnOnce() -> Snapshot) -> watch::Receiver<Snapshot> {
        let mut feeds = self.feeds.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(feed) = feeds.get(&followed) {
            return feed.subscribe();
        }
        let (sender, receiver) = watch::channel(current());
        let feed = Arc::new(sender);
        feeds.insert(followed.clone(), feed.clone());
        tokio::spawn(self.clone().run_feed(followed, feed));
        receiver
    }

    /// Reads `followed` on every poll and every local change to it, until no stream follows it.
    async fn run_feed(self, followed: Followed, feed: Feed) {
        let mut changes = self.changes.subscribe();
        let mut poll = tokio::time::interval(POLL_EVERY);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        poll.reset(); // the first snapshot is the current one: the first poll is one period away
        loop {
            tokio::select! {
                () = feed.closed() => {
                    let mut feeds = self.feeds.lock().unwrap_or_else(PoisonError::into_inner);
                    // A stream may have joined between `closed` and the lock: then go on.
                    if feed.receiver_count() == 0 {
                        feeds.remove(&followed);
                        return;
                    }
                    continue;
                }
                _ = poll.tick() => {}
                changed = changes.recv() => match changed {
                    Ok(id) if !followed.covers(&id) => continue,
                    // Missed announcements may have covered it: read.
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    // Cannot happen while `self` holds the sender; polling alone would go on.
                    Err(broadcast::error::RecvError::Closed) => changes = self.changes.subscribe(),
                },
            }
            match followed.read(&*self.store).await {
                Ok(snapshot) => {
                    feed.send_if_modified(|current| {
                        let changed = *current != snapshot;
                        *current = snapshot;
                        changed
                    });
                }
                // A store hiccup: keep the last snapshot and look again at the next poll.
                Err(err) => tracing::warn!(error = %err, "a live view could not read the store"),
            }
        }
    }

    /// A subscriber's stream of what `pick` finds in `feed`: `first`, then each different
    /// snapshot. Ends when `pick` finds nothing (the user was deleted) or `by`'s key stops
    /// working.
    fn stream<T>(
        &self,
        by: &Principal,
        feed: watch::Receiver<Snapshot>,
        first: T,
        pick: fn(&Snapshot) -> Option<T>,
    ) -> impl Stream<Item = T> + Send + 'static
    where
        T: Clone + PartialEq + Send + Sync + 'static,
    {
        let mut key_check = tokio::time::interval(POLL_EVERY);
        key_check.reset();
        let state = Following { keys: self.keys.clone(), by: by.clone(), feed, key_check, last: None };
        stream::unfold((state, Some(first)), move |(mut state, first)| async move {
            if let Some(first) = first {
                state.last = Some(first.clone());
                return Some((first, (state, None)));
            }
            loop {
                tokio::select! {
                    _ = state.key_check.tick() => {
                        // A store hiccup is not a revocation: keep going and ask again next poll.
                        if !state.keys.still_valid(&state.by).await.unwrap_or(true) {
                            return None;
                        }
                    }
                    changed = state.feed.changed() => {
                        changed.ok()?;
                        let next = pick(&state.feed.borrow_and_update())?;
                        if state.last.as_ref() != Some(&next) {
                            state.last = Some(next.clone());
                            return Some((next, (state, None)));
                        }
                    }
                }
            }
        })
    }
}

/// One stream's state: whose it is, the feed it follows, what it sent last.
struct Following<T> {
    keys: Keys,
    by: Principal,
    feed: watch::Receiver<Snapshot>,
    key_check: tokio::time::Interval,
    last: Option<T>,
}
