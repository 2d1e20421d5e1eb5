//! Stopping (SIGTERM, Ctrl-C): the server stops accepting, lets calls in flight finish and be
//! charged, ends live streams, and exits within the drain timeout.

use std::time::Duration;

use serde_json::json;

use crate::{
    binary::start,
    fake_bedrock::FakeBedrock,
    helpers::{ADMIN_KEY, TestApp, ask, binary_store_env, eventually},
    sse::SseReader,
};

#[tokio::test]
async fn stopping_lets_a_call_in_flight_finish_ends_live_streams_and_refuses_new_connections() {
    let fake = FakeBedrock::start().await;
    fake.count_tokens(5).await;
    fake.converse_after(Duration::from_millis(800), "finished", 5, 7).await;
    let provider = std::sync::Arc::new(fake.provider(Duration::from_secs(10)).await);
    let mut app = TestApp::builder().provider(provider).spawn().await;
    app.create_user("busy", 1_000).await;
    let live = app.http.get(app.url("/users/busy/events")).bearer_auth(ADMIN_KEY).send().await.unwrap();
    let mut live = SseReader::of_response(live);
    assert!(live.next_event(Duration::from_secs(5)).await.is_some(), "the first snapshot");

    let client = app.client.clone();
    let call = tokio::spawn(async move { client.invoke_model("busy", None, &ask("take a moment")).await });
    eventually("the call holds its budget", Duration::from_secs(5), || async { app.reserved("busy").await > 0 }).await;
    let addr = app.addr;
    app.stop().await;

    let answer = call.await.unwrap().expect("the call in flight finished").into_inner();
    assert_eq!((answer.response.as_str(), answer.tokens_consumed), ("finished", 12));
    let busy = tokenmeter_api::domain::UserId::parse("userId", "busy").unwrap();
    assert_eq!(app.stores.accounts.user(&busy).await.unwrap().unwrap().token_usage(), 12, "charged");
    // The live stream ends (`all` fails if it does not), whatever it sent last.
    live.all(Duration::from_secs(5)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "a stopped server accepts nothing");
}

#[tokio::test]
async fn sigterm_and_ctrl_c_stop_the_binary_with_streams_open() {
    let data = tempfile::tempdir().unwrap();
    let mut store_env = binary_store_env(data.path()).await;
    store_env.push(("TOKENMETER_ADMIN_KEY", ADMIN_KEY.to_owned()));
    for signal in ["TERM", "INT"] {
        let mut service = start(&store_env);
        let http = reqwest::Client::new();
        let created = http
            .post(format!("{}/users", service.url))
            .bearer_auth(ADMIN_KEY)
            .json(&json!({ "userId": format!("open-{signal}"), "tokenLimit": 10 }))
            .send()
            .await
            .unwrap();
        assert!(created.status().is_success() || created.status() == 409);
        let stream = http.get(format!("{}/events/users", service.url)).bearer_auth(ADMIN_KEY).send().await.unwrap();
        let mut stream = SseReader::of_response(stream);
        assert!(stream.next_event(Duration::from_secs(5)).await.is_some(), "the list arrives");

        service.signal(signal);
        let status = service.exited_within(Duration::from_secs(10)).await.expect("the service exits");
        assert!(status.success(), "SIG{signal}: {status}");
        stream.all(Duration::from_secs(2)).await; // it ended
        assert!(!service.logged("stopping").is_empty(), "SIG{signal} is logged");
    }
}
