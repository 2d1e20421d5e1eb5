//! What a user does: watch their dashboard change live, chat with the model, read their own
//! API snippets.

use std::time::{Duration, Instant};

use tokenmeter_client::types::CreateUserRequest;

use super::driver::{LIVE, ONE_BROWSER, PATIENCE, built_web_app, open_browser, spawn_buffering_proxy};
use crate::helpers::{TestApp, new_limit, new_user};

/// Creates `id` with `limit` tokens and answers the user's own key.
pub(super) async fn user_with_key(app: &TestApp, id: &str, limit: u64) -> String {
    let request = CreateUserRequest { issue_key: Some(true), ..new_user(id, limit) };
    app.client.create_user(None, &request).await.unwrap().into_inner().api_key.unwrap().api_key
}

#[tokio::test]
async fn a_user_watches_their_dashboard_change_live_up_to_the_limit() {
    if !crate::suites::available(crate::suites::Suite::Browser) {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let app = TestApp::builder().web(&built_web_app()).spawn().await;
    let key = user_with_key(&app, "erin", 1000).await;
    app.record("erin", 500).await;
    let browser = open_browser(&app).await;

    browser.sign_in(&key).await;
    browser.wait_text("[data-testid=usage]", PATIENCE, |t| t == "500").await;
    browser.wait_text("[data-testid=remaining]", PATIENCE, |t| t == "500").await;
    browser.wait_text("[data-testid=percentage]", PATIENCE, |t| t == "50%").await;
    browser.wait_text("[data-testid=link]", PATIENCE, |t| t == "Live").await;
    browser.wait_title("Dashboard · tokenmeter").await;
    assert_eq!(browser.wait_text("[data-testid=who]", PATIENCE, |_| true).await, "erin");
    // Recorded usage, no model call: labelled, not a bare $0.
    browser.wait_text("[data-testid=cost]", PATIENCE, |t| t == "$0.000000").await;
    browser.wait_text(".grid-4", PATIENCE, |t| t.contains("recorded usage — no model cost")).await;
    browser.look("dashboard").await;

    // A change made through the API shows within a second.
    let started = Instant::now();
    app.record("erin", 350).await;
    browser.wait_text("[data-testid=usage]", LIVE, |t| t == "850").await;
    let took = started.elapsed();
    assert!(took < LIVE, "the dashboard took {took:?}");
    browser.wait_text("[data-testid=limit-warning]", PATIENCE, |t| t.contains("85% of the limit used")).await;
    browser.look("dashboard-warning").await;

    // Reaching the limit shows the limit state.
    app.record("erin", 150).await;
    browser.wait_text("[data-testid=limit-reached]", LIVE, |t| t.contains("Token limit reached")).await;
    browser.wait_text("[data-testid=status]", PATIENCE, |t| t == "Limit reached").await;
    browser.wait_text("[data-testid=remaining]", PATIENCE, |t| t == "0").await;
    browser.look("dashboard-limit-reached").await;

    // Raising the limit lifts it, live.
    app.client.update_user_limit("erin", &new_limit(4000)).await.unwrap();
    browser.wait_text("[data-testid=status]", LIVE, |t| t == "Healthy").await;

    // The key is kept for the browser session: a reload stays signed in.
    browser.c.refresh().await.unwrap();
    browser.wait_text("[data-testid=usage]", PATIENCE, |t| t == "1,000").await;
    // A user key cannot open admin pages, and is told so.
    for admin_page in ["/admin/users", "/admin/users/erin"] {
        browser.goto(admin_page).await;
        browser.wait_text(".alert", PATIENCE, |t| t.contains("for administrators")).await;
    }

    // Their own snippets: the user's calls only, never an admin-only one.
    browser.goto("/snippets/erin").await;
    browser.wait_title("API snippets for erin · tokenmeter").await;
    let first = browser.wait_text("[data-testid=snippet]", PATIENCE, |_| true).await;
    assert!(first.contains(&format!("{}/invoke/erin", app.url(""))), "{first}");
    assert!(browser.c.find_all(fantoccini::Locator::Css(".snippet[data-op=DeleteUser]")).await.unwrap().is_empty());
    let page = browser.wait_text("main", PATIENCE, |_| true).await;
    assert!(!page.contains(&key), "snippets never show the signed-in key");
    browser.look("snippets").await;

    // Deleting the user revokes the key: the next visit says so, in the API's words.
    app.client.delete_user("erin").await.unwrap();
    browser.goto("/dashboard").await;
    browser.wait_text("[data-testid=signin-error]", PATIENCE, |t| t.contains("The API key is not valid")).await;
}

#[tokio::test]
async fn where_streams_are_buffered_the_dashboard_polls_every_five_seconds() {
    if !crate::suites::available(crate::suites::Suite::Browser) {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let app = TestApp::builder().web(&built_web_app()).spawn().await;
    let key = user_with_key(&app, "fay", 1000).await;
    let mut browser = open_browser(&app).await;
    browser.base = spawn_buffering_proxy(&app).await;

    browser.sign_in(&key).await;
    browser.wait_text("[data-testid=usage]", PATIENCE, |t| t == "0").await;
    browser.wait_text("[data-testid=link]", PATIENCE, |t| t == "Refreshing every 5 s").await;
    let started = Instant::now();
    app.record("fay", 42).await;
    browser.wait_text("[data-testid=usage]", PATIENCE, |t| t == "42").await;
    let took = started.elapsed();
    // Well before a second poll would be due: a slow machine may delay one poll, not skip it.
    assert!(took < Duration::from_secs(9), "a poll every 5 s should have shown it, took {took:?}");
    // The chip stays while polling goes on.
    browser.wait_text("[data-testid=link]", PATIENCE, |t| t == "Refreshing every 5 s").await;
}

#[tokio::test]
async fn a_user_chats_with_the_echo_model_until_the_limit_turns_chat_off() {
    if !crate::suites::available(crate::suites::Suite::Browser) {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let app = TestApp::builder().web(&built_web_app()).spawn().await;
    let key = user_with_key(&app, "finn", 30).await;
    let browser = open_browser(&app).await;
    browser.sign_in(&key).await;
    browser.wait_text("[data-testid=usage]", PATIENCE, |t| t == "0").await;

    browser.click("a[href='/chat']").await;
    browser.wait_title("Chat · tokenmeter").await;
    browser.wait_text("[data-testid=chat-remaining]", PATIENCE, |t| t == "30 tokens left").await;
    browser.fill("#prompt", "hello there world").await;
    browser.click("[data-testid=send]").await;

    // The echo model answers with the prompt: 4 tokens in (3 words + 1 for the turn), 4 out,
    // at Claude Sonnet 4.5's prices: 4 × $3/M + 4 × $15/M = $0.000072, shown as its parts.
    browser.wait_text(".turn-assistant .turn-text", PATIENCE, |t| t.trim() == "echo: hello there world").await;
    browser.wait_text("[data-testid=exchange-tokens]", PATIENCE, |t| t == "8").await;
    browser.wait_text("[data-testid=exchange-input-cost]", PATIENCE, |t| t == "$0.000012").await;
    browser.wait_text("[data-testid=exchange-output-cost]", PATIENCE, |t| t == "$0.000060").await;
    browser.wait_text("[data-testid=exchange-cost]", PATIENCE, |t| t == "$0.000072").await;
    browser.wait_text("[data-testid=chat-remaining]", LIVE, |t| t == "22 tokens left").await;
    let finn = app.client.get_user("finn").await.unwrap().into_inner();
    assert_eq!((finn.token_usage, finn.total_cost), (8, 0.000072));
    browser.look("chat").await;

    // Spending the rest elsewhere turns the chat off, live, and says why.
    app.record("finn", 22).await;
    browser.wait_text("[data-testid=chat-limit]", LIVE, |t| t.contains("You have used all of your tokens")).await;
    let prompt = browser.wait_for("#prompt").await;
    assert!(prompt.attr("disabled").await.unwrap().is_some(), "the prompt must be disabled at the limit");
    browser.look("chat-limit-reached").await;
}
