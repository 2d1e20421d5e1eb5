//! `/users…`: the user and usage routes of the seed contract. Handlers parse, call one
//! [`Tracker`] method and shape the answer.

use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};
use serde::Deserialize;

use super::{
    ApiTags,
    body::{self, JsonBody},
    error::ApiResult,
};
use crate::domain::{self, TokenCount, TokenLimit, Tracker, UserId};

pub struct UsersApi {
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
pub struct UserList {
    /// Every user, ordered by ID.
    pub users: Vec<UserView>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct DeletedUser {
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
pub struct CreateUserRequest {
    /// 1–128 characters: letters, digits, `.`, `_`, `-`, `@`.
    #[serde(deserialize_with = "body::string")]
    pub user_id: String,
    /// A positive whole number, at most 2^53.
    #[serde(deserialize_with = "body::whole_number")]
    pub token_limit: u64,
}

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct UpdateLimitRequest {
    /// A positive whole number, at most 2^53.
    #[serde(deserialize_with = "body::whole_number")]
    pub new_limit: u64,
}

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct RecordUsageRequest {
    /// Tokens consumed: a whole number from 0 to 2^53.
    #[serde(deserialize_with = "body::whole_number")]
    pub tokens_consumed: u64,
}

#[derive(ApiResponse)]
pub enum CreatedReply {
    /// The user was created.
    #[oai(status = 201)]
    Created(Json<UserResult>, #[oai(header = "X-Tokens-Remaining")] u64),
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
    /// Creates a user with a token limit and zero usage. Answers 409 if the ID is taken.
    #[oai(path = "/users", method = "post", operation_id = "createUser")]
    async fn create_user(&self, body: JsonBody<CreateUserRequest>) -> ApiResult<CreatedReply> {
        let id = user_id(&body.0.user_id)?;
        let limit = TokenLimit::new("tokenLimit", body.0.token_limit)?;
        let user = self.tracker.create_user(id, limit).await?;
        Ok(CreatedReply::Created(Json((&user).into()), user.remaining_tokens()))
    }

    /// List all users
    ///
    /// Every user with usage, limit, cost and percentage used, ordered by ID.
    #[oai(path = "/users", method = "get", operation_id = "listUsers")]
    async fn list_users(&self) -> ApiResult<Json<UserList>> {
        let users = self.tracker.users().await?;
        Ok(Json(UserList { users: users.iter().map(UserView::from).collect() }))
    }

    /// Get a user's usage
    ///
    /// The user's limit, usage, remaining tokens and cost.
    #[oai(path = "/users/:userId", method = "get", operation_id = "getUser")]
    async fn get_user(&self, #[oai(name = "userId")] id: Path<String>) -> ApiResult<UserReply> {
        let user = self.tracker.user(&user_id(&id)?).await?;
        Ok(UserReply::of(&user))
    }

    /// Update a user's token limit
    ///
    /// Sets a new limit; usage is unchanged. The new limit may be below current usage.
    #[oai(path = "/users/:userId/limit", method = "put", operation_id = "updateUserLimit")]
    async fn update_limit(
        &self,
        #[oai(name = "userId")] id: Path<String>,
        body: JsonBody<UpdateLimitRequest>,
    ) -> ApiResult<UserReply> {
        let id = user_id(&id)?;
        let limit = TokenLimit::new("newLimit", body.0.new_limit)?;
        Ok(UserReply::of(&self.tracker.update_limit(&id, limit).await?))
    }

    /// Delete a user
    ///
    /// Deletes the user and their counters. Answers 404 if there is no such user.
    #[oai(path = "/users/:userId", method = "delete", operation_id = "deleteUser")]
    async fn delete_user(&self, #[oai(name = "userId")] id: Path<String>) -> ApiResult<Json<DeletedUser>> {
        let id = user_id(&id)?;
        self.tracker.delete_user(&id).await?;
        Ok(Json(DeletedUser { success: true, message: "User deleted successfully".into(), user_id: id.to_string() }))
    }

    /// Record token usage
    ///
    /// Atomically adds `tokensConsumed` to the user's usage: concurrent records never lose
    /// an update. Usage that happened elsewhere is recorded even past the limit.
    #[oai(path = "/users/:userId/usage", method = "post", operation_id = "recordUsage")]
    async fn record_usage(
        &self,
        #[oai(name = "userId")] id: Path<String>,
        body: JsonBody<RecordUsageRequest>,
    ) -> ApiResult<UserReply> {
        let id = user_id(&id)?;
        let tokens = TokenCount::new("tokensConsumed", body.0.tokens_consumed)?;
        Ok(UserReply::of(&self.tracker.record_usage(&id, tokens).await?))
    }
}
