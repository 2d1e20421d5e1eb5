//! `/users…`: the user and usage routes of the seed contract. Handlers parse, call one domain
//! method and shape the answer.

use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Path},
    payload::Json,
};
use serde::Deserialize;

use super::{
    ApiTags,
    auth::Caller,
    body::{self, JsonBody},
    error::{ADMIN, AUTH, ApiResult, IDEMPOTENT, INPUT, ONE_USER, codes},
    keys::IssuedKeyBody,
    params::{idempotency_key, user_id},
    strings::{GuestKeyText, IdempotencyKeyText, ModelIdText, TierNameText, UserIdPath, UserIdText},
};
use crate::domain::{self, NewUser, TierName, TokenCount, TokenLimit, Tracker, Usage};

pub(super) struct UsersApi {
    pub(super) tracker: Tracker,
    pub(super) guests: domain::Guests,
}

/// A user's account as the API shows it.
#[derive(Debug, Clone, Object)]
#[oai(rename = "User", rename_all = "camelCase")]
pub(crate) struct UserView {
    /// The user's ID.
    pub(crate) user_id: String,
    /// The most tokens the user may consume.
    pub(crate) token_limit: u64,
    /// Tokens consumed so far.
    pub(crate) token_usage: u64,
    /// What the user's model calls cost so far, in US dollars.
    pub(crate) total_cost: f64,
    /// When the account last changed (ISO-8601, UTC).
    pub(crate) last_updated: String,
    /// `max(0, tokenLimit − tokenUsage − heldTokens)`: what a new call may still use.
    pub(crate) remaining_tokens: u64,
    /// `tokenUsage / tokenLimit × 100`; above 100 once recorded usage passed the limit.
    pub(crate) percentage_used: f64,
    /// Tokens held for model calls in flight.
    pub(crate) held_tokens: u64,
    /// Model calls charged so far.
    pub(crate) request_count: u64,
    /// The user's tier, if any.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) tier: Option<String>,
}

impl From<&domain::User> for UserView {
    fn from(user: &domain::User) -> Self {
        Self {
            user_id: user.id.to_string(),
            token_limit: user.token_limit.get(),
            token_usage: user.token_usage(),
            total_cost: user.total_cost().dollars(),
            last_updated: user.last_updated.to_string(),
            remaining_tokens: user.remaining_tokens(),
            percentage_used: user.percentage_used(),
            held_tokens: user.token_reserved(),
            request_count: user.request_count(),
            tier: user.tier.as_ref().map(ToString::to_string),
        }
    }
}

/// A user, answered in both shapes clients of earlier systems expect: the user's fields at
/// the top level, and `{success, user}`.
#[derive(Debug, Clone, Object)]
#[oai(rename = "UserResult", rename_all = "camelCase")]
pub(crate) struct UserResult {
    /// Always `true`: the request succeeded.
    pub(crate) success: bool,
    // No doc comment: it would wrap the `$ref` in `allOf`, which code generators mangle.
    pub(crate) user: UserView,
    #[oai(flatten)]
    pub(crate) fields: UserView,
}

