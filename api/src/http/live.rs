//! Live usage over server-sent events: one user's snapshots, or the whole list, pushed on
//! every change. The domain decides when something changed ([`crate::domain::live`]); this
//! file only frames the snapshots as SSE.

use std::time::Duration;

use futures::{StreamExt, stream::BoxStream};
use poem_openapi::{OpenApi, param::Path, payload::EventStream};

use poem_openapi::Object;

use super::{
    ApiTags,
    auth::Caller,
    error::{ADMIN, AUTH, ApiResult, ONE_USER, codes},
    params::user_id,
    strings::UserIdPath,
    users::UserView,
};
use crate::domain::{Tracker, live::ListChange};

pub(super) struct LiveApi {
    pub(super) tracker: Tracker,
}

/// What changed in the user list: first the whole list (`full: true`, also sent again after a
/// subscriber fell behind), then only the users that changed and the IDs of those deleted.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct UsersChanged {
    /// Whether `users` is the whole list, replacing what the subscriber had.
    full: bool,
    /// The users created or changed (every user when `full`), ordered by ID.
    users: Vec<UserView>,
    /// The IDs of users deleted.
    deleted: Vec<String>,
}

impl From<ListChange> for UsersChanged {
    fn from(change: ListChange) -> Self {
        Self {
            full: change.full,
            users: change.users.iter().map(UserView::from).collect(),
            deleted: change.deleted.iter().map(ToString::to_string).collect(),
        }
    }
}

codes!(UserEvents: AUTH, ONE_USER);
codes!(UsersEvents: AUTH, ADMIN);

/// A comment line this often keeps proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[OpenApi(tag = "ApiTags::Users")]
impl LiveApi {
    /// Follow a user's usage live
    ///
    /// A `text/event-stream` of the user's snapshot (the `User` object, as `GET /users/{userId}`
    /// answers it): the current one at once, then one after every change (usage recorded,
    /// limit changed), made through any instance, within about half a second. The stream ends
    /// when the user is deleted or the key is revoked. Admins, or the user's own key. Where
    /// streaming is not available, poll `GET /users/{userId}` instead.
    #[oai(path = "/users/:userId/events", method = "get", operation_id = "userEvents")]
    async fn user_events(
        &self,
        caller: Caller,
        #[oai(name = "userId")] id: Path<UserIdPath>,
    ) -> ApiResult<EventStream<BoxStream<'static, UserView>>, UserEvents> {
        let id = user_id(&id)?;
        let snapshots = self.tracker.watch_user(&caller.0, &id).await?;
        Ok(EventStream::new(snapshots.map(|user| UserView::from(&user)).boxed()).keep_alive(KEEP_ALIVE))
    }

    /// Follow every user's usage live
    ///
    /// Admin only. A `text/event-stream` of the user list: the whole list at once
    /// (`full: true`), then after every change to any user (created, deleted, usage recorded,
    /// limit changed), made through this instance at once or through any other within about a
    /// second, only what changed. The stream ends when the key is revoked.
    #[oai(path = "/events/users", method = "get", operation_id = "usersEvents")]
    async fn users_events(
        &self,
        caller: Caller,
    ) -> ApiResult<EventStream<BoxStream<'static, UsersChanged>>, UsersEvents> {
        let changes = self.tracker.watch_users(&caller.0).await?;
        Ok(EventStream::new(changes.map(UsersChanged::from).boxed()).keep_alive(KEEP_ALIVE))
    }
}
