//! The web app in a real headless Chromium, driven over WebDriver (chromedriver +
//! fantoccini): what an administrator and a user do, end to end, against a real service.
//!
//! Needs the built app (`webapp/dist`) and `chromium` + `chromedriver`; `cargo xtask test`
//! provides both. With `TOKENMETER_SCREENSHOTS=<dir>` set, each view is also saved there as a
//! PNG at 1280 and 768 px wide (`cargo xtask screenshots`).

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{ClientBuilder, Locator, elements::Element};
use serde_json::json;
use tokenmeter_client::types::CreateUserRequest;

use crate::helpers::{ADMIN_KEY, TestApp, error_of, new_limit, new_user, test_env};

/// How long the app may take to show something the test waits for (first load included).
const PATIENCE: Duration = Duration::from_secs(15);
/// The real-time promise: a change made through the API shows on an open dashboard within this.
const LIVE: Duration = Duration::from_secs(1);

/// One Chromium at a time: two cores do not run several browsers and keep the 1 s promise.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The web app `cargo xtask build` (and `cargo xtask test`) builds.
fn built_web_app() -> std::path::PathBuf {
    let dist = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../webapp/dist");
    assert!(
        dist.join("index.html").is_file() && dist.join("assets/tokenmeter_webapp_bg.wasm").is_file(),
        "the browser tests drive the built web app, and {} has none: run `cargo xtask test` \
         (or `cargo xtask build-web` before `cargo test`)",
        dist.display()
    );
    dist
}

