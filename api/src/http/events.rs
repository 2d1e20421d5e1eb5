//! Live usage over server-sent events: one user's snapshots, or the whole list, pushed on
//! every change. The domain decides when something changed ([`crate::domain::live`]); this
//! file only frames the snapshots as SSE.

use std::time::Duration;

use futures::{StreamExt, stream::BoxStream};
use poem_openapi::{OpenApi, param::Path, payload::EventStream};

use super::{
    ApiTags,
    auth::Caller,
    error::ApiResult,
    users::{UserList, UserView},
};
use crate::domain::{Tracker, UserId};

pub(super) struct EventsApi {
    pub tracker: Tracker,
}

/// A comment line this often keeps proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[OpenApi(tag = "ApiTags::Users")]
impl EventsApi {
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
        #[oai(name = "userId")] id: Path<String>,
    ) -> ApiResult<EventStream<BoxStream<'static, UserView>>> {
        let id = UserId::parse("userId", &id)?;
        let snapshots = self.tracker.watch_user(&caller.0, &id).await?;
        Ok(EventStream::new(snapshots.map(|user| UserView::from(&user)).boxed()).keep_alive(KEEP_ALIVE))
    }

    /// Follow every user's usage live
    ///
    /// Admin only. A `text/event-stream` of the whole user list (as `GET /users` answers it):
    /// the current one at once, then one after every change to any user (created, deleted,
    /// usage recorded, limit changed), made through any instance, within about half a second.
    /// The stream ends when the key is revoked.
    #[oai(path = "/events/users", method = "get", operation_id = "usersEvents")]
    async fn users_events(&self, caller: Caller) -> ApiResult<EventStream<BoxStream<'static, UserList>>> {
        let lists = self.tracker.watch_users(&caller.0).await?;
        let lists = lists.map(|users| UserList { users: users.iter().map(UserView::from).collect() });
        Ok(EventStream::new(lists.boxed()).keep_alive(KEEP_ALIVE))
    }
}
