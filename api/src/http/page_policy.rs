//! The security headers of the web app's HTML: a Content-Security-Policy that allows the
//! app's own files, its one inline module (by hash), WebAssembly and the API on the same
//! origin, and nothing else; no framing (`frame-ancestors 'none'`, `X-Frame-Options: DENY`);
//! no MIME sniffing; no referrer beyond the origin.

use base64::Engine as _;
use poem::http::{HeaderMap, HeaderValue, header};
use sha2::{Digest, Sha256};

/// The policy for a page whose inline `<script>` and `<style>` texts are in `html`: each
/// allowed by its SHA-256 (`'unsafe-inline'` styles too: the app sets `style` attributes
/// for bars and charts).
pub(super) fn content_security_policy(html: &str) -> String {
    let hashes = |tag: &str| -> String {
        inline_blocks(html, tag).map(|text| format!(" 'sha256-{}'", sha256_base64(text))).collect()
    };
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{}; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'",
        hashes("script")
    )
}

/// Adds the policy and the other page headers to `headers`.
pub(super) fn add_page_headers(headers: &mut HeaderMap, html: &str) {
    if let Ok(policy) = HeaderValue::from_str(&content_security_policy(html)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin"));
}

/// The texts of the inline `<tag …>…</tag>` blocks of `html` (those without `src`).
fn inline_blocks<'a>(html: &'a str, tag: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut rest = html;
    std::iter::from_fn(move || {
        loop {
            let start = rest.find(&open)?;
            let after_open = &rest[start..];
            let head_end = after_open.find('>')?;
            let head = &after_open[..head_end];
            let body = &after_open[head_end + 1..];
            let end = body.find(&close)?;
            rest = &body[end + close.len()..];
            if !head.contains(" src=") {
                return Some(&body[..end]);
            }
        }
    })
}

fn sha256_base64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_allowed_by_their_hash_and_nothing_else_inline() {
        let html = "<head><script type=\"module\">\n  import init from \"/a.js\";\n</script>\
                    <script src=\"/b.js\"></script></head>";
        let policy = content_security_policy(html);
        let hash = sha256_base64("\n  import init from \"/a.js\";\n");
        assert!(policy.contains(&format!("script-src 'self' 'wasm-unsafe-eval' 'sha256-{hash}';")), "{policy}");
        assert_eq!(policy.matches("sha256-").count(), 1, "the external script needs no hash");
        assert!(policy.contains("style-src 'self' 'unsafe-inline';"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"));
    }
}
