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

#[tokio::test]
async fn without_a_built_app_browsers_are_told_how_to_build_it() {
    let app = TestApp::spawn().await;
    let page = app.http.get(app.url("/")).header(ACCEPT, BROWSER).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("cargo xtask build"));
    let (status, body) = app.send_raw(reqwest::Method::GET, "/", None).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("route_not_found")));
}
