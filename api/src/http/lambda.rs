//! The service as an AWS Lambda function. Each event (API Gateway REST or HTTP API, ALB, or a
//! Function URL) becomes a poem request for the same application that serves HTTP locally; its
//! answer goes back either whole ([`LambdaResponse::Buffered`], what API Gateway expects) or as
//! it is written ([`LambdaResponse::Streaming`], for a Function URL in `RESPONSE_STREAM` mode:
//! the first `delta` of `/invoke/{userId}/stream` and every snapshot of a live view reach the
//! client while the call goes on).
//!
//! An invocation cannot outlive its deadline, and a live view never ends by itself: every
//! answer's body ends [`DEADLINE_MARGIN`] before the deadline, so a long stream closes cleanly
//! (the web app reconnects) instead of being cut off by a timeout.
//!
//! After each answer's head, what the metrics gained is written as CloudWatch EMF lines
//! (`emf.rs`); a stream's settlement is written with the next invocation's.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use futures::{
    StreamExt, TryStreamExt,
    future::{BoxFuture, LocalBoxFuture},
    stream::BoxStream,
};
use http_body::Frame;
use http_body_util::StreamBody;
use lambda_http::{Body as LambdaBody, Request as LambdaRequest, RequestExt, service_fn};
use poem::{
    Addr, Body, Endpoint, EndpointExt, Request, RequestParts, Response, http,
    http::uri::Scheme,
    web::{LocalAddr, RemoteAddr},
};
use tokio::time::Instant;

use super::emf::EmfReporter;
use crate::{config::LambdaResponse, domain::Metrics};

/// How long before the invocation's deadline an answer's body ends.
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

type Error = lambda_http::Error;
type Chunks = BoxStream<'static, Result<Bytes, std::io::Error>>;
type StreamedBody = StreamBody<BoxStream<'static, Result<Frame<Bytes>, std::io::Error>>>;

/// Answers the events the Lambda runtime hands this process with `app`, until it is stopped.
pub async fn run_on_lambda(app: impl Endpoint + 'static, mode: LambdaResponse, metrics: Metrics) -> anyhow::Result<()> {
    tracing::info!(?mode, "running on AWS Lambda");
    let app = Arc::new((app.map_to_response(), EmfReporter::new(metrics)));
    // Boxed futures: the application's types are deep, and the runtime's would nest them further.
    let runtime: LocalBoxFuture<'static, Result<(), Error>> = match mode {
        LambdaResponse::Buffered => Box::pin(lambda_http::run(service_fn(move |event| {
            let app = app.clone();
            Box::pin(async move { buffered(answer(&app.0, &app.1, event).await).await }) as BoxFuture<'static, _>
        }))),
        LambdaResponse::Streaming => Box::pin(lambda_http::run_with_streaming_response(service_fn(move |event| {
            let app = app.clone();
            Box::pin(async move { Ok::<_, Error>(streamed(answer(&app.0, &app.1, event).await)) })
                as BoxFuture<'static, _>
        }))),
    };
    let outcome = runtime.await;
    outcome.map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))
}

/// The whole answer at once: its body collected until it ends (or the deadline nears).
async fn buffered(answer: http::Response<Chunks>) -> Result<http::Response<LambdaBody>, Error> {
    let (head, chunks) = answer.into_parts();
    let chunks: Vec<Bytes> = chunks.try_collect().await?;
    let body = match String::from_utf8(chunks.concat()) {
        Ok(text) if text.is_empty() => LambdaBody::Empty,
        Ok(text) => LambdaBody::Text(text),
        Err(binary) => LambdaBody::Binary(binary.into_bytes()),
    };
    Ok(http::Response::from_parts(head, body))
}

/// The answer's head at once, then its body chunk by chunk as the application writes it.
fn streamed(answer: http::Response<Chunks>) -> http::Response<StreamedBody> {
    answer.map(|chunks| StreamBody::new(chunks.map_ok(Frame::data).boxed()))
}

