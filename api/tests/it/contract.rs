//! The seed contract: paths, field names and status codes, through the generated client.

use crate::helpers::{TestApp, TestStore, error_of, new_limit, new_user, usage};

fn parse_time(s: &str) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).expect("ISO-8601")
}

#[tokio::test]
async fn create_answers_201_with_success_and_the_user_at_both_levels() {
    let app = TestApp::spawn().await;
    let response = app.client.create_user(None, &new_user("alice", 1000)).await.unwrap();
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(response.headers()["x-tokens-remaining"], "1000");
    let body = response.into_inner();
    assert!(body.success);
    let top = (body.user_id.as_str(), body.token_limit, body.token_usage, body.remaining_tokens);
    assert_eq!(
        top,
        (body.user.user_id.as_str(), body.user.token_limit, body.user.token_usage, body.user.remaining_tokens)
    );
    assert_eq!((body.user.user_id.as_str(), body.user.token_limit, body.user.token_usage), ("alice", 1000, 0));
    assert_eq!(body.user.total_cost, 0.0);
    assert!(body.user.last_updated.ends_with('Z'));
}

#[tokio::test]
async fn duplicate_ids_get_409_and_the_original_is_untouched() {
    let app = TestApp::spawn().await;
    app.create_user("bob", 500).await;
    app.record("bob", 7).await;
    let (status, err) = error_of(app.client.create_user(None, &new_user("bob", 9)).await);
    assert_eq!((status, err.error.as_str()), (409, "user_already_exists"));
    let bob = app.client.get_user("bob").await.unwrap().into_inner();
    assert_eq!((bob.token_limit, bob.token_usage), (500, 7));
}

#[tokio::test]
async fn get_returns_the_user_fields_and_the_remaining_header() {
    let app = TestApp::spawn().await;
    app.create_user("carol", 1000).await;
    app.record("carol", 360).await;
    let response = app.client.get_user("carol").await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["x-tokens-remaining"], "640");
    let carol = response.into_inner();
    assert_eq!((carol.token_usage, carol.remaining_tokens, carol.percentage_used), (360, 640, 36.0));
}

#[tokio::test]
async fn update_limit_persists_and_stamps_last_updated() {
    let app = TestApp::spawn().await;
    let created = app.create_user("dave", 100).await;
    let before = time::OffsetDateTime::now_utc();
    let updated = app.client.update_user_limit("dave", &new_limit(200_000)).await.unwrap().into_inner();
    assert!(updated.success);
    assert_eq!(updated.token_limit, 200_000);
    assert_eq!(updated.user.token_limit, 200_000);
    let stamped = parse_time(&updated.last_updated);
    assert!(stamped >= before - time::Duration::milliseconds(1), "{stamped} < {before}");
    assert!(stamped >= parse_time(&created.last_updated));
    assert_eq!(app.client.get_user("dave").await.unwrap().into_inner().token_limit, 200_000);
}

#[tokio::test]
async fn record_usage_adds_and_answers_the_reference_fields() {
    let app = TestApp::spawn().await;
    app.create_user("erin", 100).await;
    app.record("erin", 60).await;
    let after = app.record("erin", 45).await;
    // Recorded usage is a fact: it may pass the limit (the reference UI shows 105 %).
    assert_eq!((after.user_id.as_str(), after.token_usage, after.remaining_tokens), ("erin", 105, 0));
    assert_eq!(after.percentage_used, 105.0);
    assert!(after.success);
}

#[tokio::test]
async fn list_shows_every_user_with_percentage_used() {
    let app = TestApp::spawn().await;
    for (id, limit, used) in [("user1", 100_000, 0), ("user2", 100, 105), ("user3", 1000, 318), ("user4", 500, 398)] {
        app.create_user(id, limit).await;
        app.record(id, used).await;
    }
    let users = app.client.list_users().await.unwrap().into_inner().users;
    let summary: Vec<_> = users.iter().map(|u| (u.user_id.as_str(), u.percentage_used)).collect();
    assert_eq!(summary, [("user1", 0.0), ("user2", 105.0), ("user3", 31.8), ("user4", 79.6)]);
}

#[tokio::test]
async fn delete_answers_the_message_then_404_everywhere() {
    let app = TestApp::spawn().await;
    app.create_user("frank", 10).await;
    let deleted = app.client.delete_user("frank").await.unwrap().into_inner();
    assert_eq!(deleted.message, "User deleted successfully");
    assert_eq!(deleted.user_id, "frank");

    let (status, err) = error_of(app.client.get_user("frank").await);
    assert_eq!((status, err.error.as_str()), (404, "user_not_found"));
    assert_eq!(error_of(app.client.delete_user("frank").await).0, 404);
    assert_eq!(error_of(app.client.update_user_limit("frank", &new_limit(5)).await).0, 404);
    assert_eq!(error_of(app.client.record_usage("frank", None, &usage(1)).await).0, 404);
    assert!(app.client.list_users().await.unwrap().into_inner().users.is_empty());
}

#[tokio::test]
async fn health_names_the_store_and_every_response_has_a_request_id() {
    let app = TestApp::spawn().await;
    let response = app.anonymous().health().await.unwrap();
    let request_id = response.headers().get("x-request-id").expect("x-request-id").to_str().unwrap().to_owned();
    assert!(!request_id.is_empty());
    let health = response.into_inner();
    assert_eq!(health.store, TestStore::from_env().kind());
    assert!(!health.guests, "guests are off unless configured");
    let with_guests = TestApp::builder().settings(|s| s.guests.enabled = true).spawn().await;
    assert!(
        with_guests.anonymous().health().await.unwrap().into_inner().guests,
        "the sign-in page learns guests are on"
    );

    let failed = app
        .http
        .get(app.url("/users/nobody"))
        .bearer_auth(crate::helpers::ADMIN_KEY)
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 404);
    assert_eq!(failed.headers()["x-request-id"], "trace-me-42");
}

#[tokio::test]
async fn the_openapi_document_and_the_docs_page_are_served() {
    let app = TestApp::spawn().await;
    let spec: serde_json::Value = app.http.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(spec["paths"]["/users/{userId}/usage"]["post"]["operationId"], "recordUsage");
    let docs = app.http.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));
}
