//! One connection: hyper's HTTP/1.1 state machine, the poem endpoint for each request, and a
//! watchdog that closes the connection when a client is too slow to send a request's headers.
//!
//! hyper's own header timeout runs from the moment it waits for a request, so it also bounds
//! the idle time between keep-alive requests: it is set to the idle timeout. The watchdog adds
//! the shorter header timeout, which runs from a request's first byte (or from connecting, for
//! the first request) until hyper hands the request over. A client that trickles a header byte
//! every few seconds is closed after the header timeout, whatever it sends.

use std::{
    convert::Infallible,
    io,
    net::SocketAddr,
    pin::{Pin, pin},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use http_body_util::combinators::BoxBody as HyperBody;
use hyper::body::Bytes;
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use poem::{
    Addr, Endpoint,
    endpoint::BoxEndpoint,
    http::uri::Scheme,
    web::{LocalAddr, RemoteAddr},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
    sync::Notify,
    time::Instant,
};
use tokio_util::sync::CancellationToken;

use super::ServerLimits;
use crate::http::request_limits::MAX_HEADERS;

/// The socket's send buffer (Linux doubles it for its own bookkeeping).
const SEND_BUFFER: usize = 128 * 1024;
/// hyper's read and write buffers: room for the largest head we answer in JSON (16 KiB) and
/// a few of a stream's events.
const MAX_BUFFER: usize = 64 * 1024;

pub(super) type App = Arc<BoxEndpoint<'static, poem::Response>>;

/// A body as poem hands it over.
type BoxBody = HyperBody<Bytes, io::Error>;

/// A connection about to be served.
pub(super) struct Connection {
    pub(super) app: App,
    pub(super) local: SocketAddr,
    pub(super) remote: SocketAddr,
    pub(super) limits: ServerLimits,
}

impl Connection {
    /// Serves requests until the client closes, a timeout closes the connection, or the
    /// server stops (then the request in flight, if any, finishes first).
    pub(super) async fn serve(self, socket: TcpStream, stopping: CancellationToken) {
        let _ = socket.set_nodelay(true);
        // A bounded send buffer (the kernel would grow it to megabytes for a reader that does
        // not read): a stalled reader then stalls its stream within the stall timeout.
        let _ = socket2::SockRef::from(&socket).set_send_buffer_size(SEND_BUFFER);
        let Self { app, local, remote, limits } = self;
        let state = Arc::new(State::new());
        let io = TokioIo::new(Watched { inner: socket, state: state.clone() });
        let service = service_fn({
            let state = state.clone();
            move |req: hyper::Request<Incoming>| {
                let in_flight = state.request_started();
                let app = app.clone();
                async move {
                    let addrs = (LocalAddr(Addr::SocketAddr(local)), RemoteAddr(Addr::SocketAddr(remote)));
                    let request = poem::Request::from((req, addrs.0, addrs.1, Scheme::HTTP));
                    let response: hyper::Response<BoxBody> = app.get_response(request).await.into();
                    Ok::<_, Infallible>(response.map(|body| Tracked { body, _in_flight: in_flight }))
                }
            }
        });
        let mut conn = pin!(
            http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.idle_timeout)
                // Above our own limits (answered in JSON by the endpoint), below hyper's refusals.
                .max_headers(2 * MAX_HEADERS)
                .max_buf_size(MAX_BUFFER)
                .serve_connection(io, service)
        );
        tokio::select! {
            _ = conn.as_mut() => return,
            () = watchdog(&state, limits.header_timeout) => {
                tracing::debug!(%remote, "closed a connection that did not send its request's headers in time");
                return;
            }
            () = stopping.cancelled() => {}
        }
        // Stopping: an idle connection closes now; one with a request in flight after its answer.
        conn.as_mut().graceful_shutdown();
        let _ = conn.await;
    }
}

/// What the watchdog knows of a connection, from its reads and its requests.
struct State {
    opened: Instant,
    /// Requests whose answers are still being written.
    in_flight: AtomicUsize,
    /// Whether an answer has been written (the first request's deadline runs from connecting).
    answered: AtomicBool,
    /// When the next request's first byte arrived, in milliseconds after `opened`; `NONE` when
    /// no request is being received.
    head_since: AtomicU64,
    wake: Notify,
}

const NONE: u64 = u64::MAX;

impl State {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            answered: AtomicBool::new(false),
            head_since: AtomicU64::new(NONE),
            wake: Notify::new(),
        }
    }

    fn bytes_read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 && self.head_since.load(Ordering::Acquire) == NONE {
            let since = self.opened.elapsed().as_millis() as u64;
            self.head_since.store(since, Ordering::Release);
            self.wake.notify_one();
        }
    }

    fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(NONE, Ordering::Release);
        InFlight(self.clone())
    }

    /// When the request being received must have its headers in, if one is.
    fn head_deadline(&self, timeout: Duration) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        match self.head_since.load(Ordering::Acquire) {
            NONE if self.answered.load(Ordering::Acquire) => None,
            NONE => Some(self.opened + timeout),
            since => Some(self.opened + Duration::from_millis(since) + timeout),
        }
    }
}

/// Held while a request's answer is written; dropped with the answer's body.
struct InFlight(Arc<State>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.answered.store(true, Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Returns when the request being received has not sent its headers in time.
async fn watchdog(state: &State, header_timeout: Duration) {
    loop {
        match state.head_deadline(header_timeout) {
            Some(at) if at <= Instant::now() => return,
            Some(at) => tokio::select! {
                () = tokio::time::sleep_until(at) => {}
                () = state.wake.notified() => {}
            },
            None => state.wake.notified().await,
        }
    }
}

/// The socket, telling the watchdog when bytes arrive.
struct Watched {
    inner: TcpStream,
    state: Arc<State>,
}

impl AsyncRead for Watched {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.state.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// An answer's body, holding its request in flight until hyper has written it all.
struct Tracked {
    body: BoxBody,
    _in_flight: InFlight,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, io::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
