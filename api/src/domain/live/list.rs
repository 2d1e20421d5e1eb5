//! The list's live view: one feed per instance holding the whole list, kept current with a
//! point read per local change and a full read per poll, and sending only what changed.

use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, Mutex, PoisonError},
};

use futures::{Stream, StreamExt, stream};
use tokio::sync::broadcast;

use super::{KeyCheck, LIST_POLL_EVERY, Live, interval};
use crate::domain::{Principal, User, UserId};

/// What the list's stream sends: the whole list first (and again after falling behind), then
/// the users that changed and the IDs of those deleted.
#[derive(Debug, Clone, PartialEq)]
pub struct ListChange {
    /// Whether `users` is the whole list (replacing what the subscriber had).
    pub full: bool,
    pub users: Vec<User>,
    pub deleted: Vec<UserId>,
}

/// The list feed's state: the list, and the channel its changes go out on.
pub(super) struct ListFeed {
    users: Mutex<BTreeMap<UserId, User>>,
    changes: broadcast::Sender<Arc<ListChange>>,
}

impl Live {
    /// The list for `by`: `first`, then what changes. Ends when `by`'s key stops working.
    pub fn list(&self, by: &Principal, first: Vec<User>) -> impl Stream<Item = ListChange> + Send + 'static {
        let feed = {
            let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
            match list.as_ref() {
                Some(feed) => feed.clone(),
                None => {
                    let users = first.iter().map(|u| (u.id.clone(), u.clone())).collect();
                    let feed = Arc::new(ListFeed { users: Mutex::new(users), changes: broadcast::channel(256).0 });
                    *list = Some(feed.clone());
                    tokio::spawn(self.clone().run_list_feed(feed.clone()));
                    feed
                }
            }
        };
        let full = |feed: &ListFeed| {
            let users = feed.users.lock().unwrap_or_else(PoisonError::into_inner);
            ListChange { full: true, users: users.values().cloned().collect(), deleted: Vec::new() }
        };
        // Subscribe before taking the first list, so no change falls between them.
        let changes = feed.changes.subscribe();
        let first = full(&feed);
        let guard = KeyCheck::new(self.keys.clone(), by.clone());
        let stream = stream::unfold(
            (guard, feed, changes, Some(first)),
            move |(mut guard, feed, mut changes, first)| async move {
                if let Some(first) = first {
                    return Some((first, (guard, feed, changes, None)));
                }
                loop {
                    tokio::select! {
                        valid = guard.tick() => if !valid { return None },
                        change = changes.recv() => match change {
                            Ok(change) => return Some(((*change).clone(), (guard, feed, changes, None))),
                            Err(broadcast::error::RecvError::Lagged(_)) => {
                                let again = full(&feed);
                                return Some((again, (guard, feed, changes, None)));
                            }
                            Err(broadcast::error::RecvError::Closed) => return None,
                        },
                    }
                }
            },
        );
        stream.take_until(self.core.stopping.clone().cancelled_owned())
    }

    /// Keeps the list current: one point read per local change, a full read per poll; sends
    /// what changed. Stops when no stream follows it.
    async fn run_list_feed(self, feed: Arc<ListFeed>) {
        let mut changes = self.core.changes.subscribe();
        let mut poll = interval(LIST_POLL_EVERY);
        loop {
            let read = tokio::select! {
                _ = poll.tick() => {
                    if feed.changes.receiver_count() == 0 {
                        let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
                        if feed.changes.receiver_count() == 0 {
                            *list = None;
                            return;
                        }
                    }
                    self.core.accounts.users().await.map(Some)
                }
                changed = changes.recv() => match changed {
                    Ok(id) => match self.core.accounts.user(&id).await {
                        Ok(user) => {
                            self.apply(&feed, vec![(id, user)], false);
                            continue;
                        }
                        Err(err) => Err(err),
                    },
                    Err(broadcast::error::RecvError::Lagged(_)) => self.core.accounts.users().await.map(Some),
                    Err(broadcast::error::RecvError::Closed) => {
                        changes = self.core.changes.subscribe();
                        continue;
                    }
                },
            };
            match read {
                Ok(Some(all)) => {
                    let present: Vec<(UserId, Option<User>)> =
                        all.into_iter().map(|u| (u.id.clone(), Some(u))).collect();
                    self.apply(&feed, present, true);
                }
                Ok(None) => {}
                Err(err) => tracing::warn!(error = %err, "the live list could not read the store"),
            }
        }
    }

    /// Applies what was read to the feed's list and sends the difference. With `whole`, users
    /// missing from `read` were deleted.
    fn apply(&self, feed: &ListFeed, read: Vec<(UserId, Option<User>)>, whole: bool) {
        let mut users = feed.users.lock().unwrap_or_else(PoisonError::into_inner);
        let mut change = ListChange { full: false, users: Vec::new(), deleted: Vec::new() };
        if whole {
            let seen: HashSet<&UserId> = read.iter().map(|(id, _)| id).collect();
            let gone: Vec<UserId> = users.keys().filter(|id| !seen.contains(id)).cloned().collect();
            for id in gone {
                users.remove(&id);
                change.deleted.push(id);
            }
        }
        for (id, user) in read {
            match user {
                Some(user) if users.get(&id) != Some(&user) => {
                    users.insert(id, user.clone());
                    change.users.push(user);
                }
                Some(_) => {}
                None => {
                    if users.remove(&id).is_some() {
                        change.deleted.push(id);
                    }
                }
            }
        }
        if !change.users.is_empty() || !change.deleted.is_empty() {
            let _ = feed.changes.send(Arc::new(change));
        }
    }
}
