//! Who may do what: every operation in the spec × every kind of credential.
//!
//! The matrix is keyed by operationId and checked against the operations the served spec
//! lists, so a new route without an entry here fails the build's tests.

use std::collections::BTreeSet;

use reqwest::Method;
use tokenmeter_client::types::{CreateUserRequest, IssueKeyRequest, NewConversation};

use crate::helpers::{ADMIN_KEY, TestApp, error_of, new_user};

/// The credentials each operation is tried with, in this order.
const CREDENTIALS: [&str; 6] = ["no key", "bad key", "revoked key", "own user key", "other user's key", "admin key"];

struct Case {
    operation: &'static str,
    method: Method,
    /// `{user}` is alice (the own user), `{key}` a spare key of alice's, `{conversation}` one
    /// of alice's conversations.
    path: &'static str,
    body: Option<&'static str>,
    /// Expected status per credential, in the order of [`CREDENTIALS`].
    expect: [u16; 6],
    /// The answer is an endless event stream: check its status and headers only.
    streams: bool,
}

fn matrix() -> Vec<Case> {
    use Method as M;
    let case = |operation, method, path, body, expect| Case { operation, method, path, body, expect, streams: false };
    vec![
        case(
            "createUser",
            M::POST,
            "/users",
            Some(r#"{"userId": "carol", "tokenLimit": 5}"#),
            [401, 401, 401, 403, 403, 201],
        ),
        case("listUsers", M::GET, "/users", None, [401, 401, 401, 403, 403, 200]),
        case("getUser", M::GET, "/users/{user}", None, [401, 401, 401, 200, 404, 200]),
        case(
            "updateUserLimit",
            M::PUT,
            "/users/{user}/limit",
            Some(r#"{"newLimit": 5000}"#),
            [401, 401, 401, 403, 403, 200],
        ),
        case(
            "recordUsage",
            M::POST,
            "/users/{user}/usage",
            Some(r#"{"tokensConsumed": 3}"#),
            [401, 401, 401, 200, 404, 200],
        ),
        case("deleteUser", M::DELETE, "/users/{user}", None, [401, 401, 401, 403, 403, 200]),
        case(
            "issueKey",
            M::POST,
            "/keys",
            Some(r#"{"role": "user", "userId": "alice"}"#),
            [401, 401, 401, 403, 403, 201],
        ),
        case("listKeys", M::GET, "/keys", None, [401, 401, 401, 403, 403, 200]),
        case("revokeKey", M::DELETE, "/keys/{key}", None, [401, 401, 401, 403, 403, 200]),
        case("whoAmI", M::GET, "/me", None, [401, 401, 401, 200, 200, 200]),
        case("invokeModel", M::POST, "/invoke/{user}", Some(r#"{"prompt": "hi"}"#), [401, 401, 401, 200, 404, 200]),
        case(
            "invokeModelStream",
            M::POST,
            "/invoke/{user}/stream",
            Some(r#"{"prompt": "hi"}"#),
            [401, 401, 401, 200, 404, 200],
        ),
        case("health", M::GET, "/health", None, [200, 200, 200, 200, 200, 200]),
        case("listTiers", M::GET, "/tiers", None, [401, 401, 401, 403, 403, 200]),
        case("putTier", M::PUT, "/tiers/team", Some(r#"{"quotas": []}"#), [401, 401, 401, 403, 403, 200]),
        case("deleteTier", M::DELETE, "/tiers/spare", None, [401, 401, 401, 403, 403, 200]),
        case("setUserTier", M::PUT, "/users/{user}/tier", Some(r#"{"tier": "free"}"#), [401, 401, 401, 403, 403, 200]),
        case(
            "setUserQuotas",
            M::PUT,
            "/users/{user}/quotas",
            Some(r#"{"quotas": []}"#),
            [401, 401, 401, 403, 403, 200],
        ),
        case("getUserQuotas", M::GET, "/users/{user}/quotas", None, [401, 401, 401, 200, 404, 200]),
        case(
            "checkQuota",
            M::POST,
            "/users/{user}/quota-check",
            Some(r#"{"estimatedTokens": 10}"#),
            [401, 401, 401, 200, 404, 200],
        ),
        case("createGuest", M::POST, "/guests", None, [201, 201, 201, 201, 201, 201]),
        case("usageReport", M::GET, "/reports/usage?userId={user}", None, [401, 401, 401, 200, 404, 200]),
        case("listEvents", M::GET, "/events?userId={user}", None, [401, 401, 401, 200, 404, 200]),
        case("metrics", M::GET, "/metrics", None, [401, 401, 401, 403, 403, 200]),
        case("listAlertRules", M::GET, "/alerts/rules", None, [401, 401, 401, 403, 403, 200]),
        case(
            "putAlertRule",
            M::PUT,
            "/alerts/rules/spend",
            Some(r#"{"metric": "cost", "windowSeconds": 3600, "threshold": 5}"#),
            [401, 401, 401, 403, 403, 200],
        ),
        case("deleteAlertRule", M::DELETE, "/alerts/rules/errors-per-5-minutes", None, [401, 401, 401, 403, 403, 200]),
        case("listAlerts", M::GET, "/alerts", None, [401, 401, 401, 403, 403, 200]),
        case("listConversations", M::GET, "/users/{user}/conversations", None, [401, 401, 401, 200, 404, 200]),
        case(
            "createConversation",
            M::POST,
            "/users/{user}/conversations",
            Some(r#"{"title": "t"}"#),
            [401, 401, 401, 201, 404, 201],
        ),
        case(
            "getConversation",
            M::GET,
            "/users/{user}/conversations/{conversation}",
            None,
            [401, 401, 401, 200, 404, 200],
        ),
        // The own key deletes it: the admin then finds it gone.
        case(
            "deleteConversation",
            M::DELETE,
            "/users/{user}/conversations/{conversation}",
            None,
            [401, 401, 401, 200, 404, 404],
        ),
        Case {
            streams: true,
            ..case("userEvents", M::GET, "/users/{user}/events", None, [401, 401, 401, 200, 404, 200])
        },
        Case { streams: true, ..case("usersEvents", M::GET, "/events/users", None, [401, 401, 401, 403, 403, 200]) },
    ]
}

/// Operations that answer without a key.
const PUBLIC: &[&str] = &["health", "createGuest"];

struct Fixture {
    app: TestApp,
    credentials: [Option<String>; 6],
    spare_key_id: String,
    conversation_id: String,
}

async fn fixture() -> Fixture {
    let app = TestApp::builder()
        .settings(|s| {
            s.guests.enabled = true;
            s.guests.per_address = 100;
        })
        .spawn()
        .await;
    let spare_tier = r#"{"quotas": [{"metric": "requests", "period": "day", "limit": 5}]}"#;
    assert_eq!(app.send_raw(Method::PUT, "/tiers/spare", Some(spare_tier)).await.0, 200);
    app.create_user("alice", 1000).await;
    app.create_user("bob", 1000).await;
    let own = app.user_key("alice").await;
    let other = app.user_key("bob").await;
    let revoked = app.user_key("alice").await;
    let keys = app.client.list_keys().await.unwrap().into_inner().keys;
    let revoked_id = &keys.iter().find(|k| revoked.contains(&k.key_id)).unwrap().key_id;
    app.client.revoke_key(revoked_id).await.unwrap();
    let spare = app.user_key("alice").await;
    let spare_key_id = spare.split('_').nth(1).unwrap().to_owned();
    let bad = "tmk_0123456789ab_0000000000000000000000000000000000000000000000000".to_owned();
    let credentials = [None, Some(bad), Some(revoked), Some(own), Some(other), Some(ADMIN_KEY.to_owned())];
    let conversation = app.client.create_conversation("alice", &NewConversation { title: None }).await.unwrap();
    let conversation_id = conversation.into_inner().conversation_id;
    Fixture { app, credentials, spare_key_id, conversation_id }
}

#[tokio::test]
async fn every_operation_answers_each_credential_as_the_matrix_says() {
    for case in matrix() {
        // A fresh service per operation: the admin's call (last) may delete what it names.
        let fixture = fixture().await;
        let path = case
            .path
            .replace("{user}", "alice")
            .replace("{key}", &fixture.spare_key_id)
            .replace("{conversation}", &fixture.conversation_id);
        for (credential, (key, expected)) in CREDENTIALS.iter().zip(fixture.credentials.iter().zip(case.expect)) {
            let (status, body) = match case.streams {
                true => fixture.app.open_stream_as(key.as_deref(), &path).await,
                false => fixture.app.send_as(key.as_deref(), case.method.clone(), &path, case.body).await,
            };
            assert_eq!(status, expected, "{} {path} with {credential}: {body}", case.method);
            if status == 401 {
                assert_eq!(body["error"].as_str().map(|c| c == "unauthorized" || c == "invalid_api_key"), Some(true));
            }
            if status == 404 && *credential == "other user's key" {
                assert_eq!(body["error"], "user_not_found", "another user's data must look absent, not forbidden");
            }
        }
    }
}

#[tokio::test]
async fn the_matrix_covers_every_operation_in_the_spec_and_only_public_ones_lack_security() {
    let app = TestApp::spawn().await;
    let spec: serde_json::Value = app.http.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let mut in_spec = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap().to_owned();
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            assert_eq!(
                !secured,
                PUBLIC.contains(&id.as_str()),
                "{method} {path} ({id}): security does not match PUBLIC"
            );
            in_spec.insert(id);
        }
    }
    let in_matrix: BTreeSet<String> = matrix().iter().map(|c| c.operation.to_owned()).collect();
    assert_eq!(in_spec, in_matrix, "every operation needs a row in the auth matrix");
}

#[tokio::test]
async fn both_headers_carry_a_key_and_401s_say_how_to_authenticate() {
    let fixture = fixture().await;
    let own = fixture.credentials[3].clone().unwrap();
    let app = &fixture.app;
    let with_header = app.http.get(app.url("/users/alice")).header("X-API-Key", &own).send().await.unwrap();
    assert_eq!(with_header.status(), 200);

    let anonymous = app.http.get(app.url("/users/alice")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], r#"Bearer realm="tokenmeter""#);
    let basic = app.http.get(app.url("/users/alice")).header("authorization", "Basic YWRtaW46YWRtaW4=").send().await;
    let basic: serde_json::Value = basic.unwrap().json().await.unwrap();
    assert_eq!(basic["error"], "unauthorized");
    assert!(basic["message"].as_str().unwrap().contains("Bearer"));
}

#[tokio::test]
async fn revocation_and_deletion_take_effect_on_the_next_request() {
    let app = TestApp::spawn().await;
    let created = app
        .client
        .create_user(None, &CreateUserRequest { issue_key: Some(true), ..new_user("dana", 100) })
        .await
        .unwrap()
        .into_inner();
    let issued = created.api_key.expect("a key was asked for");
    let dana = app.client_with(&issued.api_key);
    assert_eq!(dana.who_am_i().await.unwrap().into_inner().user_id.as_deref(), Some("dana"));

    app.client.revoke_key(&issued.key_id).await.unwrap();
    assert_eq!(error_of(dana.get_user("dana").await).1.error, "invalid_api_key");

    // A deleted user's keys die with it: re-creating the ID does not revive them.
    let second = app.user_key("dana").await;
    app.client.delete_user("dana").await.unwrap();
    app.create_user("dana", 100).await;
    assert_eq!(error_of(app.client_with(&second).get_user("dana").await).0, 401);
}

#[tokio::test]
async fn keys_are_listed_without_secrets_and_user_keys_need_a_real_user() {
    let app = TestApp::spawn().await;
    app.create_user("erin", 10).await;
    let key = app.user_key("erin").await;
    let listed = serde_json::to_string(&app.client.list_keys().await.unwrap().into_inner()).unwrap();
    let secret = key.rsplit('_').next().unwrap();
    assert!(!listed.contains(secret), "a listing must never contain a secret");

    let ghost = IssueKeyRequest::User { user_id: "ghost".into(), label: None };
    assert_eq!(error_of(app.client.issue_key(&ghost).await).1.error, "user_not_found");
    // The typed client cannot send an admin key request naming a user; the service refuses it.
    let admin_with_user = r#"{"role": "admin", "userId": "erin"}"#;
    let (status, err) = app.send_raw(reqwest::Method::POST, "/keys", Some(admin_with_user)).await;
    assert_eq!((status, err["details"]["field"].as_str()), (400, Some("userId")));
    assert_eq!(error_of(app.client.revoke_key("not-a-key-id").await).0, 400);
    assert_eq!(error_of(app.client.revoke_key("0123456789ab").await).1.error, "key_not_found");
}

#[tokio::test]
async fn cors_admits_configured_origins_only() {
    let app = TestApp::builder().cors(&["http://app.example"]).spawn().await;
    let preflight = |origin: &'static str| {
        app.http
            .request(Method::OPTIONS, app.url("/users"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let allowed = preflight("http://app.example").await.unwrap();
    assert_eq!(allowed.headers()["access-control-allow-origin"], "http://app.example");
    let refused = preflight("http://evil.example").await.unwrap();
    assert!(refused.headers().get("access-control-allow-origin").is_none());

    // Without configured origins no cross-origin access is granted at all.
    let same_origin_only = TestApp::spawn().await;
    let response = same_origin_only.http.get(same_origin_only.url("/health")).header("origin", "http://app.example");
    assert!(response.send().await.unwrap().headers().get("access-control-allow-origin").is_none());
}
