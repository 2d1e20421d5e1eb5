use poem_openapi::{Object, OpenApi, payload::Json};

use super::ApiTags;
use crate::domain::{Core, Guests, Invocations};

pub(super) struct HealthApi {
    pub(super) core: Core,
    pub(super) invocations: Invocations,
    pub(super) guests: Guests,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct Health {
    /// `ok` when the service is serving.
    pub status: String,
    /// The store in use: `embedded` or `dynamodb`.
    pub store: String,
    /// The model provider in use: `bedrock`, or `echo` (the offline stand-in that repeats the prompt).
    pub model_provider: String,
    /// The model calls go to unless they name another.
    pub model: String,
    /// The service's version.
    pub version: String,
    /// Whether anyone may try the service as a guest (`POST /guests`).
    pub guests: bool,
}

#[OpenApi(tag = "ApiTags::System")]
impl HealthApi {
    /// Service health
    ///
    /// Answers 200 with the store and the model provider in use, and whether guests are
    /// allowed. Public: needs no key.
    #[oai(path = "/health", method = "get", operation_id = "health")]
    async fn health(&self) -> Json<Health> {
        Json(Health {
            status: "ok".into(),
            store: self.core.store_kind().into(),
            model_provider: self.invocations.provider_name().into(),
            model: self.invocations.default_model().into(),
            version: env!("CARGO_PKG_VERSION").into(),
            guests: self.guests.enabled(),
        })
    }
}
