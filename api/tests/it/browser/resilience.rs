//! A restart of the service never blanks a live view: the last figures stay, marked
//! "Reconnecting…" with their age, and they are live again within 3 s of the service's return.

use std::time::{Duration, Instant};

use super::{
    driver::{Browser, ONE_BROWSER, PATIENCE, built_web_app, open_browser},
    user::user_with_key,
};
use crate::helpers::{ADMIN_KEY, TestApp};

/// How soon after the service is back its figures must be live again.
const BACK_WITHIN: Duration = Duration::from_secs(3);

/// Stops the service, checks that `figure` keeps showing `shown` under the banner until the
/// banner says the figures are 9 s old (an outage long enough for an uncapped backoff to wait
/// 8 s: the 2 s cap is what brings them back in time), then starts the service again and
/// records usage for `user`: `figure` must show `after` within [`BACK_WITHIN`].
async fn restart_under(
    browser: &Browser,
    app: &mut TestApp,
    view: &str,
    (figure, shown): (&str, &str),
    (user, after): (&str, &str),
) {
    app.stop().await;
    browser.wait_text("[data-testid=stale]", PATIENCE, |t| t.contains("Reconnecting…")).await;
    browser.wait_text("[data-testid=link]", PATIENCE, |t| t == "Reconnecting…").await;
    let age = |text: &str| {
        let after_from = text.split("from ").nth(1).unwrap_or_default();
        after_from.split(' ').next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0)
    };
    browser.wait_text("[data-testid=stale]", PATIENCE, |t| t.contains(" s ago") && age(t) >= 9).await;
    assert_eq!(browser.wait_text(figure, PATIENCE, |_| true).await, shown, "the last figures stay on screen");
    browser.look(&format!("{view}-reconnecting")).await;

    app.start_again(&built_web_app()).await;
    let back = Instant::now();
    app.record(user, 100).await;
    browser.wait_text(figure, BACK_WITHIN, |t| t == after).await;
    let took = back.elapsed();
    assert!(took < BACK_WITHIN, "live again {took:?} after the service returned");
    browser.wait_text("[data-testid=link]", PATIENCE, |t| t == "Live").await;
    browser.wait_gone("[data-testid=stale]").await;
}

#[tokio::test]
async fn a_restart_keeps_the_dashboard_s_figures_and_it_is_live_again_within_3_s() {
    if !crate::suites::available(crate::suites::Suite::Browser) {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let mut app = TestApp::builder().web(&built_web_app()).spawn().await;
    let key = user_with_key(&app, "gil", 1000).await;
    app.record("gil", 500).await;
    let browser = open_browser(&app).await;
    browser.sign_in(&key).await;
    browser.wait_text("[data-testid=usage]", PATIENCE, |t| t == "500").await;
    browser.wait_text("[data-testid=link]", PATIENCE, |t| t == "Live").await;

    restart_under(&browser, &mut app, "dashboard", ("[data-testid=usage]", "500"), ("gil", "600")).await;
    browser.wait_text("[data-testid=remaining]", PATIENCE, |t| t == "400").await;
}

#[tokio::test]
async fn a_restart_keeps_the_admin_list_and_its_buttons_and_it_is_live_again_within_3_s() {
    if !crate::suites::available(crate::suites::Suite::Browser) {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let mut app = TestApp::builder().web(&built_web_app()).spawn().await;
    app.create_user("hal", 1000).await;
    app.record("hal", 200).await;
    let browser = open_browser(&app).await;
    browser.sign_in(ADMIN_KEY).await;
    browser.wait_for("[data-testid=total-users]").await;
    browser.goto("/admin/users").await;
    let usage = "tr[data-user=hal] [data-testid=usage]";
    browser.wait_text(usage, PATIENCE, |t| t == "200").await;
    browser.wait_text("[data-testid=link]", PATIENCE, |t| t == "Live").await;

    app.stop().await;
    browser.wait_text("[data-testid=stale]", PATIENCE, |t| t.contains("Reconnecting…")).await;
    browser.wait_for("[data-testid=limit-hal]").await; // the row keeps its buttons
    app.start_again(&built_web_app()).await;
    browser.wait_text("[data-testid=link]", PATIENCE, |t| t == "Live").await;

    restart_under(&browser, &mut app, "admin-users", (usage, "200"), ("hal", "300")).await;
    browser.wait_for("[data-testid=delete-hal]").await;
}
