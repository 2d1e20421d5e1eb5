//! A headless Chromium driven over WebDriver (chromedriver + fantoccini), with what the
//! browser tests wait for, look at (screenshots) and check (axe-core).

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{ClientBuilder, Locator, elements::Element};
use serde_json::json;

use crate::helpers::{TestApp, test_env};

/// How long the app may take to show something the test waits for (first load included).
pub(crate) const PATIENCE: Duration = Duration::from_secs(15);
/// The real-time promise: a change made through the API shows on an open dashboard within this.
pub(crate) const LIVE: Duration = Duration::from_secs(1);

/// One Chromium at a time: two cores do not run several browsers and keep the 1 s promise.
pub(crate) static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The widths every view is looked at: desktop, tablet, phone.
const WIDTHS: [u32; 3] = [1280, 768, 390];

/// The web app `cargo xtask build` (and `cargo xtask test`) builds.
pub(crate) fn built_web_app() -> std::path::PathBuf {
    let dist = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../webapp/dist");
    let wasm = std::fs::read_dir(dist.join("assets"))
        .map(|files| files.flatten().any(|f| f.file_name().to_string_lossy().ends_with(".wasm")))
        .unwrap_or(false);
    assert!(
        dist.join("index.html").is_file() && wasm,
        "the browser tests drive the built web app, and {} has none: run `cargo xtask test` \
         (or `cargo xtask build-web` before `cargo test`)",
        dist.display()
    );
    dist
}

/// axe-core's script (`cargo xtask test` installs it with npm into `target/npm`).
fn axe_script() -> String {
    // Where `cargo xtask test` puts it: `target/npm` of the build's target directory.
    let path = test_env("TOKENMETER_AXE").map(std::path::PathBuf::from).unwrap_or_else(|| {
        let target = test_env("CARGO_TARGET_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
        target.join("npm/node_modules/axe-core/axe.min.js")
    });
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the accessibility checks inject axe-core from {} ({e}): run `cargo xtask test`, which installs it \
             (or `npm install --prefix target/npm axe-core@4.10.3`), or set TOKENMETER_AXE",
            path.display()
        )
    })
}

pub(crate) struct Browser {
    pub(crate) c: fantoccini::Client,
    pub(crate) base: String,
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
pub(crate) async fn spawn_buffering_proxy(app: &TestApp) -> String {
    crate::proxy::spawn_proxy(app.url(""), |req| match req.uri().path().contains("/events") {
        true => crate::proxy::Intercept::Hang,
        false => crate::proxy::Intercept::Forward,
    })
    .await
}

pub(crate) async fn open_browser(app: &TestApp) -> Browser {
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
    pub(crate) async fn goto(&self, path: &str) {
        self.c.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    /// Polls until `css` matches an element whose text satisfies `ok`, for at most `within`.
    pub(crate) async fn wait_text(&self, css: &str, within: Duration, ok: impl Fn(&str) -> bool) -> String {
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

    pub(crate) async fn wait_for(&self, css: &str) -> Element {
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

    pub(crate) async fn wait_gone(&self, css: &str) {
        let started = Instant::now();
        while !self.c.find_all(Locator::Css(css)).await.unwrap().is_empty() {
            assert!(started.elapsed() < PATIENCE, "{css} is still there after {PATIENCE:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls until the focused element has this `id` or `data-testid`.
    pub(crate) async fn wait_focus(&self, name: &str) {
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

    pub(crate) async fn click(&self, css: &str) {
        self.wait_for(css).await.click().await.unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// Replaces a field's text the way typing does (the app listens to `input` events).
    pub(crate) async fn fill(&self, css: &str, text: &str) {
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
    pub(crate) async fn row_order(&self) -> Vec<String> {
        let mut ids = Vec::new();
        for row in self.c.find_all(Locator::Css("tbody tr[data-user]")).await.unwrap() {
            ids.push(row.attr("data-user").await.unwrap().unwrap_or_default());
        }
        ids
    }

    pub(crate) async fn wait_rows(&self, expected: &[&str]) {
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

    pub(crate) async fn sign_in(&self, key: &str) {
        self.goto("/").await;
        self.fill("#api-key", key).await;
        self.click("[data-testid=sign-in]").await;
    }

    /// Looks at the view as a reader would: axe-core finds no serious or critical violation
    /// at any width, and with `TOKENMETER_SCREENSHOTS` set each width is saved as a PNG.
    pub(crate) async fn look(&self, name: &str) {
        let dir = test_env("TOKENMETER_SCREENSHOTS").map(std::path::PathBuf::from);
        for width in WIDTHS {
            self.c.set_window_size(width, 1000).await.unwrap();
            self.check_a11y(&format!("{name} at {width} px")).await;
            let Some(dir) = &dir else { continue };
            std::fs::create_dir_all(dir).unwrap();
            // The whole page: its height plus the window's own frame.
            let script = "return document.documentElement.scrollHeight + window.outerHeight - window.innerHeight";
            let height = self.c.execute(script, vec![]).await.unwrap();
            let height = height.as_u64().unwrap_or(1000).clamp(600, 3000) as u32;
            self.c.set_window_size(width, height).await.unwrap();
            let png = self.c.screenshot().await.unwrap();
            std::fs::write(dir.join(format!("{name}-{width}.png")), png).unwrap();
        }
        self.c.set_window_size(1280, 1000).await.unwrap();
    }

    /// Runs axe-core on the page, once its transitions have ended, and fails on any serious or
    /// critical violation, naming them.
    pub(crate) async fn check_a11y(&self, view: &str) {
        let loaded = self.c.execute("return typeof axe !== 'undefined'", vec![]).await.unwrap();
        if loaded != json!(true) {
            self.c.execute(&format!("{}\nreturn true;", axe_script()), vec![]).await.unwrap();
        }
        let script = r#"
            const done = arguments[arguments.length - 1];
            // Contrast is judged on the settled page: finite transitions (a button's opacity
            // easing back as it is enabled) end first; endless ones (spinners) are left running.
            const settling = document.getAnimations()
                .filter((a) => a.effect && a.effect.getComputedTiming().endTime !== Infinity)
                .map((a) => a.finished.catch(() => null));
            Promise.all(settling)
                .then(() => axe.run(document, { resultTypes: ["violations"] }))
                .then(
                (r) => done(r.violations
                    .filter((v) => v.impact === "serious" || v.impact === "critical")
                    .map((v) => `${v.impact} ${v.id}: ${v.help} @ ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`)),
                (e) => done([`axe failed: ${e}`]));
        "#;
        let found = self.c.execute_async(script, vec![]).await.unwrap();
        let found: Vec<String> = serde_json::from_value(found).unwrap();
        assert!(found.is_empty(), "axe-core on {view}:\n  {}", found.join("\n  "));
    }

    /// Presses keys on whatever has the focus (`\u{E004}` Tab, `\u{E007}` Enter, …).
    pub(crate) async fn press(&self, keys: &str) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let mut actions = KeyActions::new("keyboard".into());
        for key in keys.chars() {
            actions = actions.then(KeyAction::Down { value: key }).then(KeyAction::Up { value: key });
        }
        self.c.perform_actions(actions).await.unwrap();
    }

    /// The page's title.
    pub(crate) async fn wait_title(&self, expected: &str) {
        let started = Instant::now();
        loop {
            let title = self.c.title().await.unwrap();
            if title == expected {
                return;
            }
            assert!(started.elapsed() < PATIENCE, "the title is {title:?}, expected {expected:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
