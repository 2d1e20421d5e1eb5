//! The HTTP surface: the only module that knows about poem. Builds the OpenAPI service from
//! the per-area APIs and wraps it in the middleware every request passes through.

mod auth;
mod body;
mod error;
mod events;
mod health;
mod invoke;
mod keys;
mod lambda;
mod serve;
mod users;
mod web;

use poem::{
    Endpoint, EndpointExt, IntoResponse, Route,
    error::ResponseError,
    http::{Method, StatusCode},
    middleware::{CatchPanic, Cors, RequestId, ReuseId, Tracing},
};
use poem_openapi::{OpenApiService, Tags};

pub use error::{ApiError, ErrorBody, ErrorDetails, MAX_BODY_BYTES};
pub use lambda::run_on_lambda;
pub use serve::{bind, serve};
pub use web::WebApp;

use crate::domain::Services;

#[derive(Tags)]
enum ApiTags {
    /// Users, their limits and their usage.
    Users,
    /// API keys and the caller's identity.
    Keys,
    /// Calling the model with exact token enforcement.
    Models,
    /// Health and service information.
    System,
}

const DESCRIPTION: &str = "\
Tracks and enforces LLM token usage per user.

Every operation but `/health` needs an API key, sent as `Authorization: Bearer <key>` or \
`X-API-Key: <key>`. Admin keys manage everything; a user key reads and spends only its own user.

Every error answers with `{\"error\": code, \"message\": sentence, \"details\": {...}}`. \
Answers about one user carry the `X-Tokens-Remaining` header.";

type Apis = (users::UsersApi, events::EventsApi, keys::KeysApi, invoke::InvokeApi, health::HealthApi);

fn openapi_service(services: Services) -> OpenApiService<Apis, ()> {
    let Services { tracker, invocations } = services;
    let apis = (
        users::UsersApi { tracker: tracker.clone() },
        events::EventsApi { tracker: tracker.clone() },
        keys::KeysApi { tracker: tracker.clone() },
        invoke::InvokeApi { invocations: invocations.clone() },
        health::HealthApi { tracker, invocations },
    );
    OpenApiService::new(apis, "tokenmeter", env!("CARGO_PKG_VERSION")).description(DESCRIPTION)
}

/// The OpenAPI document, as committed in `openapi/openapi.json`.
pub fn openapi_json(services: Services) -> String {
    let mut spec = openapi_service(services).spec();
    spec.push('\n');
    spec
}

/// The whole HTTP application: API routes, `/openapi.json`, `/docs`, the web app, and
/// middleware. `cors_origins` lists the other origins whose pages may call the API; when
/// empty, only pages served from the API's own origin can (the web app is).
pub fn endpoint(services: Services, cors_origins: &[String], web: WebApp) -> impl Endpoint + 'static {
    let keys = services.tracker.keys().clone();
    let api = openapi_service(services);
    let cors = Cors::new()
        .allow_origins(cors_origins.iter().map(String::as_str))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers(["authorization", "x-api-key", "content-type", "x-request-id"])
        .expose_headers(["x-tokens-remaining", "x-request-id"]);
    let docs = api.swagger_ui();
    let spec = api.spec_endpoint();
    Route::new()
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .nest("/", api)
        .around(move |next, req| {
            let web = web.clone();
            async move {
                if let Some(asset) = web.asset(&req).await {
                    return Ok(asset);
                }
                let method = req.method().to_string();
                let path = req.uri().path().to_owned();
                // A browser opening one of the app's pages, which the API has no route for:
                // keep what the page answer needs, as the API consumes the request.
                let page_request = WebApp::wants_page(&req).then(|| {
                    let mut copy = poem::Request::builder().method(req.method().clone()).finish();
                    *copy.headers_mut() = req.headers().clone();
                    copy
                });
                match next.call(req).await {
                    Ok(resp) => Ok(resp.into_response()),
                    Err(err) if err.status() == StatusCode::NOT_FOUND && !err.is::<ApiError>() => match page_request {
                        Some(request) => Ok(web.page(&request).await),
                        None => Ok(ApiError::from_poem(&err, &method, &path).as_response()),
                    },
                    Err(err) => Ok(ApiError::from_poem(&err, &method, &path).as_response()),
                }
            }
        })
        .data(keys)
        .with(CatchPanic::new().with_handler(|_| ApiError::internal().as_response()))
        .with_if(!cors_origins.is_empty(), cors)
        .with(Tracing)
        .with(RequestId::default().reuse_id(ReuseId::Use))
}
