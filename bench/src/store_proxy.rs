//! A counting proxy in front of DynamoDB Local: the services' store requests pass through it
//! unchanged (DynamoDB Local does not check signatures), and it counts them by operation (the
//! `X-Amz-Target` header), so store writes per call are measured on the wire.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::load::Client;

/// DynamoDB operations that write items (one request may write several).
const WRITES: &[&str] = &["PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"];
/// DynamoDB operations that read items.
const READS: &[&str] = &["GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"];

/// Store requests seen, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct StoreCalls {
    pub writes: u64,
    pub reads: u64,
    pub other: u64,
}

impl StoreCalls {
    pub(crate) fn since(&self, before: &Self) -> Self {
        Self { writes: self.writes - before.writes, reads: self.reads - before.reads, other: self.other - before.other }
    }
}

#[derive(Default)]
struct Counters {
    writes: AtomicU64,
    reads: AtomicU64,
    other: AtomicU64,
}

impl Counters {
    fn count(&self, target: &str) {
        let operation = target.rsplit('.').next().unwrap_or(target);
        let counter = if WRITES.contains(&operation) {
            &self.writes
        } else if READS.contains(&operation) {
            &self.reads
        } else {
            &self.other
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The proxy, serving until dropped.
pub(crate) struct StoreProxy {
    pub addr: SocketAddr,
    counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StoreProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StoreProxy {
    /// Serves on a free loopback port, forwarding to `upstream` (e.g. `http://127.0.0.1:8000`).
    pub(crate) async fn start(upstream: &str, client: Client) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let upstream: Arc<str> = upstream.trim_end_matches('/').into();
        let shared = counters.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (client, upstream, counters) = (client.clone(), upstream.clone(), shared.clone());
                tokio::spawn(async move {
                    let service =
                        service_fn(move |request| forward(request, client.clone(), upstream.clone(), counters.clone()));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(Self { addr, counters, task })
    }

    pub(crate) fn calls(&self) -> StoreCalls {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StoreCalls { writes: n(&self.counters.writes), reads: n(&self.counters.reads), other: n(&self.counters.other) }
    }
}

async fn forward(
    request: Request<hyper::body::Incoming>,
    client: Client,
    upstream: Arc<str>,
    counters: Arc<Counters>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let bad_gateway = || {
        let mut response = Response::new(Full::new(Bytes::from_static(b"the store proxy could not reach DynamoDB")));
        *response.status_mut() = StatusCode::BAD_GATEWAY;
        response
    };
    if let Some(target) = request.headers().get("x-amz-target").and_then(|t| t.to_str().ok()) {
        counters.count(target);
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else { return Ok(bad_gateway()) };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let Ok(uri) = format!("{upstream}{path}").parse::<hyper::Uri>() else { return Ok(bad_gateway()) };
    let mut outgoing = Request::builder().method(parts.method).uri(uri);
    for (name, value) in &parts.headers {
        outgoing = outgoing.header(name, value);
    }
    let Ok(outgoing) = outgoing.body(Full::new(body)) else { return Ok(bad_gateway()) };
    let Ok(answer) = client.request(outgoing).await else { return Ok(bad_gateway()) };
    let (parts, body) = answer.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else { return Ok(bad_gateway()) };
    Ok(Response::from_parts(parts, Full::new(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_counted_by_kind() {
        let counters = Counters::default();
        for target in [
            "DynamoDB_20120810.TransactWriteItems",
            "DynamoDB_20120810.UpdateItem",
            "DynamoDB_20120810.GetItem",
            "DynamoDB_20120810.DescribeTable",
        ] {
            counters.count(target);
        }
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        assert_eq!((n(&counters.writes), n(&counters.reads), n(&counters.other)), (2, 1, 1));
    }
}