impl From<&domain::User> for UserResult {
    fn from(user: &domain::User) -> Self {
        let view = UserView::from(user);
        Self { success: true, user: view.clone(), fields: view }
    }
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(crate) struct UserList {
    /// Every user, ordered by ID.
    pub(crate) users: Vec<UserView>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct DeletedUser {
    /// Always `true`: the user was deleted.
    success: bool,
    /// `User deleted successfully`.
    message: String,
    /// The ID of the deleted user.
    user_id: String,
}

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct CreateUserRequest {
    user_id: UserIdText,
    /// A positive whole number, at most 2^53 − 1.
    #[oai(validator(minimum(value = "1"), maximum(value = "9007199254740991")))]
    #[serde(deserialize_with = "body::whole_number")]
    token_limit: u64,
    /// Also issue the user's first API key (answered once, in `apiKey`).
    #[serde(default, deserialize_with = "body::optional_bool")]
    issue_key: Option<bool>,
    // The user's tier (default: the service's `TOKENMETER_DEFAULT_TIER`, if set).
    #[serde(default)]
    tier: Option<TierNameText>,
    /// A guest's key: the new user takes over the guest's usage, cost and quota counters, and
    /// the guest and its key are removed.
    #[serde(default)]
    from_guest: Option<GuestKeyText>,
}

/// A user just created, with the user's first API key when one was asked for.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct CreatedUser {
    #[oai(flatten)]
    result: UserResult,
    #[oai(skip_serializing_if_is_none)]
    api_key: Option<IssuedKeyBody>,
}

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct UpdateLimitRequest {
    /// A positive whole number, at most 2^53 − 1.
    #[oai(validator(minimum(value = "1"), maximum(value = "9007199254740991")))]
    #[serde(deserialize_with = "body::whole_number")]
    new_limit: u64,
}

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct RecordUsageRequest {
    /// Tokens consumed: a whole number from 0 to 2^53 − 1.
    #[oai(validator(minimum(value = "0"), maximum(value = "9007199254740991")))]
    #[serde(deserialize_with = "body::whole_number")]
    tokens_consumed: u64,
    /// Of those, the input tokens (with `model`, so the record is priced).
    #[oai(validator(minimum(value = "0"), maximum(value = "9007199254740991")))]
    #[serde(default, deserialize_with = "body::optional_whole_number")]
    input_tokens: Option<u64>,
    /// Of those, the output tokens (with `model`, so the record is priced).
    #[oai(validator(minimum(value = "0"), maximum(value = "9007199254740991")))]
    #[serde(default, deserialize_with = "body::optional_whole_number")]
    output_tokens: Option<u64>,
    /// The model that produced the usage (an ID from the price list): the record then carries
    /// its cost and counts under the model's quotas.
    #[serde(default)]
    model: Option<ModelIdText>,
}

#[derive(ApiResponse)]
pub(super) enum CreatedReply {
    /// The user was created (or, for a retry with the same `Idempotency-Key`, had been).
    #[oai(status = 201)]
    Created(
        Json<CreatedUser>,
        #[oai(header = "X-Tokens-Remaining")] u64,
        #[oai(header = "Idempotent-Replayed")] Option<bool>,
    ),
}

#[derive(ApiResponse)]
pub(crate) enum UserReply {
    /// The user.
    #[oai(status = 200)]
    Ok(
        Json<UserResult>,
        #[oai(header = "X-Tokens-Remaining")] u64,
        #[oai(header = "Idempotent-Replayed")] Option<bool>,
    ),
}

impl UserReply {
    pub(crate) fn of(user: &domain::User, replayed: bool) -> Self {
        Self::Ok(Json(user.into()), user.remaining_tokens(), replayed.then_some(true))
    }
}

codes!(CreateUser: AUTH, ADMIN, INPUT, IDEMPOTENT; UserAlreadyExists, TierNotFound, UserNotFound, GuestNotFound, GuestBusy);
codes!(ListUsers: AUTH, ADMIN);
codes!(GetUser: AUTH, ONE_USER);
codes!(UpdateLimit: AUTH, ADMIN, INPUT, ONE_USER);
codes!(DeleteUser: AUTH, ADMIN, ONE_USER);
codes!(RecordUsage: AUTH, INPUT, ONE_USER, IDEMPOTENT; UsageOverflow);

#[OpenApi(tag = "ApiTags::Users")]
impl UsersApi {
    /// Create a user
    ///
    /// Admin only. Creates a user with a token limit and zero usage, with `issueKey: true` the
    /// user's first API key, with `tier` on a tier, and with `fromGuest` from a guest (whose
    /// usage and counters move over). Answers 409 if the ID is taken. With an
    /// `Idempotency-Key`, a retry within 24 hours answers the user again, creates nothing, and
    /// issues no second key.
    #[oai(path = "/users", method = "post", operation_id = "createUser")]
    async fn create_user(
        &self,
        caller: Caller,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKeyText>>,
        body: JsonBody<CreateUserRequest>,
    ) -> ApiResult<CreatedReply, CreateUser> {
        let request = body.0;
        let id = user_id(&request.user_id)?;
        let limit = TokenLimit::new("tokenLimit", request.token_limit)?;
        let tier = request.tier.as_deref().map(|t| TierName::parse("tier", t)).transpose()?;
        let new = NewUser { id, limit, tier, issue_key: request.issue_key.unwrap_or(false) };
        let answer = match request.from_guest {
            Some(guest_key) => self.guests.migrate(&caller.0, &guest_key, new).await?,
            None => self.tracker.create_user(&caller.0, new, idempotency_key(&key)?).await?,
        };
        let (user, key) = answer.value;
        let created = CreatedUser { result: (&user).into(), api_key: key.as_ref().map(IssuedKeyBody::from) };
        Ok(CreatedReply::Created(Json(created), user.remaining_tokens(), answer.replayed.then_some(true)))
    }

