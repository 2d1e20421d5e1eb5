//! What an administrator does: the system dashboard, the user list (sort, create with a
//! one-time key, change a limit, delete), a user's detail and snippets, and calling the model
//! as a user.

use super::driver::{ONE_BROWSER, PATIENCE, built_web_app, open_browser};
use crate::helpers::{ADMIN_KEY, TestApp, error_of};

#[tokio::test]
async fn an_administrator_signs_in_sorts_creates_relimits_and_deletes_users() {
    if !crate::suites::available(crate::suites::Suite::Browser) {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let app = TestApp::builder().web(&built_web_app()).spawn().await;
    for (id, limit, used) in [("alice", 1000, 850), ("bob", 100, 100), ("carol", 100_000, 0)] {
        app.create_user(id, limit).await;
        if used > 0 {
            app.record(id, used).await;
        }
    }
    let browser = open_browser(&app).await;

    // A wrong key: the API's error, in words.
    browser.sign_in("tmk_0123456789ab_not-a-real-secret").await;
    browser.wait_text("[data-testid=signin-error]", PATIENCE, |t| t.contains("The API key is not valid")).await;
    browser.wait_title("Sign in · tokenmeter").await;
    browser.look("sign-in-error").await;

    // The system dashboard first: every user summed, live.
    browser.sign_in(ADMIN_KEY).await;
    browser.wait_text("[data-testid=total-users]", PATIENCE, |t| t == "3").await;
    browser.wait_text("[data-testid=total-usage]", PATIENCE, |t| t == "950").await;
    browser.wait_text("[data-testid=at-limit]", PATIENCE, |t| t == "2 / 1").await;
    browser.wait_title("Dashboard · tokenmeter").await;
    app.record("carol", 50).await;
    browser.wait_text("[data-testid=total-usage]", PATIENCE, |t| t == "1,000").await;
    browser.look("admin-dashboard").await;

    browser.click("a[href='/admin/users']").await;
    browser.wait_text("[data-testid=user-count]", PATIENCE, |t| t == "3").await;
    browser.wait_title("Users · tokenmeter").await;
    browser.wait_rows(&["alice", "bob", "carol"]).await; // by usage, highest first
    let alice = "tr[data-user=alice]";
    assert_eq!(browser.wait_text(&format!("{alice} [data-testid=percentage]"), PATIENCE, |_| true).await, "85%");
    browser.wait_text(&format!("{alice} .chip"), PATIENCE, |t| t == "Warning").await;
    browser.wait_text("tr[data-user=bob] .chip", PATIENCE, |t| t == "Limit reached").await;
    // Usage recorded through the API, without a model call, says so instead of a bare $0.
    browser
        .wait_text(&format!("{alice} [data-testid=cost]"), PATIENCE, |t| t.contains("recorded usage — no model cost"))
        .await;
    browser.look("admin-users").await;

    // Sorting: by limit (highest first, then flipped), by percentage.
    browser.click("button[data-sort=Limit]").await;
    browser.wait_rows(&["carol", "alice", "bob"]).await;
    browser.click("button[data-sort=Limit]").await;
    browser.wait_rows(&["bob", "alice", "carol"]).await;
    browser.click("button[data-sort='Usage %']").await;
    browser.wait_rows(&["bob", "alice", "carol"]).await;
    browser.click("button[data-sort='Usage %']").await;
    browser.wait_rows(&["carol", "alice", "bob"]).await;

    // A limit that is not a positive whole number is named as its label names it; the
    // message clears on the next success.
    browser.fill("#new-user-id", "dave").await;
    browser.fill("#new-user-limit", "0").await;
    browser.click("[data-testid=create-user]").await;
    browser
        .wait_text("[data-testid=create-error]", PATIENCE, |t| {
            t.contains("Token limit must be a positive whole number")
        })
        .await;
    browser.fill("#new-user-limit", "5000").await;
    browser.click("[data-testid=create-user]").await;
    let key = browser.wait_text("[data-testid=issued-key]", PATIENCE, |t| t.starts_with("tmk_")).await;
    browser.wait_gone("[data-testid=create-error]").await;
    browser.look("admin-new-key").await;
    // The key dialog asks before closing, Escape included, and keeps the key meanwhile.
    browser.wait_for("#key-modal").await.send_keys("\u{E00C}").await.unwrap();
    browser.wait_text("[data-testid=key-confirm]", PATIENCE, |t| t.contains("Close without the key?")).await;
    browser.look("admin-new-key-confirm").await;
    browser.click("[data-testid=key-keep]").await;
    assert_eq!(browser.wait_text("[data-testid=issued-key]", PATIENCE, |_| true).await, key);
    browser.click("[data-testid=key-done]").await;
    browser.click("[data-testid=key-close]").await;
    browser.wait_gone(".modal-backdrop:not([hidden])").await;
    browser.wait_for("tr[data-user=dave]").await;
    assert_eq!(app.client.get_user("dave").await.unwrap().token_limit, 5000);
    let dave = app.client_with(&key).who_am_i().await.unwrap().into_inner();
    assert_eq!(dave.user_id.as_deref(), Some("dave"), "the key shown is dave's");

    // The same ID again: the API's 409, in words.
    browser.fill("#new-user-id", "dave").await;
    browser.click("[data-testid=create-user]").await;
    browser.wait_text("[data-testid=create-error]", PATIENCE, |t| t.contains("already exists")).await;

    // Change a limit. The dialog takes the focus to its field.
    browser.click("[data-testid=limit-alice]").await;
    browser.wait_focus("new-limit").await;
    browser.fill("#new-limit", "many").await;
    browser.click("[data-testid=save-limit]").await;
    browser
        .wait_text("#limit-modal .field-error", PATIENCE, |t| {
            t.contains("New token limit must be a positive whole number")
        })
        .await;
    browser.fill("#new-limit", "2000").await;
    browser.look("admin-change-limit").await;
    browser.click("[data-testid=save-limit]").await;
    browser.wait_text(&format!("{alice} [data-testid=limit]"), PATIENCE, |t| t == "2,000").await;
    assert_eq!(app.client.get_user("alice").await.unwrap().token_limit, 2000);

    // Keyboard: Escape closes a dialog and gives the focus back to what opened it.
    browser.click("[data-testid=delete-bob]").await;
    browser.wait_text("#delete-modal-title", PATIENCE, |t| t.contains("bob")).await;
    browser.wait_for("#delete-modal").await.send_keys("\u{E00C}").await.unwrap();
    browser.wait_gone(".modal-backdrop:not([hidden])").await;
    browser.wait_focus("delete-bob").await;

    // Delete, after confirming.
    browser.click("[data-testid=delete-carol]").await;
    browser.wait_text("#delete-modal-title", PATIENCE, |t| t.contains("carol")).await;
    browser.look("admin-delete-confirm").await;
    browser.click("[data-testid=confirm-delete]").await;
    browser.wait_gone("tr[data-user=carol]").await;
    assert_eq!(error_of(app.client.get_user("carol").await).0, 404);

    // A change made elsewhere reaches the open list.
    app.record("dave", 4500).await;
    browser.wait_text("tr[data-user=dave] [data-testid=percentage]", PATIENCE, |t| t == "90%").await;

    // A user's detail and API snippets: every call, delete included, for an administrator.
    browser.click("tr[data-user=alice] a").await;
    browser.wait_text("[data-testid=usage]", PATIENCE, |t| t == "850").await;
    browser.wait_title("alice · Users · tokenmeter").await;
    browser.look("admin-user-detail").await;
    browser.goto("/snippets/alice").await;
    let base = browser.wait_text("[data-testid=base-url]", PATIENCE, |t| !t.is_empty()).await;
    assert_eq!(base, app.url(""));
    let curl = browser.wait_text("[data-testid=snippet]", PATIENCE, |_| true).await;
    assert!(curl.contains(&format!("{}/invoke/alice", app.url(""))), "{curl}");
    browser.wait_for(".snippet[data-op=DeleteUser]").await;
    let page = browser.wait_text("main", PATIENCE, |_| true).await;
    assert!(!page.contains(ADMIN_KEY), "snippets never show the signed-in key");
    browser.look("admin-snippets").await;

    // Signing out forgets the key.
    browser.click("[data-testid=sign-out]").await;
    browser.wait_for("#api-key").await;
    let kept = browser.c.execute("return sessionStorage.getItem('tokenmeter.apiKey')", vec![]).await.unwrap();
    assert_eq!(kept, serde_json::Value::Null);
}

#[tokio::test]
async fn an_administrator_acting_as_a_user_is_charging_that_user() {
    if !crate::suites::available(crate::suites::Suite::Browser) {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let app = TestApp::builder().web(&built_web_app()).spawn().await;
    for id in ["alice", "bob"] {
        app.create_user(id, 1000).await;
    }
    let browser = open_browser(&app).await;
    browser.sign_in(ADMIN_KEY).await;
    browser.wait_for("[data-testid=total-users]").await;

    browser.click("a[href='/chat']").await;
    browser.wait_title("Model interaction · tokenmeter").await;
    browser.wait_text("[data-testid=acting-as]", PATIENCE, |t| t == "Acting as alice").await;
    // Pick bob, by keyboard: the picker is a plain select.
    browser.wait_for("#act-as").await.send_keys("b").await.unwrap();
    browser.wait_text("[data-testid=acting-as]", PATIENCE, |t| t == "Acting as bob").await;
    browser.wait_text("[data-testid=chat-remaining]", PATIENCE, |t| t == "1,000 tokens left").await;
    browser.fill("#prompt", "hello there world").await;
    browser.click("[data-testid=send]").await;
    browser.wait_text("[data-testid=exchange-tokens]", PATIENCE, |t| t == "8").await;
    browser.wait_text("[data-testid=chat-remaining]", PATIENCE, |t| t == "992 tokens left").await;
    browser.look("admin-model-interaction").await;

    let bob = app.client.get_user("bob").await.unwrap().into_inner();
    let alice = app.client.get_user("alice").await.unwrap().into_inner();
    assert_eq!((bob.token_usage, bob.total_cost), (8, 0.000072), "the call is charged to bob");
    assert_eq!((alice.token_usage, alice.total_cost), (0, 0.0), "and to no one else");
    // No page shows an administrator the message meant for a user key.
    let text = browser.wait_text("main", PATIENCE, |_| true).await;
    assert!(!text.contains("for administrators"), "{text}");
}
