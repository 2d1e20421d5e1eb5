//! `/users/{userId}/conversations…`: conversations kept per user, so a chat survives reloads
//! and devices. A model call joins one with `conversationId` (see `invoke.rs`).

use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};
use serde::Deserialize;

use super::{
    ApiTags,
    auth::Caller,
    body::JsonBody,
    error::{AUTH, ApiResult, INPUT, ONE_USER, codes},
    invoke::ChatRole,
    params::user_id,
    strings::{ConversationIdPath, ConversationTitleText, UserIdPath},
};
use crate::domain::{self, ConversationId, Conversations, Speaker, ValidationError};

pub(super) struct ConversationsApi {
    pub(super) conversations: Conversations,
}

/// A conversation without its turns.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ConversationSummary", rename_all = "camelCase")]
pub(super) struct ConversationView {
    conversation_id: String,
    /// The title given at creation, or else the first prompt's first line (at most 80
    /// characters); absent before the first exchange.
    #[oai(skip_serializing_if_is_none)]
    title: Option<String>,
    /// ISO-8601, UTC.
    created_at: String,
    /// When the last turn was added (its creation, before any). ISO-8601, UTC.
    updated_at: String,
    /// Turns kept (at most 200: 100 exchanges).
    turn_count: u32,
}

impl From<&domain::ConversationSummary> for ConversationView {
    fn from(c: &domain::ConversationSummary) -> Self {
        Self {
            conversation_id: c.id.to_string(),
            title: c.title.clone(),
            created_at: c.created_at.to_string(),
            updated_at: c.updated_at.to_string(),
            turn_count: c.turns,
        }
    }
}

/// What the call that produced an answer used and cost (US dollars).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct TurnUsageView {
    model: String,
    input_tokens: u64,
    output_tokens: u64,
    input_cost: f64,
    output_cost: f64,
    /// `inputCost + outputCost`.
    total_cost: f64,
}

/// A kept turn.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ConversationTurn", rename_all = "camelCase")]
pub(super) struct TurnView {
    role: ChatRole,
    text: String,
    /// ISO-8601, UTC.
    at: String,
    /// The text was longer than 64,000 characters and is kept cut.
    truncated: bool,
    /// On an answer: its call's usage and cost.
    #[oai(skip_serializing_if_is_none)]
    usage: Option<TurnUsageView>,
}

impl From<&domain::ConversationTurn> for TurnView {
    fn from(t: &domain::ConversationTurn) -> Self {
        Self {
            role: match t.speaker {
                Speaker::User => ChatRole::User,
                Speaker::Assistant => ChatRole::Assistant,
            },
            text: t.text.clone(),
            at: t.at.to_string(),
            truncated: t.truncated,
            usage: t.usage.as_ref().map(|u| TurnUsageView {
                model: u.model.clone(),
                input_tokens: u.input_tokens,
                output_tokens: u.output_tokens,
                input_cost: u.input_cost.dollars(),
                output_cost: u.output_cost.dollars(),
                total_cost: u.input_cost.checked_add(u.output_cost).unwrap_or(u.input_cost).dollars(),
            }),
        }
    }
}

