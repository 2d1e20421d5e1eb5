//! `/users…`: the user and usage routes of the seed contract. Handlers parse, call one
//! [`Tracker`] method and shape the answer.

use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};
use serde::Deserialize;

use super::{
    ApiTags,
    auth::Caller,
    body::{self, JsonBody},
    error::ApiResult,
    keys::IssuedKeyBody,
};
use crate::domain::{self, TokenCount, TokenLimit, Tracker, UserId};

pub(super) struct UsersApi {
    pub tracker: Tracker,
}

/// A user's account as the API shows it.
#[derive(Debug, Clone, Object)]
#[oai(rename = "User", rename_all = "camelCase")]
pub struct UserView {
    /// The user's ID.
    pub user_id: String,
    /// The most tokens the user may consume.
    pub token_limit: u64,
    /// Tokens consumed so far.
    pub token_usage: u64,
    /// What the user's model calls cost so far, in US dollars.
    pub total_cost: f64,
    /// When the account last changed (ISO-8601, UTC).
    pub last_updated: String,
    /// `max(0, tokenLimit − tokenUsage)`.
    pub remaining_tokens: u64,
    /// `tokenUsage / tokenLimit × 100`; above 100 once recorded usage passed the limit.
    pub percentage_used: f64,
}

impl From<&domain::User> for UserView {
    fn from(user: &domain::User) -> Self {
        Self {
            user_id: user.id.to_string(),
            token_limit: user.token_limit.get(),
            token_usage: user.token_usage,
            total_cost: user.total_cost.dollars(),
            last_updated: user.last_updated.to_string(),
            remaining_tokens: user.remaining_tokens(),
            percentage_used: user.percentage_used(),
        }
    }
}

/// A user, answered in both shapes clients of earlier systems expect: the user's fields at
/// the top level, and `{success, user}`.
#[derive(Debug, Clone, Object)]
#[oai(rename = "UserResult", rename_all = "camelCase")]
pub struct UserResult {
    /// Always `true`: the request succeeded.
    pub success: bool,
    // No doc comment: it would wrap the `$ref` in `allOf`, which code generators mangle.
    pub user: UserView,
    #[oai(flatten)]
    pub fields: UserView,
}

impl From<&domain::User> for UserResult {
    fn from(user: &domain::User) -> Self {
        let view = UserView::from(user);
        Self { success: true, user: view.clone(), fields: view }
    }
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct UserList {
    /// Every user, ordered by ID.
    pub users: Vec<UserView>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct DeletedUser {
    /// Always `true`: the user was deleted.
    pub success: bool,
    /// `User deleted successfully`.
    pub message: String,
    /// The ID of the deleted user.
    pub user_id: String,
}

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateUserRequest {
    /// 1–128 characters: letters, digits, `.`, `_`, `-`, `@`.
    #[serde(deserialize_with = "body::string")]
    pub user_id: String,
    /// A positive whole number, at most 2^53.
    #[serde(deserialize_with = "body::whole_number")]
    pub token_limit: u64,
    /// Also issue the user's first API key (answered once, in `apiKey`).
    #[serde(default, deserialize_with = "body::optional_bool")]
    pub issue_key: Option<bool>,
}

/// A user just created, with the user's first API key when one was asked for.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct CreatedUser {
    #[oai(flatten)]
    pub result: UserResult,
    #[oai(skip_serializing_if_is_none)]
    pub api_key: Option<IssuedKeyBody>,
}

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateLimitRequest {
    /// A positive whole number, at most 2^53.
    #[serde(deserialize_with = "body::whole_number")]
    pub new_limit: u64,
}

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub(super) struct RecordUsageRequest {
    /// Tokens consumed: a whole number from 0 to 2^53.
    #[serde(deserialize_with = "body::whole_number")]
    pub tokens_consumed: u64,
}

#[derive(ApiResponse)]
pub enum CreatedReply {
    /// The user was created.
    #[oai(status = 201)]
    Created(Json<CreatedUser>, #[oai(header = "X-Tokens-Remaining")] u64),
}

#[derive(ApiResponse)]
pub enum UserReply {
    /// The user.
    #[oai(status = 200)]
    Ok(Json<UserResult>, #[oai(header = "X-Tokens-Remaining")] u64),
}

impl UserReply {
    fn of(user: &domain::User) -> Self {
        Self::Ok(Json(user.into()), user.remaining_tokens())
    }
}

fn user_id(raw: &str) -> ApiResult<UserId> {
    Ok(UserId::parse("userId", raw)?)
}

#[OpenApi(tag = "ApiTags::Users")]
impl UsersApi {
    /// Create a user
    ///
    /// Admin only. Creates a user with a token limit and zero usage, and with `issueKey: true`
    /// the user's first API key. Answers 409 if the ID is taken.
    #[oai(path = "/users", method = "post", operation_id = "createUser")]
    async fn create_user(&self, caller: Caller, body: JsonBody<CreateUserRequest>) -> ApiResult<CreatedReply> {
        let id = user_id(&body.0.user_id)?;
        let limit = TokenLimit::new("tokenLimit", body.0.token_limit)?;
        let issue_key = body.0.issue_key.unwrap_or(false);
        let (user, key) = self.tracker.create_user(&caller.0, id, limit, issue_key).await?;
        let created = CreatedUser { result: (&user).into(), api_key: key.as_ref().map(IssuedKeyBody::from) };
        Ok(CreatedReply::Created(Json(created), user.remaining_tokens()))
    }

