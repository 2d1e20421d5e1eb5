//! The web app, served by the API from one origin: its files from a directory built by
//! `cargo xtask build` (`webapp/dist/` by default), and `index.html` for the app's own pages.
//!
//! API routes keep priority: a file is served only when it exists in the directory, and
//! `index.html` only for a `GET` the API has no route for, from a browser navigating (the
//! request accepts `text/html`). Other clients keep getting our JSON 404.
//!
//! Small and cacheable: the build writes each file precompressed beside itself (`x.br`,
//! `x.gz`), and a request gets the best encoding its `Accept-Encoding` allows
//! (`Content-Encoding`, `Vary: Accept-Encoding`). Assets carry a content hash in their names
//! (`/assets/style-<hash>.css`), so they are cached for a year as immutable; `index.html`,
//! which names them, is revalidated on every load (`no-cache`, with an ETag).

use std::{
    path::{Component, Path, PathBuf},
    sync::Arc,
};

use poem::{
    FromRequest, IntoResponse, Request, Response,
    http::{HeaderValue, StatusCode, header},
    web::StaticFileRequest,
};

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

/// How long browsers keep a content-hashed asset: a year, never revalidated.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Files without a hash in their name (`index.html`): revalidated on every use.
const REVALIDATE: &str = "no-cache";

/// A content encoding the build writes beside each file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Brotli,
    Gzip,
}

impl Encoding {
    fn token(self) -> &'static str {
        match self {
            Encoding::Brotli => "br",
            Encoding::Gzip => "gzip",
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Encoding::Brotli => "br",
            Encoding::Gzip => "gz",
        }
    }
}

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
                .get(header::ACCEPT)
                .and_then(|a| a.to_str().ok())
                .is_some_and(|accept| accept.contains("text/html"))
    }

    /// The app's page (the app routes itself in the browser), or a page saying how to build it.
    pub async fn page(&self, req: &Request) -> Response {
        match self.file("/") {
            Some(index) => Self::send(req, &index).await,
            None => {
                let mut page = Response::builder()
                    .content_type("text/html; charset=utf-8")
                    .header(header::CACHE_CONTROL, REVALIDATE)
                    .body(NOT_BUILT);
                super::page_policy::add_page_headers(page.headers_mut(), NOT_BUILT);
                page
            }
        }
    }

    /// Sends `file`, or its best precompressed copy, with its caching rule.
    async fn send(req: &Request, file: &Path) -> Response {
        let accepted = req.headers().get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let encoded = [Encoding::Brotli, Encoding::Gzip].into_iter().find_map(|encoding| {
            let copy = file.with_file_name(format!("{}.{}", file_name(file), encoding.suffix()));
            (accepts(accepted, encoding.token()) && copy.is_file()).then_some((encoding, copy))
        });
        let has_copies = [Encoding::Brotli, Encoding::Gzip]
            .iter()
            .any(|e| file.with_file_name(format!("{}.{}", file_name(file), e.suffix())).is_file());
        let conditional = match StaticFileRequest::from_request_without_body(req).await {
            Ok(conditional) => conditional,
            Err(err) => return err.into_response(),
        };
        let served = encoded.as_ref().map_or(file, |(_, copy)| copy.as_path());
        // No ranges: a range of a compressed copy is not a range of the file.
        let mut response = match conditional.create_response(served, true, false) {
            Ok(response) => response.into_response(),
            Err(err) => {
                tracing::warn!(file = %served.display(), error = %err, "could not serve a web app file");
                return StatusCode::NOT_FOUND.into_response();
            }
        };
        let headers = response.headers_mut();
        if let Some((encoding, _)) = encoded {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding.token()));
            if let Some(mime) = content_type(file) {
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
            }
        }
        if has_copies {
            headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        let cache = if is_hashed(file) { IMMUTABLE } else { REVALIDATE };
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        if file.extension().is_some_and(|e| e == "html") {
            let html = tokio::fs::read_to_string(file).await.unwrap_or_default();
            super::page_policy::add_page_headers(response.headers_mut(), &html);
        }
        response
    }
}

fn is_read(req: &Request) -> bool {
    req.method() == poem::http::Method::GET || req.method() == poem::http::Method::HEAD
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Whether `accept_encoding` (`gzip, deflate, br;q=0.9`) accepts `token` (a `q` of 0 refuses).
fn accepts(accept_encoding: &str, token: &str) -> bool {
    accept_encoding.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let name = parts.next().unwrap_or_default();
        let refused =
            parts.any(|p| p.strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()).is_some_and(|q| q <= 0.0));
        (name.eq_ignore_ascii_case(token) || name == "*") && !refused
    })
}

/// Whether the file's name carries the build's content hash: `name-<16 hex digits>.ext`.
fn is_hashed(file: &Path) -> bool {
    let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    stem.rsplit_once('-').is_some_and(|(_, hash)| hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The type of the files the app is built from (a compressed copy is served as its original).
fn content_type(file: &Path) -> Option<&'static str> {
    Some(match file.extension()?.to_str()? {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_is_read_with_its_weights() {
        assert!(accepts("gzip, deflate, br, zstd", "br"));
        assert!(accepts("gzip, deflate, br, zstd", "gzip"));
        assert!(!accepts("gzip, deflate", "br"));
        assert!(!accepts("br;q=0, gzip", "br"));
        assert!(accepts("br;q=0.5", "br"));
        assert!(accepts("*", "gzip"));
        assert!(!accepts("", "gzip"));
    }

    #[test]
    fn only_names_with_the_build_hash_are_immutable() {
        assert!(is_hashed(Path::new("assets/style-0123456789abcdef.css")));
        assert!(is_hashed(Path::new("assets/tokenmeter_webapp_bg-0123456789abcdef.wasm")));
        assert!(!is_hashed(Path::new("index.html")));
        assert!(!is_hashed(Path::new("assets/style.css")));
        assert!(!is_hashed(Path::new("assets/some-name.css")));
    }
}