/// The application's answer to one event, its body a stream of chunks that ends
/// [`DEADLINE_MARGIN`] before the invocation's deadline.
async fn answer(
    app: &impl Endpoint<Output = Response>,
    emf: &EmfReporter,
    event: LambdaRequest,
) -> http::Response<Chunks> {
    let deadline = event.lambda_context_ref().map(|context| context.deadline);
    let (parts, body) = app.get_response(poem_request(event)).await.into_parts();
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    emf.flush(since_epoch.as_millis() as i64);
    let until = Box::pin(tokio::time::sleep_until(cut_off(deadline)));
    let mut answer = http::Response::new(body.into_bytes_stream().take_until(until).boxed());
    *answer.status_mut() = parts.status;
    *answer.version_mut() = parts.version;
    *answer.headers_mut() = parts.headers;
    *answer.extensions_mut() = parts.extensions;
    answer
}

/// When a body must end: [`DEADLINE_MARGIN`] before `deadline` (milliseconds since the epoch,
/// from the Runtime API); far in the future when there is none.
fn cut_off(deadline: Option<u64>) -> Instant {
    let now = Instant::now();
    let Some(deadline) = deadline else { return now + Duration::from_secs(365 * 24 * 3600) };
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let left = Duration::from_millis(deadline).saturating_sub(since_epoch);
    now + left.saturating_sub(DEADLINE_MARGIN)
}

/// The event as a poem request: method, URI, headers, body, the Lambda context, and the
/// client's address as API Gateway saw it (per-address limits, such as guest creation, need it).
fn poem_request(event: LambdaRequest) -> Request {
    let client = client_address(&event);
    let (parts, body) = event.into_parts();
    let body = match body {
        LambdaBody::Empty => Body::empty(),
        LambdaBody::Text(text) => Body::from_string(text),
        LambdaBody::Binary(data) => Body::from_vec(data),
    };
    let remote = RemoteAddr(Addr::SocketAddr(SocketAddr::new(client, 0)));
    let local = LocalAddr(Addr::SocketAddr(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)));
    Request::from_parts(RequestParts::from((parts, local, remote, Scheme::HTTPS)), body)
}

/// The caller's IP: API Gateway's `sourceIp` (REST and HTTP APIs, Function URLs), else the
/// last `X-Forwarded-For` address (an ALB appends the address it saw; earlier ones are the
/// client's word), else loopback.
fn client_address(event: &LambdaRequest) -> IpAddr {
    use lambda_http::request::RequestContext;
    let from_context = match event.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.clone(),
        Some(RequestContext::ApiGatewayV1(context)) => context.identity.source_ip.clone(),
        _ => None,
    };
    let forwarded = || {
        let header = event.headers().get("x-forwarded-for")?.to_str().ok()?;
        header.rsplit(',').next().map(|last| last.trim().to_owned())
    };
    from_context.or_else(forwarded).and_then(|ip| ip.parse().ok()).unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(source_ip: Option<&str>, forwarded_for: Option<&str>) -> LambdaRequest {
        let mut headers = serde_json::json!({ "host": "abc123.lambda-url.us-east-1.on.aws" });
        if let Some(forwarded) = forwarded_for {
            headers["x-forwarded-for"] = forwarded.into();
        }
        let mut http = serde_json::json!({ "method": "POST", "path": "/guests", "protocol": "HTTP/1.1" });
        if let Some(ip) = source_ip {
            http["sourceIp"] = ip.into();
        }
        let event = serde_json::json!({
            "version": "2.0", "routeKey": "$default", "rawPath": "/guests", "rawQueryString": "",
            "headers": headers,
            "requestContext": { "http": http, "requestId": "r", "routeKey": "$default", "stage": "$default" },
            "isBase64Encoded": false
        });
        lambda_http::request::from_str(&event.to_string()).expect("an HTTP API event")
    }

    #[test]
    fn the_client_address_is_the_one_api_gateway_saw() {
        let request = poem_request(event(Some("203.0.113.7"), Some("198.51.100.1")));
        assert_eq!(request.remote_addr().as_socket_addr().map(|a| a.ip().to_string()), Some("203.0.113.7".into()));
        let behind_a_balancer = client_address(&event(None, Some("198.51.100.1, 192.0.2.44")));
        assert_eq!(behind_a_balancer.to_string(), "192.0.2.44", "the address the balancer appended");
        assert_eq!(client_address(&event(None, None)), IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
}
