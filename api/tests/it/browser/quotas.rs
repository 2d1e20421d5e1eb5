//! Quotas in the web app: a user's dashboard shows every quota as a bar with when it resets;
//! an administrator edits tiers, sets a user's tier and own rules, and sees each user's
//! tightest quota; a guest starts from the sign-in page and sees the messages left.

use std::time::{SystemTime, UNIX_EPOCH};

use tokenmeter_client::types::CreateUserRequest;

use super::driver::{Browser, ONE_BROWSER, PATIENCE, built_web_app, open_browser};
use crate::helpers::{ADMIN_KEY, TestApp, ask, new_user};

/// Creates `id` on `tier` with `limit` tokens and answers the user's own key.
async fn user_on_tier(app: &TestApp, id: &str, limit: u64, tier: &str) -> String {
    let request = CreateUserRequest { issue_key: Some(true), tier: Some(tier.into()), ..new_user(id, limit) };
    app.client.create_user(None, &request).await.unwrap().into_inner().api_key.unwrap().api_key
}

/// What the app says of a reset `secs` away (the web app's `format::resets_in`).
fn resets_in(secs: u64) -> String {
    match secs {
        0..60 => format!("resets in {secs} s"),
        60..3600 => format!("resets in {} min", secs.div_ceil(60)),
        _ => format!("resets in {} h {} min", secs / 3600, (secs % 3600) / 60),
    }
}

/// Picks `value` in a `<select>` the way a person does (the app listens to `input`/`change`).
async fn pick(browser: &Browser, css: &str, value: &str) {
    let select = browser.wait_for(css).await;
    let script = "arguments[0].value = arguments[1]; \
                  for (const e of ['input', 'change']) arguments[0].dispatchEvent(new Event(e, {bubbles: true}));";
    browser.c.execute(script, vec![serde_json::to_value(&select).unwrap(), value.into()]).await.unwrap();
}

