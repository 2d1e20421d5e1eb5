//! The tests' one reader of server-sent events: from the generated client's byte streams or
//! raw responses, event by event, each within a deadline.

use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt, stream::BoxStream};
use serde_json::Value;

/// One event: its type (`message` when unnamed) and its data.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SseEvent {
    pub(crate) kind: String,
    pub(crate) data: String,
}

impl SseEvent {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("event data is not JSON ({e}): {}", self.data))
    }
}

pub(crate) struct SseReader {
    body: BoxStream<'static, Result<Bytes, String>>,
    buffer: String,
}

impl SseReader {
    pub(crate) fn new<E: std::fmt::Display>(body: impl Stream<Item = Result<Bytes, E>> + Send + 'static) -> Self {
        Self { body: body.map(|chunk| chunk.map_err(|e| e.to_string())).boxed(), buffer: String::new() }
    }

    /// The events of the generated client's stream.
    pub(crate) fn of(body: tokenmeter_client::ByteStream) -> Self {
        Self::new(body.into_inner())
    }

    /// The events of a raw response.
    pub(crate) fn of_response(response: reqwest::Response) -> Self {
        Self::new(response.bytes_stream())
    }

    /// The next event with data, or `None` when the stream ended; fails after `within`.
    pub(crate) async fn next_event(&mut self, within: Duration) -> Option<SseEvent> {
        tokio::time::timeout(within, async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..end + 2).collect();
                    let field = |name: &str| -> Vec<&str> {
                        block.lines().filter_map(|l| l.strip_prefix(name)).map(str::trim_start).collect()
                    };
                    let data = field("data:");
                    if data.is_empty() {
                        continue; // a comment (keep-alive)
                    }
                    let kind = field("event:").first().map_or("message", |k| *k).to_owned();
                    return Some(SseEvent { kind, data: data.join("\n") });
                }
                match self.body.next().await {
                    Some(chunk) => {
                        let chunk = chunk.expect("a stream chunk");
                        self.buffer.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
                    }
                    None => return None,
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no event within {within:?}"))
    }

    /// The next event's data, as `T`.
    pub(crate) async fn next<T: serde::de::DeserializeOwned>(&mut self, within: Duration) -> Option<T> {
        let event = self.next_event(within).await?;
        Some(serde_json::from_str(&event.data).unwrap_or_else(|e| panic!("unexpected event ({e}): {}", event.data)))
    }

    /// Every event until the stream ends.
    pub(crate) async fn all(mut self, within: Duration) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next_event(within).await {
            events.push(event);
        }
        events
    }
}
