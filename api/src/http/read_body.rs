//! Reading a request body off the wire: whole, within the size limit and the body timeout.
//!
//! A body that is too large is still read (up to [`DRAIN_LIMIT`]) before the 413 goes out,
//! so a client that writes its whole body before reading gets the answer rather than a
//! connection reset. With `Expect: 100-continue` and a too-large `Content-Length` the 413 goes
//! out at once: the body is never asked for, so the client never sends it.

use std::time::Duration;

use futures::StreamExt;
use poem::{
    Request,
    http::header::{CONTENT_LENGTH, EXPECT},
};

use super::{
    error::{AnyCode, ApiError},
    request_limits::MAX_BODY_BYTES,
    server::BodyTimeout,
};

/// How much of a too-large body is read and thrown away so its client reads the 413.
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;
/// The body timeout where no server set one (on Lambda bodies arrive whole).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The whole body of `request`, or why not: too large (413), too slow (408).
pub(super) async fn read(request: &Request, body: poem::Body) -> Result<Vec<u8>, ApiError<AnyCode>> {
    let timeout = request.data::<BodyTimeout>().map_or(DEFAULT_TIMEOUT, |t| t.0);
    let declared =
        request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let mut too_large = declared.is_some_and(|n| n > MAX_BODY_BYTES as u64);
    let expects_continue = request
        .headers()
        .get(EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    if too_large && expects_continue {
        return Err(ApiError::payload_too_large());
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut chunks = body.into_bytes_stream();
    let mut bytes = Vec::new();
    let mut drained = 0;
    loop {
        let next = match tokio::time::timeout_at(deadline, chunks.next()).await {
            Ok(next) => next,
            Err(_) if too_large => break,
            Err(_) => return Err(ApiError::request_timeout(timeout)),
        };
        let chunk = match next {
            None => break,
            Some(Ok(chunk)) => chunk,
            Some(Err(err)) => return Err(ApiError::invalid_json(&format!("the body could not be read ({err})"))),
        };
        if !too_large && bytes.len() + chunk.len() > MAX_BODY_BYTES {
            too_large = true;
            drained = bytes.len();
            bytes = Vec::new();
        }
        if too_large {
            drained += chunk.len();
            if drained > DRAIN_LIMIT {
                break;
            }
        } else {
            bytes.extend_from_slice(&chunk);
        }
    }
    if too_large { Err(ApiError::payload_too_large()) } else { Ok(bytes) }
}