/// A conversation with every turn, oldest first.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct ConversationDetail {
    #[oai(flatten)]
    summary: ConversationView,
    turns: Vec<TurnView>,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct ConversationList {
    user_id: String,
    /// Most recently updated first (at most 100).
    conversations: Vec<ConversationView>,
}

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct NewConversation {
    // Optional; without one, the first prompt names the conversation.
    #[serde(default)]
    title: Option<ConversationTitleText>,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct DeletedConversation {
    /// Always `true`.
    success: bool,
    conversation_id: String,
}

#[derive(ApiResponse)]
pub(super) enum CreatedConversation {
    /// The new, empty conversation.
    #[oai(status = 201)]
    Created(Json<ConversationView>),
}

fn conversation_id(raw: &str) -> Result<ConversationId, ValidationError> {
    ConversationId::parse("conversationId", raw)
}

codes!(ListConversations: AUTH, ONE_USER);
codes!(CreateConversation: AUTH, INPUT, ONE_USER; ConversationLimit);
codes!(GetConversation: AUTH, ONE_USER; ConversationNotFound);
codes!(DeleteConversation: AUTH, ONE_USER; ConversationNotFound);

#[OpenApi(tag = "ApiTags::Conversations")]
impl ConversationsApi {
    /// List a user's conversations
    ///
    /// The user's kept conversations, most recently updated first, without their turns. A user
    /// keeps at most 100. Admins, or the user's own key.
    #[oai(path = "/users/:userId/conversations", method = "get", operation_id = "listConversations")]
    async fn list(
        &self,
        caller: Caller,
        #[oai(name = "userId")] id: Path<UserIdPath>,
    ) -> ApiResult<Json<ConversationList>, ListConversations> {
        let id = user_id(&id)?;
        let found = self.conversations.list(&caller.0, &id).await?;
        Ok(Json(ConversationList { user_id: id.to_string(), conversations: found.iter().map(Into::into).collect() }))
    }

    /// Start a conversation
    ///
    /// Creates an empty conversation, with an optional `title`. Send its ID as `conversationId`
    /// with `POST /invoke/{userId}` (or `/stream`) and each settled exchange is kept. A user
    /// keeps at most 100 conversations (409 `conversation_limit_reached`: delete one first).
    /// Admins, or the user's own key.
    #[oai(path = "/users/:userId/conversations", method = "post", operation_id = "createConversation")]
    async fn create(
        &self,
        caller: Caller,
        #[oai(name = "userId")] id: Path<UserIdPath>,
        body: JsonBody<NewConversation>,
    ) -> ApiResult<CreatedConversation, CreateConversation> {
        let id = user_id(&id)?;
        let title = domain::parse_title(body.0.title.map(|t| t.0))?;
        let created = self.conversations.create(&caller.0, &id, title).await?;
        Ok(CreatedConversation::Created(Json((&created).into())))
    }

    /// Get a conversation
    ///
    /// A conversation with every turn, oldest first; each answer with what its call used and
    /// cost. 404 `conversation_not_found` for an unknown ID (or another user's). Admins, or the
    /// user's own key.
    #[oai(path = "/users/:userId/conversations/:conversationId", method = "get", operation_id = "getConversation")]
    async fn get(
        &self,
        caller: Caller,
        #[oai(name = "userId")] id: Path<UserIdPath>,
        #[oai(name = "conversationId")] conversation: Path<ConversationIdPath>,
    ) -> ApiResult<Json<ConversationDetail>, GetConversation> {
        let (id, conversation) = (user_id(&id)?, conversation_id(&conversation)?);
        let found = self.conversations.get(&caller.0, &id, &conversation).await?;
        Ok(Json(ConversationDetail {
            summary: (&found.summary).into(),
            turns: found.turns.iter().map(Into::into).collect(),
        }))
    }

    /// Delete a conversation
    ///
    /// Deletes a conversation and its turns (usage already charged stays charged). Admins, or
    /// the user's own key.
    #[oai(
        path = "/users/:userId/conversations/:conversationId",
        method = "delete",
        operation_id = "deleteConversation"
    )]
    async fn delete(
        &self,
        caller: Caller,
        #[oai(name = "userId")] id: Path<UserIdPath>,
        #[oai(name = "conversationId")] conversation: Path<ConversationIdPath>,
    ) -> ApiResult<Json<DeletedConversation>, DeleteConversation> {
        let (id, conversation) = (user_id(&id)?, conversation_id(&conversation)?);
        self.conversations.delete(&caller.0, &id, &conversation).await?;
        Ok(Json(DeletedConversation { success: true, conversation_id: conversation.to_string() }))
    }
}
