//! Bad input: every case gets a 4xx in the one error shape, naming the field and the reason.
//! The exact bodies are the contract, so they are snapshots.

use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn every_bad_request_gets_a_clear_error() {
    let app = TestApp::spawn().await;
    app.create_user("taken", 100).await;
    let long_id = "a".repeat(129);
    let cases: Vec<(&str, Method, String, Option<&str>)> = vec![
        ("missing field", Method::POST, "/users".into(), Some(r#"{"userId": "x"}"#)),
        ("limit zero", Method::POST, "/users".into(), Some(r#"{"userId": "x", "tokenLimit": 0}"#)),
        ("limit negative", Method::POST, "/users".into(), Some(r#"{"userId": "x", "tokenLimit": -1}"#)),
        ("limit fraction", Method::POST, "/users".into(), Some(r#"{"userId": "x", "tokenLimit": 10.5}"#)),
        ("limit string", Method::POST, "/users".into(), Some(r#"{"userId": "x", "tokenLimit": "100"}"#)),
        (
            "limit above 2^53 - 1",
            Method::POST,
            "/users".into(),
            Some(r#"{"userId": "x", "tokenLimit": 9007199254740992}"#),
        ),
        (
            "limit above 2^53 - 1 as a float",
            Method::PUT,
            "/users/taken/limit".into(),
            Some(r#"{"newLimit": 9007199254740992.0}"#),
        ),
        ("user id number", Method::POST, "/users".into(), Some(r#"{"userId": 7, "tokenLimit": 5}"#)),
        ("user id with slash", Method::POST, "/users".into(), Some(r#"{"userId": "a/b", "tokenLimit": 5}"#)),
        ("user id empty", Method::POST, "/users".into(), Some(r#"{"userId": "", "tokenLimit": 5}"#)),
        ("malformed json", Method::POST, "/users".into(), Some(r#"{"userId": "x","#)),
        ("empty body", Method::POST, "/users".into(), None),
        ("array body", Method::POST, "/users".into(), Some("[1, 2]")),
        ("duplicate user", Method::POST, "/users".into(), Some(r#"{"userId": "taken", "tokenLimit": 5}"#)),
        ("new limit missing", Method::PUT, "/users/taken/limit".into(), Some(r#"{"limit": 5}"#)),
        ("new limit zero", Method::PUT, "/users/taken/limit".into(), Some(r#"{"newLimit": 0}"#)),
        ("usage negative", Method::POST, "/users/taken/usage".into(), Some(r#"{"tokensConsumed": -3}"#)),
        ("usage null", Method::POST, "/users/taken/usage".into(), Some(r#"{"tokensConsumed": null}"#)),
        ("unknown user", Method::GET, "/users/ghost".into(), None),
        ("path id too long", Method::GET, format!("/users/{long_id}"), None),
        ("path id bad character", Method::GET, "/users/bad%20id".into(), None),
        ("unknown route", Method::GET, "/nope".into(), None),
        ("wrong method", Method::PATCH, "/users/taken".into(), None),
    ];
    let mut answers = Vec::new();
    for (name, method, path, body) in cases {
        let (status, json) = app.send_raw(method, &path, body).await;
        assert!((400..500).contains(&status), "{name}: {status} {json}");
        assert!(json["error"].is_string() && json["message"].is_string(), "{name}: {json}");
        answers.push(json!({ "case": name, "status": status, "body": json }));
    }
    insta::assert_json_snapshot!(answers);

    // Nothing above changed the one user that exists.
    let taken = app.client.get_user("taken").await.unwrap().into_inner();
    assert_eq!((taken.token_limit, taken.token_usage), (100, 0));
}

#[tokio::test]
async fn oversized_bodies_get_413_and_change_nothing() {
    let app = TestApp::spawn().await;
    app.create_user("big", 100).await;
    let padding = "x".repeat(tokenmeter_api::http::MAX_BODY_BYTES);
    let body = format!(r#"{{"tokensConsumed": 1, "padding": "{padding}"}}"#);
    let (status, json) = app.send_raw(Method::POST, "/users/big/usage", Some(&body)).await;
    assert_eq!((status, json["error"].as_str()), (413, Some("payload_too_large")));
    assert_eq!(app.client.get_user("big").await.unwrap().into_inner().token_usage, 0);
}

#[tokio::test]
async fn chunked_oversized_bodies_are_refused_too() {
    let app = TestApp::spawn().await;
    let kib = tokenmeter_api::http::MAX_BODY_BYTES / 1024 + 8;
    let chunks: Vec<Result<String, std::io::Error>> = (0..kib).map(|_| Ok("y".repeat(1024))).collect();
    let response = app
        .http
        .post(app.url("/users"))
        .bearer_auth(crate::helpers::ADMIN_KEY)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}
