//! The HTTP surface: the only module that knows about poem. Builds the OpenAPI service from
//! the per-area APIs and wraps it in the middleware every request passes through.

mod alerts;
mod auth;
mod body;
mod conversations;
mod emf;
mod error;
mod error_body;
mod error_messages;
mod guests;
mod health;
mod invoke;
mod keys;
mod lambda;
mod limits;
mod live;
mod metrics;
mod page_policy;
mod params;
mod quantity;
mod quota_views;
mod quotas;
mod read_body;
mod reports;
mod request_id;
mod request_limits;
mod routes;
mod server;
mod spec;
mod strings;
mod users;
mod web;

use std::time::Instant;

use poem::{
    Endpoint, EndpointExt, IntoResponse, Route,
    endpoint::make_sync,
    http::{Method, StatusCode},
    middleware::{CatchPanic, Cors},
    web::Html,
};
use poem_openapi::{OpenApiService, OperationId, Tags};

pub use error::{ApiError, ErrorBody, ErrorDetails};
pub use lambda::run_on_lambda;
pub use request_limits::MAX_BODY_BYTES;
pub use server::{HttpServer, ServerLimits, stop_on_signals};
pub use web::WebApp;

use crate::domain::{Metrics, Services, ValidationError};

#[derive(Tags)]
enum ApiTags {
    /// Users, their limits and their usage.
    Users,
    /// Quotas by period, tier and model.
    Quotas,
    /// API keys and the caller's identity.
    Keys,
    /// Calling the model with exact enforcement.
    Models,
    /// Usage reports, the event log, alerts and metrics.
    Monitoring,
    /// Conversations kept per user.
    Conversations,
    /// Health and service information.
    System,
}

const DESCRIPTION: &str = "\
Tracks and enforces LLM token usage per user: a lifetime token limit, and quotas on tokens, \
requests and cost per day, month or in total, per tier and per model.

Every operation but `/health` and `/guests` needs an API key, sent as `Authorization: Bearer <key>` \
or `X-API-Key: <key>`. Admin keys manage everything; a user key reads and spends only its own user.

Every error answers with `{\"error\": code, \"message\": sentence, \"details\": {...}}`. \
Answers about one user carry the `X-Tokens-Remaining` header; answers to model calls carry \
`RateLimit-Policy` and `RateLimit` for the user's tightest rule. `POST /users`, \
`POST /users/{userId}/usage` and `POST /invoke/{userId}` take an `Idempotency-Key`: a retry \
with the same key within 24 hours answers the first result and changes nothing.";

type Apis = (
    users::UsersApi,
    live::LiveApi,
    keys::KeysApi,
    invoke::InvokeApi,
    conversations::ConversationsApi,
    quotas::QuotasApi,
    guests::GuestsApi,
    reports::ReportsApi,
    alerts::AlertsApi,
    metrics::MetricsApi,
    health::HealthApi,
);

fn openapi_service(services: Services) -> OpenApiService<Apis, ()> {
    let Services { core, tracker, invocations, quotas, guests, reports, alerts, conversations } = services;
    let apis = (
        users::UsersApi { tracker: tracker.clone(), guests: guests.clone() },
        live::LiveApi { tracker: tracker.clone() },
        keys::KeysApi { tracker },
        invoke::InvokeApi { conversations: conversations.clone() },
        conversations::ConversationsApi { conversations },
        quotas::QuotasApi { quotas },
        guests::GuestsApi { guests: guests.clone() },
        reports::ReportsApi { reports: reports.clone() },
        alerts::AlertsApi { alerts },
        metrics::MetricsApi { reports },
        health::HealthApi { core, invocations, guests },
    );
    OpenApiService::new(apis, "tokenmeter", env!("CARGO_PKG_VERSION")).description(DESCRIPTION)
}

/// The OpenAPI document, as committed in `openapi/openapi.json` and served at `/openapi.json`.
pub fn openapi_json(services: Services) -> String {
    let prices = services.core.prices().clone();
    spec::refine(&openapi_service(services).spec(), &prices)
}

