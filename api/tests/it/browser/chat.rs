//! The chat to the last token: conversations kept by the service (a reload finds every turn),
//! the quota check before each send offering to drop the oldest turns when only they do not
//! fit, a chat driven to exactly zero tokens, and "New conversation".

use super::{
    driver::{LIVE, ONE_BROWSER, PATIENCE, built_web_app, open_browser},
    user::user_with_key,
};
use crate::helpers::TestApp;

#[tokio::test]
async fn a_chat_runs_to_exactly_zero_tokens_and_a_reload_keeps_every_turn() {
    if !crate::suites::available(crate::suites::Suite::Browser) {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let app = TestApp::builder().web(&built_web_app()).spawn().await;
    // 17 tokens: the first exchange takes 8 (4 in, 4 out), leaving 9; the second prompt fits
    // them only without the first exchange, and its answer is cut to what is left.
    let key = user_with_key(&app, "gil", 17).await;
    let browser = open_browser(&app).await;
    browser.sign_in(&key).await;
    browser.wait_text("[data-testid=usage]", PATIENCE, |t| t == "0").await;
    browser.goto("/chat").await;
    browser.wait_text("[data-testid=chat-remaining]", PATIENCE, |t| t == "17 tokens left").await;
    browser.wait_text(".conversations", PATIENCE, |t| t.contains("No conversations yet")).await;
    browser.look("chat-empty").await;

    browser.fill("#prompt", "hello there world").await;
    browser.click("[data-testid=send]").await;
    browser.wait_text(".turn-assistant .turn-text", PATIENCE, |t| t == "echo: hello there world").await;
    browser.wait_text("[data-testid=chat-remaining]", LIVE, |t| t == "9 tokens left").await;
    browser.wait_text("[data-testid=conversation]", PATIENCE, |t| t.contains("hello there world")).await;

    // With the first exchange the turn would need about 26 tokens: the chat offers the two
    // ways that can pass instead of sending a call that cannot.
    browser.fill("#prompt", "one two three four").await;
    browser.click("[data-testid=send]").await;
    browser
        .wait_text("[data-testid=fit-offer]", PATIENCE, |t| t.contains("too long for the tokens you have left"))
        .await;
    assert_eq!(app.client.get_user("gil").await.unwrap().into_inner().token_usage, 8, "nothing was sent");
    browser.look("chat-fit-offer").await;

    browser.click("[data-testid=offer-drop]").await;
    browser.wait_text("[data-testid=turns]", PATIENCE, |t| t.contains("echo: one two three")).await;
    browser.wait_text("[data-testid=context-divider]", PATIENCE, |t| t.contains("no longer sent")).await;
    browser.wait_text("[data-testid=chat-limit]", LIVE, |t| t.contains("You have used all of your tokens")).await;
    browser.wait_text("[data-testid=chat-remaining]", PATIENCE, |t| t == "0 tokens left").await;
    let gil = app.client.get_user("gil").await.unwrap().into_inner();
    assert_eq!((gil.token_usage, gil.remaining_tokens), (17, 0), "driven to exactly zero");
    let prompt = browser.wait_for("#prompt").await;
    assert!(prompt.attr("disabled").await.unwrap().is_some(), "the prompt is off at zero tokens");
    browser.look("chat-zero-tokens").await;

    // A reload finds the conversation, every turn of it, from the service.
    browser.c.refresh().await.unwrap();
    let turns = browser.wait_text("[data-testid=turns]", PATIENCE, |t| t.contains("echo: one two three")).await;
    for said in ["hello there world", "echo: hello there world", "one two three four"] {
        assert!(turns.contains(said), "{said:?} is missing after the reload: {turns}");
    }
    browser.wait_text("[data-testid=conversation-title]", PATIENCE, |t| t == "hello there world").await;
    browser.look("chat-after-reload").await;

    // "New conversation" clears the page; the kept one stays listed.
    browser.click("[data-testid=new-conversation]").await;
    browser.wait_text("[data-testid=conversation-title]", PATIENCE, |t| t == "New conversation").await;
    browser.wait_gone(".turn").await;
    browser.wait_text("[data-testid=conversation]", PATIENCE, |t| t.contains("hello there world")).await;
}
