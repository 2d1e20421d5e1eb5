//! The service serves the web app from one origin, and the API keeps priority.

use reqwest::header::ACCEPT;

use crate::helpers::TestApp;

const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

#[tokio::test]
async fn the_app_its_files_and_its_pages_are_served_and_the_api_keeps_priority() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("assets")).unwrap();
    std::fs::write(dir.path().join("index.html"), "<!doctype html><title>app</title>").unwrap();
    std::fs::write(dir.path().join("assets/app.js"), "export default 1;").unwrap();
    let app = TestApp::builder().web(dir.path()).spawn().await;
    let get = |path: &str, accept: Option<&str>| {
        let mut request = app.http.get(app.url(path));
        if let Some(accept) = accept {
            request = request.header(ACCEPT, accept);
        }
        request.send()
    };

    let index = get("/", None).await.unwrap();
    assert_eq!(index.status(), 200);
    assert!(index.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(index.text().await.unwrap().contains("<title>app</title>"));
    let js = get("/assets/app.js", None).await.unwrap();
    assert_eq!(js.status(), 200);
    assert!(js.headers()["content-type"].to_str().unwrap().contains("javascript"));

    // The app's own pages load the app when a browser opens them...
    let page = get("/admin/users/alice", Some(BROWSER)).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<title>app</title>"));
    // ...while API clients keep our JSON 404, and API routes keep answering as the API.
    let (status, body) = app.send_raw(reqwest::Method::GET, "/admin/users/alice", None).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("route_not_found")));
    let api = get("/users", Some(BROWSER)).await.unwrap();
    assert_eq!(api.status(), 401, "an API route answers as the API even to a browser");
    assert_eq!(get("/openapi.json", Some(BROWSER)).await.unwrap().status(), 200);
    assert_eq!(get("/health", Some(BROWSER)).await.unwrap().status(), 200);
    // Encoded separators name no file (and nothing outside the directory).
    let encoded = get("/assets/..%2F..%2Fsecret.txt", None).await.unwrap();
    assert_eq!(encoded.status(), 404);
}

/// The build's layout: a content-hashed asset and `index.html`, each with `.br` and `.gz`
/// copies (different bytes, so the test sees which one was sent).
#[tokio::test]
async fn files_are_sent_in_the_best_accepted_encoding_and_hashed_assets_are_immutable() {
    let dir = tempfile::tempdir().unwrap();
    let assets = dir.path().join("assets");
    std::fs::create_dir_all(&assets).unwrap();
    let css = "style-0123456789abcdef.css";
    for (file, text) in [("index.html", "<!doctype html><title>app</title>"), (&format!("assets/{css}"), "p{}")] {
        std::fs::write(dir.path().join(file), text).unwrap();
        std::fs::write(dir.path().join(format!("{file}.br")), format!("brotli of {file}")).unwrap();
        std::fs::write(dir.path().join(format!("{file}.gz")), format!("gzip of {file}")).unwrap();
    }
    let app = TestApp::builder().web(dir.path()).spawn().await;
    // reqwest without its decompression features sends what we say and decodes nothing.
    let get = |path: String, encoding: &'static str| {
        app.http.get(app.url(&path)).header(ACCEPT, BROWSER).header("accept-encoding", encoding).send()
    };
    let header =
        |response: &reqwest::Response, name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());

    let asset = format!("/assets/{css}");
    let br = get(asset.clone(), "gzip, deflate, br, zstd").await.unwrap();
    assert_eq!(br.status(), 200);
    assert_eq!(header(&br, "content-encoding").as_deref(), Some("br"));
    assert_eq!(header(&br, "vary").as_deref(), Some("accept-encoding"));
    assert!(header(&br, "content-type").unwrap().starts_with("text/css"), "the type of the original file");
    assert_eq!(header(&br, "cache-control").as_deref(), Some("public, max-age=31536000, immutable"));
    assert_eq!(br.text().await.unwrap(), format!("brotli of assets/{css}"));

    let gz = get(asset.clone(), "gzip, deflate").await.unwrap();
    assert_eq!(header(&gz, "content-encoding").as_deref(), Some("gzip"));
    assert_eq!(gz.text().await.unwrap(), format!("gzip of assets/{css}"));
    let refused = get(asset.clone(), "br;q=0, gzip").await.unwrap();
    assert_eq!(header(&refused, "content-encoding").as_deref(), Some("gzip"), "q=0 refuses an encoding");

    let plain = get(asset, "identity").await.unwrap();
    assert_eq!(header(&plain, "content-encoding"), None);
    assert_eq!(header(&plain, "vary").as_deref(), Some("accept-encoding"));
    assert_eq!(plain.text().await.unwrap(), "p{}");

    // index.html (at `/` and at the app's pages) names the hashed files: revalidated every time.
    for page in ["/", "/dashboard"] {
        let index = get(page.to_owned(), "gzip, br").await.unwrap();
        assert_eq!(header(&index, "content-encoding").as_deref(), Some("br"), "{page}");
        assert_eq!(header(&index, "cache-control").as_deref(), Some("no-cache"), "{page}");
        assert!(header(&index, "content-type").unwrap().starts_with("text/html"), "{page}");
        let etag = header(&index, "etag").expect("an ETag to revalidate with");
        let again = app
            .http
            .get(app.url(page))
            .header(ACCEPT, BROWSER)
            .header("accept-encoding", "gzip, br")
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{page}: unchanged, so not sent again");
    }
}

#[tokio::test]
async fn without_a_built_app_browsers_are_told_how_to_build_it() {
    let app = TestApp::spawn().await;
    let page = app.http.get(app.url("/")).header(ACCEPT, BROWSER).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("cargo xtask build"));
    let (status, body) = app.send_raw(reqwest::Method::GET, "/", None).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("route_not_found")));
}

#[tokio::test]
async fn pages_carry_a_content_security_policy_that_allows_only_their_own_inline_module() {
    let dir = tempfile::tempdir().unwrap();
    let module = "\n    import init from \"/assets/app.js\";\n    init();\n  ";
    let index = format!("<!doctype html><title>app</title><script type=\"module\">{module}</script>");
    std::fs::write(dir.path().join("index.html"), index).unwrap();
    std::fs::create_dir_all(dir.path().join("assets")).unwrap();
    std::fs::write(dir.path().join("assets/app.js"), "export default 1;").unwrap();
    let app = TestApp::builder().web(dir.path()).spawn().await;
    for path in ["/", "/dashboard"] {
        let page = app.http.get(app.url(path)).header(ACCEPT, BROWSER).send().await.unwrap();
        let headers = page.headers();
        let policy = headers["content-security-policy"].to_str().unwrap();
        use sha2::Digest as _;
        let hash = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, sha2::Sha256::digest(module));
        assert!(policy.contains(&format!("'sha256-{hash}'")), "{path}: {policy}");
        assert!(policy.contains("'wasm-unsafe-eval'") && policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(!policy.contains("script-src 'self' 'unsafe-inline'"), "no inline script but the app's own");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }
    let asset = app.http.get(app.url("/assets/app.js")).send().await.unwrap();
    assert!(asset.headers().get("content-security-policy").is_none(), "only pages need the policy");
}
