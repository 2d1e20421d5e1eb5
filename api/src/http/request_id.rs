//! Request IDs: every response carries `X-Request-Id` (the client's, when it sent a usable one),
//! every log line of the request carries it, and answers about failures the logs explain quote it.

use poem::{Endpoint, IntoResponse, Request, Response, http::HeaderValue};

tokio::task_local! {
    static REQUEST_ID: String;
}

const HEADER: &str = "x-request-id";

/// The ID of the request being answered, when there is one.
pub(super) fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// A client's ID when it is 1–128 visible ASCII characters; else a new one.
fn id_of(req: &Request) -> String {
    req.headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| rand::random::<[u8; 12]>().iter().map(|b| format!("{b:02x}")).collect())
}

/// Runs `next` with the request's ID in scope and on the response.
pub(super) async fn with_request_id<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let id = id_of(&req);
    let span = tracing::info_span!("request", id = %id);
    let answer = REQUEST_ID.scope(id.clone(), tracing::Instrument::instrument(next.call(req), span)).await;
    let mut response = match answer {
        Ok(response) => response.into_response(),
        Err(err) => err.into_response(),
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    Ok(response)
}