    /// List all users
    ///
    /// Admin only. Every user with usage, limit, cost and percentage used, ordered by ID.
    #[oai(path = "/users", method = "get", operation_id = "listUsers")]
    async fn list_users(&self, caller: Caller) -> ApiResult<Json<UserList>, ListUsers> {
        let users = self.tracker.users(&caller.0).await?;
        Ok(Json(UserList { users: users.iter().map(UserView::from).collect() }))
    }

    /// Get a user's usage
    ///
    /// The user's limit, usage, remaining tokens and cost. Admins, or the user's own key.
    #[oai(path = "/users/:userId", method = "get", operation_id = "getUser")]
    async fn get_user(
        &self,
        caller: Caller,
        #[oai(name = "userId")] id: Path<UserIdPath>,
    ) -> ApiResult<UserReply, GetUser> {
        let user = self.tracker.user(&caller.0, &user_id(&id)?).await?;
        Ok(UserReply::of(&user, false))
    }

    /// Update a user's token limit
    ///
    /// Admin only. Sets a new lifetime limit; usage is unchanged. The new limit may be below
    /// current usage.
    #[oai(path = "/users/:userId/limit", method = "put", operation_id = "updateUserLimit")]
    async fn update_limit(
        &self,
        caller: Caller,
        #[oai(name = "userId")] id: Path<UserIdPath>,
        body: JsonBody<UpdateLimitRequest>,
    ) -> ApiResult<UserReply, UpdateLimit> {
        let id = user_id(&id)?;
        let limit = TokenLimit::new("newLimit", body.0.new_limit)?;
        Ok(UserReply::of(&self.tracker.update_limit(&caller.0, &id, limit).await?, false))
    }

    /// Delete a user
    ///
    /// Admin only. Deletes the user and their counters and revokes their keys, in one step.
    /// Answers 404 if there is no such user.
    #[oai(path = "/users/:userId", method = "delete", operation_id = "deleteUser")]
    async fn delete_user(
        &self,
        caller: Caller,
        #[oai(name = "userId")] id: Path<UserIdPath>,
    ) -> ApiResult<Json<DeletedUser>, DeleteUser> {
        let id = user_id(&id)?;
        self.tracker.delete_user(&caller.0, &id).await?;
        Ok(Json(DeletedUser { success: true, message: "User deleted successfully".into(), user_id: id.to_string() }))
    }

    /// Record token usage
    ///
    /// Atomically adds `tokensConsumed` to the user's usage and to every quota period it counts
    /// in: concurrent records never lose an update. Usage that happened elsewhere is recorded
    /// even past the limit. With `model` (and `inputTokens`/`outputTokens`) it is priced.
    /// With an `Idempotency-Key`, a retry within 24 hours is counted once. Admins, or the
    /// user's own key.
    #[oai(path = "/users/:userId/usage", method = "post", operation_id = "recordUsage")]
    async fn record_usage(
        &self,
        caller: Caller,
        #[oai(name = "userId")] id: Path<UserIdPath>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKeyText>>,
        body: JsonBody<RecordUsageRequest>,
    ) -> ApiResult<UserReply, RecordUsage> {
        let id = user_id(&id)?;
        let request = body.0;
        let tokens = TokenCount::new("tokensConsumed", request.tokens_consumed)?;
        let model = request.model.map(|m| m.0);
        let usage = Usage::new(tokens, request.input_tokens, request.output_tokens, model)?;
        let answer = self.tracker.record_usage(&caller.0, &id, usage, idempotency_key(&key)?).await?;
        Ok(UserReply::of(&answer.value, answer.replayed))
    }
}
