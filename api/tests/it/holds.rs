//! Holds live exactly as long as their calls: a stream whose reader stops reading is cancelled
//! and its hold released (nothing charged), and a call whose hold was nevertheless lost is
//! charged at most what is free. Either way no user passes a limit. Run on both stores.

use std::{sync::Arc, time::Duration};

use serde_json::json;
use std::num::NonZeroU64;
use tokenmeter_api::domain::{ManualClock, Timestamp};
use tokenmeter_client::types::InvokeRequest;
use tokio::io::AsyncReadExt;

use crate::{
    fake_bedrock::FakeBedrock,
    helpers::{ADMIN_KEY, TestApp, ask, eventually, usage},
    raw_http::{connect, request, write_all},
};

const LIMIT: u64 = 10_000;
const MAX_OUTPUT: u64 = 4_000;
const HOLD_TTL: Duration = Duration::from_secs(120);

async fn app_on(fake: &FakeBedrock, clock: &ManualClock) -> TestApp {
    let provider = Arc::new(fake.provider(Duration::from_secs(30)).await);
    TestApp::builder()
        .provider(provider)
        .clock(clock.clone())
        .settings(|s| {
            s.invoke.hold_ttl = HOLD_TTL;
            s.invoke.stream_stall_timeout = Duration::from_millis(500);
        })
        .spawn()
        .await
}

#[tokio::test]
async fn streams_left_unread_past_the_hold_ttl_never_charge_past_the_limit() {
    let fake = FakeBedrock::start().await;
    fake.count_tokens(5).await;
    // An answer of over a megabyte: more than the sockets' and hyper's buffers hold.
    let deltas = vec!["the quick brown fox jumps over the lazy dog, again and again. "; 20_000];
    fake.converse_stream(&deltas, 5, 3_000).await;
    fake.converse("spent what the streams held", 5, 8_000).await;
    let clock = ManualClock::at(Timestamp::from_millis(1_700_000_000_000));
    let app = app_on(&fake, &clock).await;
    app.create_user("reader", LIMIT).await;

    // Two clients with small receive buffers start streams, read the head, and stop reading.
    let body = json!({ "prompt": "tell me everything", "maxOutputTokens": MAX_OUTPUT }).to_string();
    let headers = [format!("Authorization: Bearer {ADMIN_KEY}"), "Content-Type: application/json".into()];
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let mut socket = connect(app.addr, Some(4_096)).await;
        write_all(&mut socket, &request("POST", "/invoke/reader/stream", &headers, body.as_bytes())).await;
        let mut head = [0u8; 12];
        socket.read_exact(&mut head).await.expect("the response starts");
        assert_eq!(&head, b"HTTP/1.1 200");
        stalled.push(socket);
    }
    // The hold's life passes; the sweeper runs (as another instance's would).
    clock.advance(HOLD_TTL + Duration::from_secs(1));
    app.services.invocations.release_expired().await.expect("sweep");

    // The stalled calls are cancelled within the stall timeout, their holds released.
    eventually("both stalled calls are cancelled", Duration::from_secs(10), || async { cancelled_calls(&app) == 2 })
        .await;
    assert_eq!(app.reserved("reader").await, 0);
    // What they held is spent by another call…
    let request = InvokeRequest { max_output_tokens: NonZeroU64::new(9_000), ..ask("spend it") };
    let spent = app.client.invoke_model("reader", None, &request).await.expect("room for the call").into_inner();
    assert_eq!(spent.tokens_consumed, 8_005);
    // …and when the readers finally read, their calls are over: nothing more is charged.
    for mut socket in stalled {
        let ended = tokio::time::timeout(Duration::from_secs(10), read_to_last_chunk(&mut socket)).await;
        assert!(ended.is_ok(), "the stalled stream was ended by the server");
    }
    let user = app.client.get_user("reader").await.unwrap().into_inner();
    assert_eq!(user.token_usage, 8_005, "the stalled streams charged nothing");
    assert_eq!(app.reserved("reader").await, 0);
}

