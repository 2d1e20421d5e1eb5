//! Slow, idle and too many clients: the server cuts off what would hold it, and answers
//! oversized requests in our JSON shape, read by the clients that sent them.

use std::time::{Duration, Instant};

use futures::future::join_all;
use tokio::io::AsyncWriteExt;

use crate::{
    helpers::{ADMIN_KEY, TestApp},
    raw_http::{closed_within, connect, read_response, request, write_all},
};

const HEADER_TIMEOUT: Duration = Duration::from_secs(1);
const IDLE_TIMEOUT: Duration = Duration::from_secs(3);
/// How late a timeout may act and still count as on time: the whole suite shares 2 cores, and
/// 700 connections accepted at once by a debug build can wait their turn for seconds.
const SLACK: Duration = Duration::from_secs(10);

async fn strict_app() -> TestApp {
    TestApp::builder()
        .limits(|limits| {
            limits.header_timeout = HEADER_TIMEOUT;
            limits.idle_timeout = IDLE_TIMEOUT;
            limits.body_timeout = Duration::from_secs(1);
        })
        .spawn()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slowloris_and_silent_connections_are_closed_while_others_are_served() {
    rlimit::increase_nofile_limit(4_096).expect("raise the descriptor limit");
    let app = strict_app().await;
    const TRICKLING: usize = 500;
    const SILENT: usize = 200;

    // Each sends a request line, then one header byte every 200 ms: never a whole head.
    // Each one's clock starts before it connects, so before the server's header timer starts
    // (at its accept): however late a task runs after `connect`, what it measures is at least
    // the time the server gave it.
    let trickling = (0..TRICKLING).map(|_| async {
        let opened = Instant::now();
        let mut socket = connect(app.addr, None).await;
        write_all(&mut socket, b"GET /health HTTP/1.1\r\nHost: tokenmeter\r\nX-Slow: ").await;
        loop {
            if closed_within(&mut socket, Duration::from_millis(200)).await {
                return opened.elapsed();
            }
            if socket.write_all(b"a").await.is_err() {
                return opened.elapsed();
            }
            assert!(opened.elapsed() < HEADER_TIMEOUT + SLACK, "a trickling connection was kept open");
        }
    });
    let silent = (0..SILENT).map(|_| async {
        let opened = Instant::now();
        let mut socket = connect(app.addr, None).await;
        assert!(closed_within(&mut socket, HEADER_TIMEOUT + SLACK).await, "a silent connection was kept open");
        opened.elapsed()
    });
    // Meanwhile, ordinary requests are answered.
    let ordinary = async {
        let mut took = Vec::new();
        for _ in 0..100 {
            let started = Instant::now();
            let health = app.anonymous().health().await.expect("health answers");
            assert_eq!(health.status, "ok");
            took.push(started.elapsed());
        }
        took
    };
    let (trickled, silenced, mut took) = tokio::join!(join_all(trickling), join_all(silent), ordinary);

    for lasted in trickled.iter().chain(&silenced) {
        assert!(*lasted >= HEADER_TIMEOUT, "closed before the header timeout: {lasted:?}");
    }
    took.sort();
    // For the record (speed is measured by `cargo xtask bench`, not asserted here).
    eprintln!("health p99 beside {TRICKLING} trickling and {SILENT} silent connections: {:?}", took[98]);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_closes_after_the_idle_timeout_not_the_header_one() {
    let app = strict_app().await;
    let mut socket = connect(app.addr, None).await;
    write_all(&mut socket, &request("GET", "/health", &[], b"")).await;
    assert_eq!(read_response(&mut socket, SLACK).await.status, 200);
    let answered = Instant::now();

    // Past the header timeout, the idle connection is still open…
    assert!(!closed_within(&mut socket, HEADER_TIMEOUT + Duration::from_millis(500)).await);
    // …and serves another request; then, left idle, it closes.
    write_all(&mut socket, &request("GET", "/health", &[], b"")).await;
    assert_eq!(read_response(&mut socket, SLACK).await.status, 200);
    let idle_from = Instant::now();
    assert!(closed_within(&mut socket, IDLE_TIMEOUT + SLACK).await, "an idle connection was kept open");
    assert!(idle_from.elapsed() >= IDLE_TIMEOUT, "closed early: {:?} after {answered:?}", idle_from.elapsed());
}

#[tokio::test]
async fn connections_past_the_cap_wait_until_one_closes() {
    const CAP: usize = 16;
    let app = TestApp::builder().limits(|limits| limits.max_connections = CAP).spawn().await;
    let mut held = Vec::new();
    for _ in 0..CAP {
        let mut socket = connect(app.addr, None).await;
        write_all(&mut socket, &request("GET", "/health", &[], b"")).await;
        assert_eq!(read_response(&mut socket, SLACK).await.status, 200);
        held.push(socket);
    }
    let mut waiting = connect(app.addr, None).await;
    write_all(&mut waiting, &request("GET", "/health", &[], b"")).await;
    // Not served while the cap is reached: nothing arrives.
    let mut peek = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(500), waiting.peek(&mut peek)).await;
    assert!(early.is_err(), "a connection past the cap was served");

    drop(held.pop());
    assert_eq!(read_response(&mut waiting, SLACK).await.status, 200);
}

#[tokio::test]
async fn a_client_that_writes_a_too_large_body_before_reading_gets_the_413() {
    let app = TestApp::spawn().await;
    app.create_user("big", 100).await;
    let body = vec![b'x'; 2 * 1024 * 1024];
    let auth = format!("Authorization: Bearer {ADMIN_KEY}");
    for _ in 0..10 {
        let mut socket = connect(app.addr, None).await;
        // The whole request first, as plain clients do; only then read.
        socket
            .write_all(&request("POST", "/users/big/usage", std::slice::from_ref(&auth), &body))
            .await
            .expect("the server read it");
        let response = read_response(&mut socket, SLACK).await;
        assert_eq!((response.status, response.json()["error"].as_str()), (413, Some("payload_too_large")));
    }
    assert_eq!(app.client.get_user("big").await.unwrap().into_inner().token_usage, 0);
}

#[tokio::test]
async fn expect_100_continue_with_a_too_large_length_gets_413_without_sending_the_body() {
    let app = TestApp::spawn().await;
    let mut socket = connect(app.addr, None).await;
    let headers = [
        format!("Authorization: Bearer {ADMIN_KEY}"),
        "Content-Type: application/json".into(),
        "Content-Length: 104857600".into(),
        "Expect: 100-continue".into(),
    ];
    write_all(&mut socket, &request("POST", "/users", &headers, b"")).await;
    let response = read_response(&mut socket, Duration::from_secs(2)).await;
    assert_eq!((response.status, response.json()["error"].as_str()), (413, Some("payload_too_large")));
}

#[tokio::test]
async fn a_body_slower_than_the_body_timeout_gets_408() {
    let app = strict_app().await;
    app.create_user("slow", 100).await;
    let mut socket = connect(app.addr, None).await;
    let headers = [format!("Authorization: Bearer {ADMIN_KEY}"), "Content-Length: 100".into()];
    write_all(&mut socket, &request("POST", "/users/slow/usage", &headers, b"")).await;
    write_all(&mut socket, br#"{"tokensConsumed": 1"#).await;
    let response = read_response(&mut socket, HEADER_TIMEOUT + SLACK).await;
    assert_eq!((response.status, response.json()["error"].as_str()), (408, Some("request_timeout")));
    assert_eq!(app.client.get_user("slow").await.unwrap().into_inner().token_usage, 0);
}

#[tokio::test]
async fn oversized_uris_and_headers_are_answered_in_our_json_shape() {
    let app = TestApp::spawn().await;
    let long_path = format!("/users/{}", "u".repeat(9 * 1024));
    let many_headers: Vec<String> = (0..150).map(|i| format!("X-Extra-{i}: {i}")).collect();
    let big_header = [format!("X-Big: {}", "b".repeat(20 * 1024))];
    for (path, headers, status, code) in [
        (long_path.as_str(), &[][..], 414, "uri_too_long"),
        ("/health", &many_headers[..], 431, "request_header_too_large"),
        ("/health", &big_header[..], 431, "request_header_too_large"),
    ] {
        let mut socket = connect(app.addr, None).await;
        write_all(&mut socket, &request("GET", path, headers, b"")).await;
        let response = read_response(&mut socket, SLACK).await;
        assert_eq!((response.status, response.json()["error"].as_str()), (status, Some(code)));
        assert!(response.header("x-request-id").is_some(), "{code} carries a request ID");
    }
    // Far past any sane size hyper refuses the head itself, with an empty body (see the README).
    let mut socket = connect(app.addr, None).await;
    write_all(&mut socket, &request("GET", "/health", &[format!("X-Huge: {}", "h".repeat(600 * 1024))], b"")).await;
    assert_eq!(read_response(&mut socket, SLACK).await.status, 431);
}