    /// List all users
    ///
    /// Admin only. Every user with usage, limit, cost and percentage used, ordered by ID.
    #[oai(path = "/users", method = "get", operation_id = "listUsers")]
    async fn list_users(&self, caller: Caller) -> ApiResult<Json<UserList>> {
        let users = self.tracker.users(&caller.0).await?;
        Ok(Json(UserList { users: users.iter().map(UserView::from).collect() }))
    }

    /// Get a user's usage
    ///
    /// The user's limit, usage, remaining tokens and cost. Admins, or the user's own key.
    #[oai(path = "/users/:userId", method = "get", operation_id = "getUser")]
    async fn get_user(&self, caller: Caller, #[oai(name = "userId")] id: Path<String>) -> ApiResult<UserReply> {
        let user = self.tracker.user(&caller.0, &user_id(&id)?).await?;
        Ok(UserReply::of(&user))
    }

    /// Update a user's token limit
    ///
    /// Admin only. Sets a new limit; usage is unchanged. The new limit may be below current usage.
    #[oai(path = "/users/:userId/limit", method = "put", operation_id = "updateUserLimit")]
    async fn update_limit(
        &self,
        caller: Caller,
        #[oai(name = "userId")] id: Path<String>,
        body: JsonBody<UpdateLimitRequest>,
    ) -> ApiResult<UserReply> {
        let id = user_id(&id)?;
        let limit = TokenLimit::new("newLimit", body.0.new_limit)?;
        Ok(UserReply::of(&self.tracker.update_limit(&caller.0, &id, limit).await?))
    }

    /// Delete a user
    ///
    /// Admin only. Deletes the user and their counters and revokes their keys. Answers 404 if
    /// there is no such user.
    #[oai(path = "/users/:userId", method = "delete", operation_id = "deleteUser")]
    async fn delete_user(
        &self,
        caller: Caller,
        #[oai(name = "userId")] id: Path<String>,
    ) -> ApiResult<Json<DeletedUser>> {
        let id = user_id(&id)?;
        self.tracker.delete_user(&caller.0, &id).await?;
        Ok(Json(DeletedUser { success: true, message: "User deleted successfully".into(), user_id: id.to_string() }))
    }

    /// Record token usage
    ///
    /// Atomically adds `tokensConsumed` to the user's usage: concurrent records never lose
    /// an update. Usage that happened elsewhere is recorded even past the limit. Admins, or
    /// the user's own key.
    #[oai(path = "/users/:userId/usage", method = "post", operation_id = "recordUsage")]
    async fn record_usage(
        &self,
        caller: Caller,
        #[oai(name = "userId")] id: Path<String>,
        body: JsonBody<RecordUsageRequest>,
    ) -> ApiResult<UserReply> {
        let id = user_id(&id)?;
        let tokens = TokenCount::new("tokensConsumed", body.0.tokens_consumed)?;
        Ok(UserReply::of(&self.tracker.record_usage(&caller.0, &id, tokens).await?))
    }
}