/// The whole HTTP application: API routes, `/openapi.json`, `/docs`, the web app, and
/// middleware. `cors_origins` lists the other origins whose pages may call the API; when
/// empty, only pages served from the API's own origin can (the web app is).
pub fn endpoint(services: Services, cors_origins: &[String], web: WebApp) -> impl Endpoint + 'static {
    let keys = services.tracker.keys().clone();
    let metrics = services.core.metrics().clone();
    let prices = services.core.prices().clone();
    let api = openapi_service(services);
    let routes = routes::Routes::of(&api.spec());
    let counted_routes = routes.clone();
    let cors = Cors::new()
        .allow_origins(cors_origins.iter().map(String::as_str))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers(["authorization", "x-api-key", "content-type", "x-request-id", "idempotency-key"])
        .expose_headers([
            "x-tokens-remaining",
            "x-request-id",
            "ratelimit",
            "ratelimit-policy",
            "retry-after",
            "idempotent-replayed",
        ]);
    let raw = api.spec();
    let document = spec::refine(&raw, &prices);
    // Swagger UI shows the refined document: poem-openapi's page embeds its own, replaced here.
    let docs = api.swagger_ui_html().replace(&raw, &document);
    Route::new()
        .at("/openapi.json", make_sync(move |_| document.clone().with_content_type("application/json; charset=utf-8")))
        .at("/docs", make_sync(move |_| Html(docs.clone())))
        .nest("/", api)
        .around(move |next, req| {
            let web = web.clone();
            let routes = routes.clone();
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
                let answer = next.call(req).await;
                Ok(match answer {
                    Ok(resp) => resp.into_response(),
                    Err(err) if err.status() == StatusCode::NOT_FOUND && !err.is::<error::Failure>() => {
                        match page_request {
                            Some(request) => web.page(&request).await,
                            None => routes.unanswered(&err, &method, &path).as_response(),
                        }
                    }
                    Err(err) => routes.unanswered(&err, &method, &path).as_response(),
                })
            }
        })
        .data(keys)
        .with(CatchPanic::new().with_handler(|_| ApiError::<error::AnyCode>::internal().as_response()))
        .with_if(!cors_origins.is_empty(), cors)
        .around(move |next, req| count_requests(next, req, metrics.clone(), counted_routes.clone()))
        .around(refuse_oversized_heads)
        .around(request_id::with_request_id)
}

/// Answers requests whose URI or headers are too large before anything reads them (hyper
/// refuses far larger ones itself, without our JSON body: see the README).
async fn refuse_oversized_heads<E: Endpoint>(next: E, req: poem::Request) -> poem::Result<poem::Response> {
    let uri = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if uri > request_limits::MAX_URI_BYTES {
        return Ok(ApiError::<error::AnyCode>::uri_too_long().as_response());
    }
    let headers = req.headers();
    let header_bytes: usize = headers.iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    if headers.len() > request_limits::MAX_HEADERS || header_bytes > request_limits::MAX_HEADER_BYTES {
        return Ok(ApiError::<error::AnyCode>::header_too_large().as_response());
    }
    // poem reads a header it cannot decode as absent: a key of other bytes would be dropped.
    if let Some(key) = headers.get("idempotency-key")
        && !key.as_bytes().iter().all(u8::is_ascii_graphic)
    {
        let invalid = ValidationError::new("Idempotency-Key", "must be 1 to 255 visible ASCII characters");
        return Ok(ApiError::<error::AnyCode>::from(invalid).as_response());
    }
    next.call(req).await.map(IntoResponse::into_response)
}

/// Counts every answer by operation and status, and logs it at `debug` (one line, no
/// formatting unless that level is on).
async fn count_requests<E: Endpoint>(
    next: E,
    req: poem::Request,
    metrics: Metrics,
    routes: routes::Routes,
) -> poem::Result<poem::Response> {
    let started = Instant::now();
    let method = req.method().clone();
    // Kept for answers without an operation ID (refused before their handler); a `Uri` clone
    // shares its bytes, so the common case allocates nothing.
    let uri = req.uri().clone();
    let response = match next.call(req).await {
        Ok(response) => response.into_response(),
        Err(err) => err.into_response(),
    };
    let route = match response.data::<OperationId>() {
        Some(id) => id.0,
        None => routes.operation(method.as_str(), uri.path()).unwrap_or("other"),
    };
    let status = response.status().as_u16();
    metrics.http_request(route, status);
    tracing::debug!(%method, route, status, took_us = started.elapsed().as_micros() as u64, "answered");
    Ok(response)
}
