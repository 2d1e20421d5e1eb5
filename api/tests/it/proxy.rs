//! A reverse proxy in front of a test app, for what sits between clients and the service:
//! one that buffers event streams (API Gateway), one that fails a request's first attempt.

use poem::{Body, Request, Response};

/// What the proxy does with a request.
pub(crate) enum Intercept {
    Forward,
    /// Answers this instead of forwarding.
    Answer(Response),
    /// Never answers (a proxy that waits for a whole event stream).
    Hang,
}

/// Starts a proxy to `target` that asks `intercept` about every request first, and answers
/// its base URL.
pub(crate) async fn spawn_proxy(
    target: String,
    intercept: impl Fn(&Request) -> Intercept + Send + Sync + 'static,
) -> String {
    let http = reqwest::Client::new();
    let intercept = std::sync::Arc::new(intercept);
    let proxy = poem::endpoint::make(move |req: Request| {
        let (target, http, intercept) = (target.clone(), http.clone(), intercept.clone());
        async move {
            match intercept(&req) {
                Intercept::Forward => {}
                Intercept::Answer(response) => return Ok(response),
                Intercept::Hang => std::future::pending::<()>().await,
            }
            let path = req.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
            let mut forward = http.request(req.method().clone(), format!("{target}{path}"));
            for (name, value) in req.headers() {
                if name != "host" {
                    forward = forward.header(name, value);
                }
            }
            let body = req.into_body().into_bytes().await?;
            let answer = forward.body(body).send().await.map_err(poem::error::BadGateway)?;
            let mut response = Response::builder().status(answer.status());
            for (name, value) in answer.headers() {
                response = response.header(name, value);
            }
            let bytes = answer.bytes().await.map_err(poem::error::BadGateway)?;
            Ok::<_, poem::Error>(response.body(Body::from(bytes.to_vec())))
        }
    });
    let limits = tokenmeter_api::http::ServerLimits::default();
    let server = tokenmeter_api::http::HttpServer::bind("127.0.0.1:0".parse().unwrap(), limits).await.unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.serve(proxy, tokio_util::sync::CancellationToken::new()));
    format!("http://{addr}")
}
