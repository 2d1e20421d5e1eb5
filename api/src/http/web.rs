//! The web app, served by the API from one origin: its files from a directory built by
//! `cargo xtask build` (`webapp/dist/` by default), and `index.html` for the app's own pages.
//!
//! API routes keep priority: a file is served only when it exists in the directory, and
//! `index.html` only for a `GET` the API has no route for, from a browser navigating (the
//! request accepts `text/html`). Other clients keep getting our JSON 404.

use std::{
    path::{Component, Path, PathBuf},
    sync::Arc,
};

use poem::{FromRequest, IntoResponse, Request, Response, http::StatusCode, web::StaticFileRequest};

#[derive(Clone)]
pub struct WebApp {
    dir: Arc<PathBuf>,
}

/// Shown instead of the app when it has not been built.
const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tokenmeter</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#11181c}
code{background:#f4f4f5;padding:.1rem .3rem;border-radius:.3rem}</style></head>
<body><h1>tokenmeter</h1>
<p>The API is running, but the web app has not been built.</p>
<p>Run <code>cargo xtask build</code> (or start with <code>cargo xtask dev</code>, which builds it), then reload.
The API's documentation is at <a href="/docs">/docs</a>.</p></body></html>
"#;

impl WebApp {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: Arc::new(dir.into()) }
    }

    /// The file under the app's directory that `path` names, if there is one. `/` is
    /// `index.html`; paths that try to leave the directory name nothing.
    fn file(&self, path: &str) -> Option<PathBuf> {
        let relative = Path::new(path.trim_start_matches('/'));
        if !relative.components().all(|c| matches!(c, Component::Normal(_))) {
            return None;
        }
        let file = match path {
            "/" => self.dir.join("index.html"),
            _ => self.dir.join(relative),
        };
        file.is_file().then_some(file)
    }

    /// Answers a request for one of the app's files, when it is one.
    pub async fn asset(&self, req: &Request) -> Option<Response> {
        if !is_read(req) {
            return None;
        }
        let file = self.file(req.uri().path())?;
        Some(Self::send(req, &file).await)
    }

    /// Whether a request the API has no route for should get the app's page instead.
    pub fn wants_page(req: &Request) -> bool {
        is_read(req)
            && req
                .headers()
                .get(poem::http::header::ACCEPT)
                .and_then(|a| a.to_str().ok())
                .is_some_and(|accept| accept.contains("text/html"))
    }

    /// The app's page (the app routes itself in the browser), or a page saying how to build it.
    pub async fn page(&self, req: &Request) -> Response {
        match self.file("/") {
            Some(index) => Self::send(req, &index).await,
            None => Response::builder().content_type("text/html; charset=utf-8").body(NOT_BUILT),
        }
    }

    async fn send(req: &Request, file: &Path) -> Response {
        let conditional = match StaticFileRequest::from_request_without_body(req).await {
            Ok(conditional) => conditional,
            Err(err) => return err.into_response(),
        };
        match conditional.create_response(file, true, true) {
            Ok(response) => response.into_response(),
            Err(err) => {
                tracing::warn!(file = %file.display(), error = %err, "could not serve a web app file");
                StatusCode::NOT_FOUND.into_response()
            }
        }
    }
}

fn is_read(req: &Request) -> bool {
    req.method() == poem::http::Method::GET || req.method() == poem::http::Method::HEAD
}