/// Polls until `css` matches something, shown or not.
async fn wait_present(browser: &Browser, css: &str) {
    let started = std::time::Instant::now();
    while browser.c.find_all(fantoccini::Locator::Css(css)).await.unwrap().is_empty() {
        assert!(started.elapsed() < PATIENCE, "{css} is not there after {PATIENCE:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_user_sees_every_quota_as_a_bar_with_when_it_resets() {
    let _one = ONE_BROWSER.lock().await;
    let app = TestApp::builder().web(&built_web_app()).spawn().await;
    let key = user_on_tier(&app, "hana", 1000, "free").await;
    app.record("hana", 200).await;
    // 4 tokens in, 4 out (the echo model) and one request.
    app.client_with(&key).invoke_model("hana", None, &ask("hello there world")).await.unwrap();
    let browser = open_browser(&app).await;
    browser.goto("/signin").await;
    // Guests are off here: the sign-in page offers no guest start.
    wait_present(&browser, "[data-guests=off]").await;
    browser.sign_in(&key).await;

    let bar = |rule: &str| format!("[data-quota='{rule}'] [data-testid=quota-used]");
    browser.wait_text(&bar("tokens-total-"), PATIENCE, |t| t == "208 / 1,000 tokens · 20.8%").await;
    browser.wait_text(&bar("tokens-day-"), PATIENCE, |t| t == "208 / 100,000 tokens · 0.2%").await;
    browser.wait_text(&bar("requests-day-"), PATIENCE, |t| t == "1 / 500 requests · 0.2%").await;
    browser.wait_text(&bar("cost-month-"), PATIENCE, |t| t == "$0.000072 / $50.00 · 0%").await;
    let total = "[data-quota='tokens-total-'] [data-testid=quota-resets]";
    assert_eq!(browser.wait_text(total, PATIENCE, |_| true).await, "never resets");
    // The day ends at 00:00 UTC: the bar says how long until then, to the minute.
    let day = "[data-quota='requests-day-'] [data-testid=quota-resets]";
    let shown = browser.wait_text(day, PATIENCE, |t| t.starts_with("resets in")).await;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let left = 86_400 - now % 86_400;
    let expected: Vec<String> = (left.saturating_sub(90)..=left + 5).map(resets_in).collect();
    assert!(expected.contains(&shown), "{shown:?} is not about {left} s to midnight UTC");
    let sources = browser.wait_text("[data-quota='requests-day-']", PATIENCE, |_| true).await;
    assert!(sources.contains("Daily request quota") && sources.contains("tier free"), "{sources}");
    browser.look("dashboard-quotas").await;

    // Another call shows on the bars without a reload.
    app.client_with(&key).invoke_model("hana", None, &ask("hello there world")).await.unwrap();
    browser.wait_text(&bar("requests-day-"), PATIENCE, |t| t == "2 / 500 requests · 0.4%").await;
    browser.wait_text(&bar("tokens-total-"), PATIENCE, |t| t == "216 / 1,000 tokens · 21.6%").await;
}

#[tokio::test]
async fn an_admin_edits_tiers_sets_a_user_s_tier_and_rules_and_sees_the_tightest_quota() {
    let _one = ONE_BROWSER.lock().await;
    let app = TestApp::builder().web(&built_web_app()).spawn().await;
    user_on_tier(&app, "ivy", 1000, "free").await;
    app.record("ivy", 900).await;
    let browser = open_browser(&app).await;
    browser.sign_in(ADMIN_KEY).await;
    browser.goto("/admin/users").await;
    browser
        .wait_text("tr[data-user=ivy] [data-testid=tightest]", PATIENCE, |t| t == "Lifetime token limit · 90%")
        .await;
    browser.look("users-tightest-quota").await;

    // A tier with users on it cannot be deleted, and the page says why.
    browser.goto("/admin/tiers").await;
    browser.wait_title("Tiers · tokenmeter").await;
    browser.click("[data-tier=free] [data-testid=delete-tier]").await;
    browser
        .wait_text("[data-tier=free] [data-testid=tier-error]", PATIENCE, |t| t.contains("Users are on this tier"))
        .await;
    assert!(app.client.list_tiers().await.unwrap().into_inner().tiers.iter().any(|t| t.name == "free"));
    browser.look("tiers-in-use").await;

    // A new tier: one rule added, one added and removed, saved.
    browser.fill("#new-tier", "team").await;
    browser.click("[data-testid=add-tier]").await;
    browser.wait_for("[data-tier=team]").await;
    pick(&browser, "#tier-team-metric", "requests").await;
    pick(&browser, "#tier-team-period", "day").await;
    browser.fill("#tier-team-limit", "3").await;
    browser.click("[data-tier=team] [data-testid=add-rule-button]").await;
    pick(&browser, "#tier-team-metric", "cost").await;
    browser.fill("#tier-team-limit", "0.0000001").await;
    browser.click("[data-tier=team] [data-testid=add-rule-button]").await;
    browser.wait_text("#tier-team-limit-note", PATIENCE, |t| t.contains("at most 6 decimals")).await;
    browser.fill("#tier-team-limit", "2.5").await;
    browser.click("[data-tier=team] [data-testid=add-rule-button]").await;
    browser.wait_text("[data-tier=team] .rules", PATIENCE, |t| t.contains("$2.50 a day")).await;
    browser.click("[data-tier=team] [aria-label='Remove $2.50 a day']").await;
    browser
        .wait_text("[data-tier=team] .rules", PATIENCE, |t| t.contains("3 requests a day") && !t.contains("$2.50"))
        .await;
    browser.click("[data-tier=team] [data-testid=save-tier]").await;
    browser.wait_text("[data-testid=toast]", PATIENCE, |t| t.contains("Saved tier team")).await;
    let tiers = app.client.list_tiers().await.unwrap().into_inner().tiers;
    let team = tiers.iter().find(|t| t.name == "team").expect("the tier was saved");
    assert_eq!(
        serde_json::to_value(&team.quotas).unwrap(),
        serde_json::json!([{"metric": "requests", "period": "day", "limit": 3}])
    );
    browser.look("tiers").await;

    // The user's tier and own rules, from the user's page.
    browser.goto("/admin/users/ivy").await;
    browser.wait_for("[data-quota='requests-day-']").await;
    pick(&browser, "#user-tier", "team").await;
    browser.click("[data-testid=save-user-tier]").await;
    browser
        .wait_text("[data-quota='requests-day-']", PATIENCE, |t| t.contains("tier team") && t.contains("/ 3 requests"))
        .await;
    assert_eq!(app.client.get_user("ivy").await.unwrap().into_inner().tier.as_deref(), Some("team"));
    pick(&browser, "#user-rule-metric", "tokens").await;
    pick(&browser, "#user-rule-period", "month").await;
    browser.fill("#user-rule-limit", "50000").await;
    browser.fill("#user-rule-model", "haiku").await;
    browser.click("[data-testid=add-rule-button]").await;
    browser.click("[data-testid=save-user-rules]").await;
    browser
        .wait_text("[data-quota='tokens-month-haiku']", PATIENCE, |t| {
            t.contains("Monthly token quota for haiku") && t.contains("own rule")
        })
        .await;
    let quotas = app.client.get_user_quotas("ivy").await.unwrap().into_inner().quotas;
    assert!(
        quotas.iter().any(|q| q.source == "user" && q.limit == 50_000.0 && q.model.as_deref() == Some("haiku")),
        "{quotas:?}"
    );
    browser.look("user-quotas").await;

    // "No tier" removes it.
    pick(&browser, "#user-tier", "").await;
    browser.click("[data-testid=save-user-tier]").await;
    browser.wait_gone("[data-quota='requests-day-']").await;
    assert_eq!(app.client.get_user("ivy").await.unwrap().into_inner().tier, None);
}

#[tokio::test]
async fn a_guest_starts_from_the_sign_in_page_and_sees_the_messages_left() {
    let _one = ONE_BROWSER.lock().await;
    let app = TestApp::builder().web(&built_web_app()).settings(|s| s.guests.enabled = true).spawn().await;
    let browser = open_browser(&app).await;
    browser.goto("/signin").await;
    wait_present(&browser, "[data-guests=on]").await;
    browser.wait_text("[data-testid=try-as-guest]", PATIENCE, |t| t == "Try it without an account").await;
    browser.look("signin-guests").await;

    browser.click("[data-testid=try-as-guest]").await;
    browser.wait_title("Dashboard · tokenmeter").await;
    let who = browser.wait_text("[data-testid=who]", PATIENCE, |t| t.starts_with("guest-")).await;
    browser.wait_text("[data-testid=guest-left]", PATIENCE, |t| t == "You are a guest: 50 messages left today.").await;
    let note = browser.wait_text("[data-testid=guest-upgrade]", PATIENCE, |_| true).await;
    assert!(note.contains("ask an admin to create your account; your usage moves with you"), "{note}");
    let guest = app.client.get_user(&who).await.unwrap().into_inner();
    assert_eq!(guest.tier.as_deref(), Some("guest"));

    // A message spent (here through the API with the guest's own key) shows as one fewer.
    let key = browser.c.execute("return sessionStorage.getItem('tokenmeter.apiKey')", vec![]).await.unwrap();
    let key = key.as_str().expect("the guest's key is kept for the session");
    app.client_with(key).invoke_model(&who, None, &ask("hi")).await.unwrap();
    browser.wait_text("[data-testid=guest-left]", PATIENCE, |t| t == "You are a guest: 49 messages left today.").await;
    browser.look("guest-dashboard").await;
}