#[tokio::test]
async fn a_call_whose_hold_was_lost_is_charged_at_most_what_is_free() {
    let fake = FakeBedrock::start().await;
    fake.count_tokens(5).await;
    fake.converse_after(Duration::from_secs(1), "a long answer", 5, 3_000).await;
    let clock = ManualClock::at(Timestamp::from_millis(1_700_000_000_000));
    let app = app_on(&fake, &clock).await;
    app.create_user("lost", LIMIT).await;

    let client = app.client.clone();
    let call = tokio::spawn(async move {
        let request = tokenmeter_client::types::InvokeRequest {
            max_output_tokens: std::num::NonZeroU64::new(MAX_OUTPUT),
            ..ask("go on")
        };
        client.invoke_model("lost", None, &request).await
    });
    eventually("the call holds its budget", Duration::from_secs(5), || async { app.reserved("lost").await > 0 }).await;
    // The call outlives its hold: the clock jumps past its expiry before any renewal, and the
    // sweeper releases it while the model is still answering.
    clock.advance(HOLD_TTL + Duration::from_secs(1));
    assert_eq!(app.services.invocations.release_expired().await.expect("sweep"), 1);
    assert_eq!(app.reserved("lost").await, 0);
    // The freed budget is spent meanwhile: 8,000 of 10,000, so 2,000 are free.
    app.client.record_usage("lost", None, &usage(8_000)).await.expect("room for the record");

    let answered = call.await.unwrap().expect("the call is answered").into_inner();
    assert_eq!(answered.tokens_consumed, 3_005, "the answer says what the model used");
    let user = app.client.get_user("lost").await.unwrap().into_inner();
    assert_eq!(user.token_usage, LIMIT, "charged only the 2,000 that were free");
    let metrics = app.services.core.metrics().snapshot();
    assert_eq!((metrics.settlement_losses, metrics.lost_tokens), (1, 1_005));

    // Once recorded usage has passed the limit (records are never refused), a lost hold's
    // call is charged nothing, and still answered.
    app.client.record_usage("lost", None, &usage(500)).await.expect("records may pass the limit");
    app.client.update_user_limit("lost", &crate::helpers::new_limit(LIMIT + 5_000)).await.unwrap();
    let client = app.client.clone();
    let call = tokio::spawn(async move { client.invoke_model("lost", None, &ask("once more")).await });
    eventually("the call holds its budget", Duration::from_secs(5), || async { app.reserved("lost").await > 0 }).await;
    clock.advance(HOLD_TTL + Duration::from_secs(1));
    assert_eq!(app.services.invocations.release_expired().await.expect("sweep"), 1);
    app.client.update_user_limit("lost", &crate::helpers::new_limit(LIMIT)).await.unwrap();
    call.await.unwrap().expect("the call is answered");
    assert_eq!(app.client.get_user("lost").await.unwrap().into_inner().token_usage, LIMIT + 500);
    let metrics = app.services.core.metrics().snapshot();
    assert_eq!((metrics.settlement_losses, metrics.lost_tokens), (2, 1_005 + 3_005));
}

#[tokio::test]
async fn a_running_call_renews_its_hold_so_the_sweeper_keeps_it() {
    let fake = FakeBedrock::start().await;
    fake.count_tokens(5).await;
    fake.converse_after(Duration::from_millis(1_500), "done", 5, 10).await;
    let app = TestApp::builder()
        .provider(Arc::new(fake.provider(Duration::from_secs(30)).await))
        .settings(|s| s.invoke.hold_ttl = Duration::from_millis(600))
        .spawn()
        .await;
    app.create_user("renewed", LIMIT).await;
    let client = app.client.clone();
    let call = tokio::spawn(async move { client.invoke_model("renewed", None, &ask("hello")).await });
    eventually("the call holds its budget", Duration::from_secs(5), || async { app.reserved("renewed").await > 0 })
        .await;
    // Sweep again and again for longer than the hold's life: renewals keep it.
    let swept = async {
        let mut released = 0;
        while !call.is_finished() {
            released += app.services.invocations.release_expired().await.expect("sweep");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        released
    };
    assert_eq!(swept.await, 0, "no hold of a running call was released");
    let answered = call.await.unwrap().expect("answered").into_inner();
    assert_eq!(answered.tokens_consumed, 15);
    assert_eq!(app.client.get_user("renewed").await.unwrap().into_inner().token_usage, 15);
}

/// Reads a chunked response until its last chunk (the connection stays open for keep-alive).
async fn read_to_last_chunk(socket: &mut tokio::net::TcpStream) {
    let mut tail = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = socket.read(&mut buf).await.expect("read the stream");
        assert!(n > 0, "the connection closed inside the stream");
        tail.extend_from_slice(&buf[..n]);
        if tail.ends_with(b"\r\n0\r\n\r\n") {
            return;
        }
        let keep = tail.len().saturating_sub(8);
        tail.drain(..keep);
    }
}

/// Model calls the service cancelled (their readers left or stopped reading).
fn cancelled_calls(app: &TestApp) -> u64 {
    let calls = app.services.core.metrics().snapshot().model_calls;
    calls.iter().filter(|((_, outcome), _)| outcome == "cancelled").map(|(_, n)| n).sum()
}