struct Browser {
    c: fantoccini::Client,
    base: String,
    driver: Child,
    driver_port: u16,
    session: String,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    /// Ends exactly what this test started: the WebDriver session (chromedriver then quits
    /// the Chromium it started), then the chromedriver process, by its own handle.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.driver_port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session
            );
            if stream.write_all(request.as_bytes()).is_ok() {
                let _ = stream.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A reverse proxy in front of `app` that forwards everything but never answers event streams,
/// as a proxy that buffers whole responses (API Gateway) does. Answers its base URL.
async fn spawn_buffering_proxy(app: &TestApp) -> String {
    crate::proxy::spawn_proxy(app.url(""), |req| match req.uri().path().contains("/events") {
        true => crate::proxy::Intercept::Hang,
        false => crate::proxy::Intercept::Forward,
    })
    .await
}

async fn open_browser(app: &TestApp) -> Browser {
    let port = free_port();
    let chromedriver = test_env("TOKENMETER_CHROMEDRIVER").unwrap_or_else(|| "chromedriver".into());
    let driver = Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {chromedriver} ({e}): run `cargo xtask test`, which installs chromium and chromium-driver"
            )
        });
    let profile = tempfile::tempdir().unwrap();
    let chromium = test_env("TOKENMETER_CHROMIUM").unwrap_or_else(|| "/usr/bin/chromium".into());
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--no-first-run",
                "--disable-sync", "--window-size=1280,1000", "--hide-scrollbars",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        },
    });
    let webdriver = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let c = loop {
        let attempt = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities.as_object().unwrap().clone())
            .connect(&webdriver)
            .await;
        match attempt {
            Ok(c) => break c,
            Err(e) if started.elapsed() > PATIENCE => panic!("chromedriver did not start a browser: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let session = c.session_id().await.unwrap().expect("a WebDriver session").to_string();
    Browser { c, base: app.url(""), driver, driver_port: port, session, _profile: profile }
}

impl Browser {
    async fn goto(&self, path: &str) {
        self.c.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    /// Polls until `css` matches an element whose text satisfies `ok`, for at most `within`.
    async fn wait_text(&self, css: &str, within: Duration, ok: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        let mut last = None;
        loop {
            if let Ok(element) = self.c.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
            {
                if ok(&text) {
                    return text;
                }
                last = Some(text);
            }
            if started.elapsed() > within {
                panic!("{css} did not show the expected text within {within:?} (last: {last:?})");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn wait_for(&self, css: &str) -> Element {
        let started = Instant::now();
        loop {
            if let Ok(element) = self.c.find(Locator::Css(css)).await
                && element.is_displayed().await.unwrap_or(false)
            {
                return element;
            }
            assert!(started.elapsed() < PATIENCE, "{css} did not appear within {PATIENCE:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn wait_gone(&self, css: &str) {
        let started = Instant::now();
        while !self.c.find_all(Locator::Css(css)).await.unwrap().is_empty() {
            assert!(started.elapsed() < PATIENCE, "{css} is still there after {PATIENCE:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls until the focused element has this `id` or `data-testid`.
    async fn wait_focus(&self, name: &str) {
        let started = Instant::now();
        let script = "const e = document.activeElement; return e ? (e.id || e.dataset.testid || '') : ''";
        loop {
            let focused = self.c.execute(script, vec![]).await.unwrap();
            if focused == name {
                return;
            }
            assert!(started.elapsed() < PATIENCE, "the focus is on {focused}, expected {name}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn click(&self, css: &str) {
        self.wait_for(css).await.click().await.unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// Replaces a field's text the way typing does (the app listens to `input` events).
    async fn fill(&self, css: &str, text: &str) {
        let field = self.wait_for(css).await;
        self.c
            .execute(
                "arguments[0].value = ''; arguments[0].dispatchEvent(new Event('input', {bubbles: true}));",
                vec![serde_json::to_value(&field).unwrap()],
            )
            .await
            .unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// The user IDs of the list's rows, top to bottom.
    async fn row_order(&self) -> Vec<String> {
        let mut ids = Vec::new();
        for row in self.c.find_all(Locator::Css("tbody tr[data-user]")).await.unwrap() {
            ids.push(row.attr("data-user").await.unwrap().unwrap_or_default());
        }
        ids
    }

    async fn wait_rows(&self, expected: &[&str]) {
        let started = Instant::now();
        loop {
            let rows = self.row_order().await;
            if rows == expected {
                return;
            }
            assert!(started.elapsed() < PATIENCE, "rows are {rows:?}, expected {expected:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn sign_in(&self, key: &str) {
        self.goto("/").await;
        self.fill("#api-key", key).await;
        self.click("[data-testid=sign-in]").await;
    }

    /// Saves the view at 1280 and 768 px when `TOKENMETER_SCREENSHOTS` names a directory.
    async fn screenshot(&self, name: &str) {
        let Some(dir) = test_env("TOKENMETER_SCREENSHOTS") else { return };
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        for width in [1280, 768] {
            self.c.set_window_size(width, 1000).await.unwrap();
            // The whole page: its height plus the window's own frame.
            let script = "return document.documentElement.scrollHeight + window.outerHeight - window.innerHeight";
            let height = self.c.execute(script, vec![]).await.unwrap();
            let height = height.as_u64().unwrap_or(1000).clamp(600, 2400) as u32;
            self.c.set_window_size(width, height).await.unwrap();
            let png = self.c.screenshot().await.unwrap();
            std::fs::write(dir.join(format!("{name}-{width}.png")), png).unwrap();
        }
        self.c.set_window_size(1280, 1000).await.unwrap();
    }
}

#[tokio::test]
async fn an_administrator_signs_in_sorts_creates_relimits_and_deletes_users() {
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
    browser.screenshot("sign-in-error").await;

    browser.sign_in(ADMIN_KEY).await;
    browser.wait_text("[data-testid=user-count]", PATIENCE, |t| t == "3").await;
    browser.wait_rows(&["alice", "bob", "carol"]).await; // by usage, highest first
    let alice = "tr[data-user=alice]";
    assert_eq!(browser.wait_text(&format!("{alice} [data-testid=percentage]"), PATIENCE, |_| true).await, "85%");
    browser.wait_text(&format!("{alice} .chip"), PATIENCE, |t| t == "Warning").await;
    browser.wait_text("tr[data-user=bob] .chip", PATIENCE, |t| t == "Limit reached").await;
    browser.screenshot("admin-users").await;

    // Sorting: by limit (highest first, then flipped), by percentage.
    browser.click("button[data-sort=Limit]").await;
    browser.wait_rows(&["carol", "alice", "bob"]).await;
    browser.click("button[data-sort=Limit]").await;
    browser.wait_rows(&["bob", "alice", "carol"]).await;
    browser.click("button[data-sort='Usage %']").await;
    browser.wait_rows(&["bob", "alice", "carol"]).await;
    browser.click("button[data-sort='Usage %']").await;
    browser.wait_rows(&["carol", "alice", "bob"]).await;

    // Create a user, with a key shown once.
    browser.fill("#new-user-id", "dave").await;
    browser.fill("#new-user-limit", "5000").await;
    browser.click("[data-testid=create-user]").await;
    let key = browser.wait_text("[data-testid=issued-key]", PATIENCE, |t| t.starts_with("tmk_")).await;
    browser.screenshot("admin-new-key").await;
    browser.click("#key-modal .btn-primary").await;
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
    browser.fill("#new-limit", "2000").await;
    browser.screenshot("admin-change-limit").await;
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
    browser.screenshot("admin-delete-confirm").await;
    browser.click("[data-testid=confirm-delete]").await;
    browser.wait_gone("tr[data-user=carol]").await;
    assert_eq!(error_of(app.client.get_user("carol").await).0, 404);

    // A change made elsewhere reaches the open list.
    app.record("dave", 4500).await;
    browser.wait_text("tr[data-user=dave] [data-testid=percentage]", PATIENCE, |t| t == "90%").await;

    // A user's detail and API snippets.
    browser.click("tr[data-user=alice] a").await;
    browser.wait_text("[data-testid=usage]", PATIENCE, |t| t == "850").await;
    browser.screenshot("admin-user-detail").await;
    browser.goto("/snippets/alice").await;
    let base = browser.wait_text("[data-testid=base-url]", PATIENCE, |t| !t.is_empty()).await;
    assert_eq!(base, app.url(""));
    let curl = browser.wait_text("[data-testid=snippet]", PATIENCE, |_| true).await;
    assert!(curl.contains(&format!("{}/users/alice", app.url(""))), "{curl}");
    assert!(!curl.contains(ADMIN_KEY), "snippets never show the signed-in key");
    browser.screenshot("snippets").await;

    // Signing out forgets the key.
    browser.click("[data-testid=sign-out]").await;
    browser.wait_for("#api-key").await;
    let kept = browser.c.execute("return sessionStorage.getItem('tokenmeter.apiKey')", vec![]).await.unwrap();
    assert_eq!(kept, serde_json::Value::Null);
}

#[tokio::test]
async fn a_user_watches_their_dashboard_change_live_up_to_the_limit() {
    let _one = ONE_BROWSER.lock().await;
    let app = TestApp::builder().web(&built_web_app()).spawn().await;
    let created = app
        .client
        .create_user(None, &CreateUserRequest { issue_key: Some(true), ..new_user("erin", 1000) })
        .await
        .unwrap()
        .into_inner();
    let key = created.api_key.unwrap().api_key;
    app.record("erin", 500).await;
    let browser = open_browser(&app).await;

    browser.sign_in(&key).await;
    browser.wait_text("[data-testid=usage]", PATIENCE, |t| t == "500").await;
    browser.wait_text("[data-testid=remaining]", PATIENCE, |t| t == "500").await;
    browser.wait_text("[data-testid=percentage]", PATIENCE, |t| t == "50%").await;
    browser.wait_text("[data-testid=link]", PATIENCE, |t| t == "Live").await;
    assert_eq!(browser.wait_text("[data-testid=who]", PATIENCE, |_| true).await, "erin");
    browser.screenshot("dashboard").await;

    // A change made through the API shows within a second.
    let started = Instant::now();
    app.record("erin", 350).await;
    browser.wait_text("[data-testid=usage]", LIVE, |t| t == "850").await;
    let took = started.elapsed();
    assert!(took < LIVE, "the dashboard took {took:?}");
    browser.wait_text("[data-testid=limit-warning]", PATIENCE, |t| t.contains("85% of the limit used")).await;
    browser.screenshot("dashboard-warning").await;

    // Reaching the limit shows the limit state.
    app.record("erin", 150).await;
    browser.wait_text("[data-testid=limit-reached]", LIVE, |t| t.contains("Token limit reached")).await;
    browser.wait_text("[data-testid=status]", PATIENCE, |t| t == "Limit reached").await;
    browser.wait_text("[data-testid=remaining]", PATIENCE, |t| t == "0").await;
    browser.screenshot("dashboard-limit-reached").await;

    // Raising the limit lifts it, live.
    app.client.update_user_limit("erin", &new_limit(4000)).await.unwrap();
    browser.wait_text("[data-testid=status]", LIVE, |t| t == "Healthy").await;

    // The key is kept for the browser session: a reload stays signed in.
    browser.c.refresh().await.unwrap();
    browser.wait_text("[data-testid=usage]", PATIENCE, |t| t == "1,000").await;
    // A user key cannot open admin pages, and the API's refusal is not hidden.
    for admin_page in ["/admin/users", "/admin/users/erin"] {
        browser.goto(admin_page).await;
        browser.wait_text(".alert", PATIENCE, |t| t.contains("for administrators")).await;
    }

    // Deleting the user revokes the key: the next visit says so, in the API's words.
    app.client.delete_user("erin").await.unwrap();
    browser.goto("/dashboard").await;
    browser.wait_text("[data-testid=signin-error]", PATIENCE, |t| t.contains("The API key is not valid")).await;
}

#[tokio::test]
async fn where_streams_are_buffered_the_dashboard_polls_every_five_seconds() {
    let _one = ONE_BROWSER.lock().await;
    let app = TestApp::builder().web(&built_web_app()).spawn().await;
    let created = app
        .client
        .create_user(None, &CreateUserRequest { issue_key: Some(true), ..new_user("fay", 1000) })
        .await
        .unwrap()
        .into_inner();
    let mut browser = open_browser(&app).await;
    browser.base = spawn_buffering_proxy(&app).await;

    browser.sign_in(&created.api_key.unwrap().api_key).await;
    browser.wait_text("[data-testid=usage]", PATIENCE, |t| t == "0").await;
    browser.wait_text("[data-testid=link]", PATIENCE, |t| t == "Refreshing every 5 s").await;
    let started = Instant::now();
    app.record("fay", 42).await;
    browser.wait_text("[data-testid=usage]", PATIENCE, |t| t == "42").await;
    let took = started.elapsed();
    // Well before a second poll would be due: a slow machine may delay one poll, not skip it.
    assert!(took < Duration::from_secs(9), "a poll every 5 s should have shown it, took {took:?}");
}

#[tokio::test]
async fn a_user_chats_with_the_echo_model_until_the_limit_turns_chat_off() {
    let _one = ONE_BROWSER.lock().await;
    let app = TestApp::builder().web(&built_web_app()).spawn().await;
    let created = app
        .client
        .create_user(None, &CreateUserRequest { issue_key: Some(true), ..new_user("finn", 30) })
        .await
        .unwrap()
        .into_inner();
    let key = created.api_key.unwrap().api_key;
    let browser = open_browser(&app).await;
    browser.sign_in(&key).await;
    browser.wait_text("[data-testid=usage]", PATIENCE, |t| t == "0").await;

    browser.click("a[href='/chat']").await;
    browser.wait_text("[data-testid=chat-remaining]", PATIENCE, |t| t == "30 tokens left").await;
    browser.fill("#prompt", "hello there world").await;
    browser.click("[data-testid=send]").await;

    // The echo model answers with the prompt: 4 tokens in (3 words + 1 for the turn), 4 out,
    // at Claude Sonnet 4.5's prices: 4 × $3/M + 4 × $15/M = $0.000072.
    browser.wait_text("[data-testid=answer]", PATIENCE, |t| t.trim() == "echo: hello there world").await;
    browser.wait_text("[data-testid=exchange-tokens]", PATIENCE, |t| t == "8").await;
    browser.wait_text("[data-testid=exchange-cost]", PATIENCE, |t| t == "$0.000072").await;
    browser.wait_text("[data-testid=chat-remaining]", LIVE, |t| t == "22 tokens left").await;
    let finn = app.client.get_user("finn").await.unwrap().into_inner();
    assert_eq!((finn.token_usage, finn.total_cost), (8, 0.000072));
    browser.screenshot("chat").await;

    // Spending the rest elsewhere turns the chat off, live, and says why.
    app.record("finn", 22).await;
    browser.wait_text("[data-testid=chat-limit]", LIVE, |t| t.contains("You have used all of your tokens")).await;
    let prompt = browser.wait_for("#prompt").await;
    assert!(prompt.attr("disabled").await.unwrap().is_some(), "the prompt must be disabled at the limit");
    browser.screenshot("chat-limit-reached").await;
}
