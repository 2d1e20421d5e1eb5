//! HTTP/1.1 over a plain socket, for what no client library sends: trickled headers, a body
//! written whole before reading, `Expect: 100-continue`, oversized heads, a reader that stops.

use std::{net::SocketAddr, time::Duration};

use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};

/// A response as read off the socket.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// Connects to `addr`; with `receive_buffer`, a small kernel receive buffer (a reader that
/// stops reading then fills it after a few kilobytes).
pub(crate) async fn connect(addr: SocketAddr, receive_buffer: Option<u32>) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    if let Some(size) = receive_buffer {
        socket.set_recv_buffer_size(size).expect("receive buffer");
    }
    socket.connect(addr).await.expect("connect")
}

/// A request's head with `headers` (each `Name: value`), and its body.
pub(crate) fn request(method: &str, path: &str, headers: &[String], body: &[u8]) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: tokenmeter\r\n");
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    if !body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Reads one response (its body by `Content-Length`, or to the end of the connection).
pub(crate) async fn read_response(socket: &mut TcpStream, within: Duration) -> RawResponse {
    tokio::time::timeout(within, read_one(socket)).await.expect("a response in time")
}

async fn read_one(socket: &mut TcpStream) -> RawResponse {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = socket.read(&mut buf).await.expect("read a response");
        assert!(n > 0, "the connection closed before a response: {:?}", String::from_utf8_lossy(&bytes));
        bytes.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    let mut response = RawResponse { status, head, body: bytes[head_end..].to_vec() };
    match response.header("content-length").and_then(|n| n.parse::<usize>().ok()) {
        Some(length) => {
            while response.body.len() < length {
                let n = socket.read(&mut buf).await.expect("read a body");
                assert!(n > 0, "the connection closed inside a body");
                response.body.extend_from_slice(&buf[..n]);
            }
        }
        None if response.header("transfer-encoding").is_none() => {
            socket.read_to_end(&mut response.body).await.expect("read to the end");
        }
        None => {}
    }
    response
}

/// Whether the server has closed `socket` (a read sees the end, or a reset).
pub(crate) async fn closed_within(socket: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, socket.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// Writes all of `bytes`, ignoring a server that closes meanwhile (the test reads why).
pub(crate) async fn write_all(socket: &mut TcpStream, bytes: &[u8]) {
    let _ = socket.write_all(bytes).await;
}
