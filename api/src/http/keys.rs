//! `/keys` and `/me`: issuing, listing and revoking API keys; who the caller is.

use poem_openapi::{ApiResponse, Enum, Object, OpenApi, param::Path, payload::Json};
use serde::Deserialize;

use super::{
    ApiTags,
    auth::Caller,
    body::JsonBody,
    error::{ADMIN, AUTH, ApiResult, INPUT, codes},
    strings::{KeyIdPath, KeyLabelText, UserIdText},
};
use crate::domain::{self, ApiKey, KeyId, KeyLabel, Principal, Role, Tracker, UserId};

pub(super) struct KeysApi {
    pub(super) tracker: Tracker,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub(super) enum KeyRole {
    /// Manages everything.
    Admin,
    /// Reads and spends as one user.
    User,
}

/// An API key as listed: never its secret.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct KeyView {
    pub key_id: String,
    pub role: KeyRole,
    /// The user a user key belongs to.
    #[oai(skip_serializing_if_is_none)]
    pub user_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub label: Option<String>,
    /// ISO-8601, UTC.
    pub created_at: String,
    /// ISO-8601, UTC; absent while the key is valid.
    #[oai(skip_serializing_if_is_none)]
    pub revoked_at: Option<String>,
}

impl From<&ApiKey> for KeyView {
    fn from(key: &ApiKey) -> Self {
        let (role, user_id) = match &key.role {
            Role::Admin => (KeyRole::Admin, None),
            Role::User(user) => (KeyRole::User, Some(user.to_string())),
        };
        Self {
            key_id: key.id.to_string(),
            role,
            user_id,
            label: key.label.clone(),
            created_at: key.created_at.to_string(),
            revoked_at: key.revoked_at.map(|t| t.to_string()),
        }
    }
}

/// A key just issued. `apiKey` is shown this once: store it now.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(crate) struct IssuedKeyBody {
    /// The key to send as `Authorization: Bearer <apiKey>` or `X-API-Key: <apiKey>`.
    pub api_key: String,
    pub key_id: String,
    pub role: KeyRole,
    #[oai(skip_serializing_if_is_none)]
    pub user_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub label: Option<String>,
    pub created_at: String,
}

impl From<&domain::IssuedKey> for IssuedKeyBody {
    fn from(issued: &domain::IssuedKey) -> Self {
        let view = KeyView::from(&issued.key);
        Self {
            api_key: issued.token.clone(),
            key_id: view.key_id,
            role: view.role,
            user_id: view.user_id,
            label: view.label,
            created_at: view.created_at,
        }
    }
}

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct IssueKeyRequest {
    /// `admin` or `user`.
    pub role: KeyRole,
    /// For `user` keys: the user the key belongs to (must exist).
    #[serde(default)]
    pub user_id: Option<UserIdText>,
    // A note for people: who or what uses the key (1–100 characters).
    #[serde(default)]
    pub label: Option<KeyLabelText>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct KeyList {
    /// Every key, revoked ones included, ordered by ID.
    pub keys: Vec<KeyView>,
}

/// Who the caller is.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct Me {
    pub role: KeyRole,
    /// For user keys: the caller's user.
    #[oai(skip_serializing_if_is_none)]
    pub user_id: Option<String>,
    /// The ID of the key used; absent for the start-up admin key.
    #[oai(skip_serializing_if_is_none)]
    pub key_id: Option<String>,
}

#[derive(ApiResponse)]
pub(super) enum IssuedReply {
    /// The key was issued.
    #[oai(status = 201)]
    Created(Json<IssuedKeyBody>),
}

codes!(IssueKey: AUTH, ADMIN, INPUT; UserNotFound);
codes!(ListKeys: AUTH, ADMIN);
codes!(RevokeKey: AUTH, ADMIN, INPUT; KeyNotFound);
codes!(WhoAmI: AUTH);

#[OpenApi(tag = "ApiTags::Keys")]
impl KeysApi {
    /// Issue an API key
    ///
    /// Admin only. The key's text is in the answer once and never again; only its hash is stored.
    #[oai(path = "/keys", method = "post", operation_id = "issueKey")]
    async fn issue_key(&self, caller: Caller, body: JsonBody<IssueKeyRequest>) -> ApiResult<IssuedReply, IssueKey> {
        let request = body.0;
        let role = match (request.role, request.user_id) {
            (KeyRole::Admin, None) => Role::Admin,
            (KeyRole::Admin, Some(_)) => {
                return Err(domain::ValidationError::new("userId", "must be absent for admin keys").into());
            }
            (KeyRole::User, Some(user)) => Role::User(UserId::parse("userId", &user.0)?),
            (KeyRole::User, None) => {
                return Err(domain::ValidationError::new("userId", "is required for user keys").into());
            }
        };
        let label = request.label.as_deref().map(|l| KeyLabel::parse("label", l)).transpose()?;
        let issued = self.tracker.issue_key(&caller.0, role, label).await?;
        Ok(IssuedReply::Created(Json((&issued).into())))
    }

    /// List API keys
    ///
    /// Admin only. Every key with its role, user and state; never a secret.
    #[oai(path = "/keys", method = "get", operation_id = "listKeys")]
    async fn list_keys(&self, caller: Caller) -> ApiResult<Json<KeyList>, ListKeys> {
        let keys = self.tracker.keys().list(&caller.0).await?;
        Ok(Json(KeyList { keys: keys.iter().map(KeyView::from).collect() }))
    }

    /// Revoke an API key
    ///
    /// Admin only. The key stops working on the next request, on every instance.
    #[oai(path = "/keys/:keyId", method = "delete", operation_id = "revokeKey")]
    async fn revoke_key(
        &self,
        caller: Caller,
        #[oai(name = "keyId")] id: Path<KeyIdPath>,
    ) -> ApiResult<Json<KeyView>, RevokeKey> {
        caller.0.require_admin()?;
        let id = KeyId::parse(&id)
            .ok_or_else(|| domain::ValidationError::new("keyId", "must be 12 lowercase hex digits"))?;
        let key = self.tracker.keys().revoke(&caller.0, &id).await?;
        Ok(Json((&key).into()))
    }

    /// Who am I
    ///
    /// The role and user of the key sent: what the web app asks after sign-in.
    #[oai(path = "/me", method = "get", operation_id = "whoAmI")]
    async fn me(&self, caller: Caller) -> ApiResult<Json<Me>, WhoAmI> {
        Ok(Json(match caller.0 {
            Principal::Admin { key } => Me { role: KeyRole::Admin, user_id: None, key_id: key.map(|k| k.to_string()) },
            Principal::User { user, key } => {
                Me { role: KeyRole::User, user_id: Some(user.to_string()), key_id: Some(key.to_string()) }
            }
        }))
    }
}
