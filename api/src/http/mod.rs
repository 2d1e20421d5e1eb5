//! The HTTP surface: the only module that knows about poem. Builds the OpenAPI service from
//! the per-area APIs and wraps it in the middleware every request passes through.

mod body;
mod error;
mod health;
mod users;

use poem::{
    Endpoint, EndpointExt, IntoResponse, Route,
    error::ResponseError,
    middleware::{CatchPanic, RequestId, ReuseId, Tracing},
};
use poem_openapi::{OpenApiService, Tags};

pub use error::{ApiError, ErrorBody, ErrorDetails, MAX_BODY_BYTES};

use crate::domain::Tracker;

#[derive(Tags)]
enum ApiTags {
    /// Users, their limits and their usage.
    Users,
    /// Health and service information.
    System,
}

const DESCRIPTION: &str = "\
Tracks and enforces LLM token usage per user.

Every error answers with `{\"error\": code, \"message\": sentence, \"details\": {...}}`. \
Answers about one user carry the `X-Tokens-Remaining` header.";

type Apis = (users::UsersApi, health::HealthApi);

fn openapi_service(tracker: Tracker) -> OpenApiService<Apis, ()> {
    let apis = (users::UsersApi { tracker: tracker.clone() }, health::HealthApi { tracker });
    OpenApiService::new(apis, "tokenmeter", env!("CARGO_PKG_VERSION")).description(DESCRIPTION)
}

/// The OpenAPI document, as committed in `openapi/openapi.json`.
pub fn openapi_json(tracker: Tracker) -> String {
    let mut spec = openapi_service(tracker).spec();
    spec.push('\n');
    spec
}

/// The whole HTTP application: API routes, `/openapi.json`, `/docs`, and middleware.
pub fn endpoint(tracker: Tracker) -> impl Endpoint + 'static {
    let api = openapi_service(tracker);
    let docs = api.swagger_ui();
    let spec = api.spec_endpoint();
    Route::new()
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .nest("/", api)
        .around(|next, req| async move {
            let method = req.method().to_string();
            let path = req.uri().path().to_owned();
            match next.call(req).await {
                Ok(resp) => Ok(resp.into_response()),
                Err(err) => Ok(ApiError::from_poem(&err, &method, &path).as_response()),
            }
        })
        .with(CatchPanic::new().with_handler(|_| ApiError::internal().as_response()))
        .with(Tracing)
        .with(RequestId::default().reuse_id(ReuseId::Use))
}
