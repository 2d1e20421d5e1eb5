//! How the app reaches a browser: a cold load within its budget on the wire, measured by the
//! browser itself, the administrator's pages loaded only for an administrator, hashed assets
//! cached for good, and the keyboard paths through it.

use std::time::Duration;

use super::{
    driver::{ONE_BROWSER, PATIENCE, built_web_app, open_browser},
    user::user_with_key,
};
use crate::helpers::{ADMIN_KEY, TestApp};

/// The budgets over the wire of a cold load (the user's build) and of an administrator's load
/// (the full build), as the README says and the build checks (`xtask/src/web.rs`).
const BUDGET_BYTES: u64 = 250 * 1024;
const ADMIN_BUDGET_BYTES: u64 = 300 * 1024;

/// What the page has downloaded, by its own Resource Timing: the document and every
/// resource, in bytes over the wire (headers included), and each resource's share.
const TRANSFERRED: &str = r#"
    const nav = performance.getEntriesByType("navigation")[0];
    const resources = performance.getEntriesByType("resource");
    return {
        total: nav.transferSize + resources.reduce((sum, r) => sum + r.transferSize, 0),
        files: resources.map((r) => [r.name, r.transferSize, r.encodedBodySize, r.decodedBodySize]),
    };
"#;

#[tokio::test]
async fn a_cold_load_stays_within_its_budget_on_the_wire_and_a_warm_one_downloads_no_asset() {
    if !crate::suites::available(crate::suites::Suite::Browser) {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let app = TestApp::builder().web(&built_web_app()).spawn().await;
    let browser = open_browser(&app).await; // a fresh profile: nothing cached
    browser.goto("/signin").await;
    browser.wait_for("#api-key").await;
    let cold = browser.c.execute(TRANSFERRED, vec![]).await.unwrap();
    let total = cold["total"].as_u64().unwrap();
    let files = cold["files"].as_array().unwrap().clone();
    eprintln!("cold load: {total} bytes over the wire: {files:?}");
    let wasm = files.iter().find(|f| f[0].as_str().unwrap().ends_with(".wasm")).expect("the wasm was loaded");
    assert!(wasm[2].as_u64() < wasm[3].as_u64(), "the wasm arrives compressed: {wasm:?}");
    assert!(total > 100 * 1024, "the measure saw the whole app ({total} bytes)");
    assert!(total < BUDGET_BYTES, "a cold load downloads {total} bytes, over the {BUDGET_BYTES}-byte budget");
    let names = || files.iter().map(|f| f[0].as_str().unwrap());
    assert!(names().any(|n| n.contains("/assets/tokenmeter_webapp_bg-")), "the user's build runs: {files:?}");
    assert!(!names().any(|n| n.contains("tokenmeter_admin")), "no administrator's page is downloaded: {files:?}");

    // Hashed assets are immutable: a reload fetches only index.html (revalidated).
    browser.c.refresh().await.unwrap();
    browser.wait_for("#api-key").await;
    let warm = browser.c.execute(TRANSFERRED, vec![]).await.unwrap();
    // (The sign-in page asks `/health` whether guests are on: an API call, not an asset.)
    let assets = warm["files"].as_array().unwrap().iter().filter(|f| f[0].as_str().unwrap().contains("/assets/"));
    let mut seen = 0;
    for file in assets {
        assert_eq!(file[1].as_u64(), Some(0), "{file:?} came from the cache");
        seen += 1;
    }
    assert!(seen >= 3, "the reload loaded the app's assets again (from the cache): {warm}");
}

#[tokio::test]
async fn the_keyboard_alone_signs_in_moves_between_views_and_switches_snippet_languages() {
    if !crate::suites::available(crate::suites::Suite::Browser) {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let app = TestApp::builder().web(&built_web_app()).spawn().await;
    app.create_user("ida", 1000).await;
    let browser = open_browser(&app).await;
    browser.goto("/signin").await;
    browser.wait_for("#api-key").await;

    // Tab to the key field, type, Enter.
    browser.press("\u{E004}").await;
    browser.wait_focus("api-key").await;
    browser.press(ADMIN_KEY).await;
    browser.press("\u{E007}").await;
    browser.wait_for("[data-testid=total-users]").await;

    // The skip link comes first and leads to the content; then the navigation.
    browser.press("\u{E004}").await;
    let focused = browser.c.execute("return document.activeElement.className", vec![]).await.unwrap();
    assert_eq!(focused, "skip-link");
    browser.press("\u{E007}").await;
    browser.wait_focus("main").await;
    browser.c.execute("document.querySelector(\"a[href='/admin/users']\").focus()", vec![]).await.unwrap();
    browser.press("\u{E007}").await;
    browser.wait_text("[data-testid=user-count]", PATIENCE, |t| t == "1").await;

    // Sorting from the keyboard: a header is a button.
    browser.c.execute("document.querySelector('button[data-sort=Limit]').focus()", vec![]).await.unwrap();
    browser.press("\u{E007}").await;
    browser.wait_text("th[aria-sort=descending]", PATIENCE, |t| t.to_lowercase().starts_with("limit")).await;

    // Snippets: the language tabs follow the arrow keys.
    browser.goto("/snippets/ida").await;
    browser.wait_for("#lang-tab-0").await;
    browser.c.execute("document.getElementById('lang-tab-0').focus()", vec![]).await.unwrap();
    browser.press("\u{E014}").await; // ArrowRight
    browser.wait_focus("lang-tab-1").await;
    browser
        .wait_text("#lang-panel [data-testid=snippet]", PATIENCE, |t| t.contains("client.invoke_model(\"ida\""))
        .await;
    browser.press("\u{E014}\u{E014}").await;
    browser.wait_text("#lang-panel [data-testid=snippet]", PATIENCE, |t| t.contains("requests.post")).await;
    browser.press("\u{E012}").await; // ArrowLeft
    browser
        .wait_text("#lang-panel [data-testid=snippet]", Duration::from_secs(5), |t| t.contains("await fetch("))
        .await;
}

#[tokio::test]
async fn an_administrator_s_sign_in_loads_the_full_build_and_a_user_s_the_small_one_again() {
    if !crate::suites::available(crate::suites::Suite::Browser) {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let app = TestApp::builder().web(&built_web_app()).spawn().await;
    let user_key = user_with_key(&app, "uma", 1000).await;
    let browser = open_browser(&app).await;
    // The wasm files the page has loaded, by name.
    let loaded_wasm = async || -> Vec<String> {
        let script = r#"return performance.getEntriesByType("resource")
            .filter((r) => r.name.endsWith(".wasm")).map((r) => r.name);"#;
        serde_json::from_value(browser.c.execute(script, vec![]).await.unwrap()).unwrap()
    };

    // The sign-in page runs the user's build; an administrator's key reloads into the full one,
    // on the page it was going to.
    browser.sign_in(ADMIN_KEY).await;
    browser.wait_for("[data-testid=total-users]").await;
    let wasm = loaded_wasm().await;
    assert!(
        wasm.len() == 1 && wasm[0].contains("/assets/tokenmeter_admin_bg-"),
        "after the reload only the full build was loaded: {wasm:?}"
    );
    let full = browser.c.execute(TRANSFERRED, vec![]).await.unwrap();
    let total = full["total"].as_u64().unwrap();
    eprintln!("an administrator's load: {total} bytes over the wire");
    assert!(total < ADMIN_BUDGET_BYTES, "an administrator's load is {total} bytes, over {ADMIN_BUDGET_BYTES}");
    browser.goto("/admin/tiers").await;
    browser.wait_title("Tiers · tokenmeter").await;

    // Signing out and in with a user's key: the next load runs the user's build again.
    browser.click("[data-testid=sign-out]").await;
    browser.sign_in(&user_key).await;
    browser.wait_for("[data-testid=usage]").await;
    browser.c.refresh().await.unwrap();
    browser.wait_for("[data-testid=usage]").await;
    let wasm = loaded_wasm().await;
    assert!(
        wasm.len() == 1 && wasm[0].contains("/assets/tokenmeter_webapp_bg-"),
        "a user's session reloads into the user's build: {wasm:?}"
    );
}
