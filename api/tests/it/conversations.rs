//! Conversations through the HTTP API: kept turn by turn after each settled call (one-shot and
//! streamed), nothing kept for a call that failed or was replayed, private to their user,
//! validated with the field named, bounded.

use reqwest::Method;
use serde_json::json;
use tokenmeter_client::types::{InvokeRequest, NewConversation};

use crate::{
    helpers::{TestApp, ask, error_of},
    invoke::stream,
};

fn in_conversation(prompt: &str, conversation: &str) -> InvokeRequest {
    InvokeRequest { conversation_id: Some(conversation.to_owned()), ..ask(prompt) }
}

async fn start(app: &TestApp, user: &str) -> String {
    let created = app.client.create_conversation(user, &NewConversation { title: None }).await.unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let created = created.into_inner();
    assert_eq!((created.turn_count, created.title.as_deref()), (0, None));
    created.conversation_id
}

#[tokio::test]
async fn every_settled_exchange_is_kept_with_its_cost_and_read_back_in_order() {
    let app = TestApp::spawn().await;
    app.create_user("ann", 1_000).await;
    let chat = start(&app, "ann").await;

    let first = app.client.invoke_model("ann", None, &in_conversation("plan a trip", &chat)).await.unwrap();
    let first = first.into_inner();
    let body = json!({ "prompt": "to Lisbon", "conversationId": chat,
                       "history": [{"role": "user", "text": "plan a trip"}, {"role": "assistant", "text": first.response}] });
    let (status, events) = stream(&app, "ann", body).await;
    assert_eq!((status, events.last().unwrap().0.as_str()), (200, "done"));

    let kept = app.client.get_conversation("ann", &chat).await.unwrap().into_inner();
    let texts: Vec<_> = kept.turns.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(texts, ["plan a trip", "echo: plan a trip", "to Lisbon", "echo: to Lisbon"]);
    assert_eq!((kept.turn_count, kept.title.as_deref()), (4, Some("plan a trip")), "the first prompt names it");
    let answer = kept.turns[1].usage.as_ref().expect("an answer carries its usage");
    assert_eq!((answer.input_tokens, answer.output_tokens), (first.input_tokens, first.output_tokens));
    assert_eq!((answer.input_cost, answer.output_cost), (first.cost.input_cost, first.cost.output_cost));
    assert_eq!(answer.total_cost, first.cost.total_cost);
    assert!(kept.turns[0].usage.is_none() && !kept.turns[0].truncated);

    // The newest conversation is listed first; the one just used moves back to the top.
    let other = start(&app, "ann").await;
    let listed = |app: &TestApp| {
        let client = app.client.clone();
        async move {
            let list = client.list_conversations("ann").await.unwrap().into_inner();
            list.conversations.into_iter().map(|c| c.conversation_id).collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(&app).await, vec![other.clone(), chat.clone()]);
    app.client.invoke_model("ann", None, &in_conversation("one more", &chat)).await.unwrap();
    assert_eq!(listed(&app).await, vec![chat.clone(), other.clone()]);

    let deleted = app.client.delete_conversation("ann", &other).await.unwrap().into_inner();
    assert!(deleted.success);
    assert_eq!(error_of(app.client.get_conversation("ann", &other).await).1.error, "conversation_not_found");
    assert_eq!(listed(&app).await, vec![chat]);
}

#[tokio::test]
async fn a_refused_or_replayed_call_keeps_nothing_and_an_unknown_conversation_costs_nothing() {
    let app = TestApp::spawn().await;
    app.create_user("bo", 20).await;
    let chat = start(&app, "bo").await;
    app.client.invoke_model("bo", Some("k-1"), &in_conversation("one two three four", &chat)).await.unwrap();
    let replayed = app.client.invoke_model("bo", Some("k-1"), &in_conversation("one two three four", &chat)).await;
    assert_eq!(replayed.unwrap().headers()["idempotent-replayed"], "true");
    // Used up: the next call is refused, and nothing is appended.
    app.record("bo", 10).await;
    let refused = error_of(app.client.invoke_model("bo", None, &in_conversation("more words please", &chat)).await);
    assert_eq!((refused.0, refused.1.error.as_str()), (429, "token_limit_exceeded"));
    let kept = app.client.get_conversation("bo", &chat).await.unwrap().into_inner();
    assert_eq!(kept.turns.len(), 2, "one exchange: the replay and the refusal add nothing");

    app.create_user("cy", 100).await;
    let unknown = in_conversation("hello", "0123456789abcdef");
    let (status, err) = error_of(app.client.invoke_model("cy", None, &unknown).await);
    assert_eq!((status, err.error.as_str()), (404, "conversation_not_found"));
    assert_eq!(app.client.get_user("cy").await.unwrap().into_inner().token_usage, 0, "refused before the call");
}

#[tokio::test]
async fn conversations_are_private_to_their_user_and_validated_field_by_field() {
    let app = TestApp::spawn().await;
    app.create_user("dee", 100).await;
    app.create_user("eve", 100).await;
    let chat = start(&app, "dee").await;
    let eve = app.client_with(&app.user_key("eve").await);
    let dee = app.client_with(&app.user_key("dee").await);

    assert_eq!(error_of(eve.list_conversations("dee").await).1.error, "user_not_found");
    assert_eq!(error_of(eve.get_conversation("dee", &chat).await).1.error, "user_not_found");
    // Under eve's own name, dee's conversation does not exist.
    assert_eq!(error_of(eve.get_conversation("eve", &chat).await).1.error, "conversation_not_found");
    assert_eq!(error_of(eve.delete_conversation("eve", &chat).await).1.error, "conversation_not_found");
    let (status, err) = error_of(eve.invoke_model("eve", None, &in_conversation("hi", &chat)).await);
    assert_eq!((status, err.error.as_str()), (404, "conversation_not_found"));
    assert_eq!(dee.get_conversation("dee", &chat).await.unwrap().into_inner().turn_count, 0);
    assert_eq!(error_of(app.client.list_conversations("nobody").await).1.error, "user_not_found");

    let field = |result: (u16, serde_json::Value)| (result.0, result.1["details"]["field"].as_str().map(str::to_owned));
    let blank = app.send_raw(Method::POST, "/users/dee/conversations", Some(r#"{"title": "  "}"#)).await;
    assert_eq!(field(blank), (400, Some("title".into())));
    let long = json!({ "title": "t".repeat(201) }).to_string();
    assert_eq!(field(app.send_raw(Method::POST, "/users/dee/conversations", Some(&long)).await).0, 400);
    let bad_id = app.send_raw(Method::GET, "/users/dee/conversations/NOT-AN-ID", None).await;
    assert_eq!(field(bad_id), (400, Some("conversationId".into())));
    let bad_ref = json!({ "prompt": "hi", "conversationId": "xyz" }).to_string();
    assert_eq!(
        field(app.send_raw(Method::POST, "/invoke/dee", Some(&bad_ref)).await),
        (400, Some("conversationId".into()))
    );
    let too_long = json!({ "prompt": "w ".repeat(32_001), "conversationId": chat }).to_string();
    assert_eq!(field(app.send_raw(Method::POST, "/invoke/dee", Some(&too_long)).await), (400, Some("prompt".into())));
    let titled = dee.create_conversation("dee", &NewConversation { title: Some(" Plans ".into()) }).await.unwrap();
    assert_eq!(titled.into_inner().title.as_deref(), Some("Plans"));
}

#[tokio::test]
async fn a_full_user_or_conversation_answers_409_naming_the_bound() {
    let app = TestApp::spawn().await;
    app.create_user("fay", 1_000_000).await;
    let mut first = None;
    for _ in 0..100 {
        first.get_or_insert(start(&app, "fay").await);
    }
    let (status, err) = error_of(app.client.create_conversation("fay", &NewConversation { title: None }).await);
    assert_eq!((status, err.error.as_str()), (409, "conversation_limit_reached"));
    assert!(err.message.contains("100"), "{}", err.message);

    let chat = first.unwrap();
    for i in 0..100 {
        app.client.invoke_model("fay", None, &in_conversation(&format!("turn {i}"), &chat)).await.unwrap();
    }
    let before = app.client.get_user("fay").await.unwrap().into_inner().token_usage;
    let (status, err) = error_of(app.client.invoke_model("fay", None, &in_conversation("one more", &chat)).await);
    assert_eq!((status, err.error.as_str()), (409, "conversation_limit_reached"));
    assert!(err.message.contains("200"), "{}", err.message);
    assert_eq!(app.client.get_user("fay").await.unwrap().into_inner().token_usage, before, "refused before the call");
}
