//! The web app's files in the stack's private bucket, behind CloudFront: each with its content
//! type, uploaded only when it changed (S3's ETag of a single-part upload is the MD5 of its
//! content), and files no longer built are removed.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use aws_sdk_s3::primitives::ByteStream;
use md5::{Digest, Md5};

use crate::{Aws, Say, artifacts::Change};

/// The content type a browser needs for a file of the web app, by its extension.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, extension)| extension.to_ascii_lowercase()).as_deref() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json" | "map") => "application/json",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("txt") => "text/plain; charset=utf-8",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// The files under `dir`, by their key (the path from `dir`, with `/`).
fn local_files(dir: &Path) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).with_context(|| format!("reading {}", current.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(dir)?;
                let key = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
                files.insert(key, path);
            }
        }
    }
    Ok(files)
}

/// Makes `bucket` hold exactly the files of `dir`. Answers whether anything changed.
pub async fn sync(aws: &Aws, dir: &Path, bucket: &str, say: Say<'_>) -> anyhow::Result<Change> {
    let files = local_files(dir)?;
    if !files.contains_key("index.html") {
        bail!("{} has no index.html: build the web app first (cargo xtask build-web)", dir.display());
    }
    let mut remote = BTreeMap::new();
    let mut pages = aws.s3.list_objects_v2().bucket(bucket).into_paginator().send();
    while let Some(page) = pages.next().await {
        for object in page.with_context(|| format!("listing s3://{bucket}"))?.contents() {
            if let Some(key) = object.key() {
                remote.insert(key.to_owned(), object.e_tag().unwrap_or_default().trim_matches('"').to_owned());
            }
        }
    }
    let (mut uploaded, mut unchanged) = (0, 0);
    for (key, path) in &files {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let md5: String = Md5::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        if remote.get(key) == Some(&md5) {
            unchanged += 1;
            continue;
        }
        aws.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type(key))
            // Not fingerprinted names: browsers and CloudFront revalidate, and get 304s.
            .cache_control("no-cache")
            .body(ByteStream::from(bytes))
            .send()
            .await
            .with_context(|| format!("uploading s3://{bucket}/{key}"))?;
        uploaded += 1;
    }
    let stale: Vec<&String> = remote.keys().filter(|key| !files.contains_key(*key)).collect();
    for key in &stale {
        aws.s3.delete_object().bucket(bucket).key(*key).send().await.with_context(|| format!("removing {key}"))?;
    }
    let changed = uploaded + stale.len() > 0;
    say(&format!("web app in s3://{bucket}: {uploaded} uploaded, {unchanged} unchanged, {} removed", stale.len()));
    Ok(if changed { Change::Made } else { Change::Unchanged })
}

#[cfg(test)]
mod tests {
    use super::content_type;

    #[test]
    fn browsers_get_the_types_they_need() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("assets/tokenmeter_webapp_bg.wasm"), "application/wasm");
        assert_eq!(content_type("assets/tokenmeter_webapp.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("assets/style.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("assets/favicon.svg"), "image/svg+xml");
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
    }
}
