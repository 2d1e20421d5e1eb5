//! `cargo xtask build container`: an OCI image `FROM scratch` holding the static binary of the
//! Lambda package, the built web app and the CA certificates the AWS clients verify TLS with;
//! built with podman (the project's `containers.conf`). It listens on `0.0.0.0:8080`, keeps the
//! embedded store under the volume `/data`, and runs as an unprivileged user.
//!
//! ```sh
//! podman run -p 8080:8080 -v tokenmeter-data:/data localhost/tokenmeter:latest
//! ```

use std::path::PathBuf;

use anyhow::Context;

use crate::{
    containers::podman,
    lambda::build_static_binary,
    shell::{run, step, target_dir},
    web::{build_webapp, web_dist},
};

pub(crate) const IMAGE: &str = "localhost/tokenmeter:latest";

/// Where the CA bundle lives on Debian-like hosts; the image needs one for HTTPS to AWS.
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

const CONTAINERFILE: &str = r#"# Written by `cargo xtask build container` (xtask/src/image.rs).
FROM scratch
COPY --chmod=0755 tokenmeter /tokenmeter
COPY web /web
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --chown=65534:65534 data /data
ENV TOKENMETER_LISTEN=0.0.0.0:8080 \
    TOKENMETER_WEB_DIR=/web \
    TOKENMETER_DATA_DIR=/data \
    TOKENMETER_LOG_FORMAT=json \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
VOLUME /data
EXPOSE 8080
USER 65534:65534
# The service shuts down gracefully on Ctrl-C; as PID 1 it would ignore SIGTERM.
STOPSIGNAL SIGINT
ENTRYPOINT ["/tokenmeter"]
CMD ["serve"]
"#;

/// Builds the binary, the web app and the image; answers the image's name.
pub(crate) fn build_container() -> anyhow::Result<&'static str> {
    let binary = build_static_binary()?;
    build_webapp()?;
    build_image(&binary)
}

/// Builds the image from the static `binary` and the web app already built in `webapp/dist`.
pub(crate) fn build_image(binary: &std::path::Path) -> anyhow::Result<&'static str> {
    step(&format!("building the image {IMAGE} (FROM scratch, podman)"));
    let context = target_dir().join("container-image");
    if context.exists() {
        std::fs::remove_dir_all(&context).with_context(|| format!("clearing {}", context.display()))?;
    }
    std::fs::create_dir_all(context.join("data"))?;
    std::fs::copy(binary, context.join("tokenmeter")).context("copying the binary")?;
    std::fs::copy(CA_BUNDLE, context.join("ca-certificates.crt"))
        .with_context(|| format!("copying {CA_BUNDLE} (install the package ca-certificates)"))?;
    copy_dir(&web_dist(), &context.join("web"))?;
    std::fs::write(context.join("Containerfile"), CONTAINERFILE)?;
    run(podman()
        .args(["build", "--quiet", "--tag", IMAGE, "--file"])
        .arg(context.join("Containerfile"))
        .arg(&context))?;
    let size = podman().args(["image", "inspect", "--format", "{{.Size}}", IMAGE]).output();
    let size = size.ok().and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok());
    eprintln!("built {IMAGE}{}", size.map(|s| format!(" ({:.1} MB)", s / 1e6)).unwrap_or_default());
    Ok(IMAGE)
}

/// Removes containers the image test left (it removes its own; this catches a killed run).
pub(crate) fn remove_test_containers() -> anyhow::Result<()> {
    let out = podman().args(["ps", "--all", "--quiet", "--filter", "label=tokenmeter.test=container"]).output()?;
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_owned).collect();
    if ids.is_empty() {
        return Ok(());
    }
    run(podman().args(["rm", "--force"]).args(&ids))
}

fn copy_dir(from: &PathBuf, to: &PathBuf) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// The image, run under podman: it starts, answers `/health`, serves the web app, and answers
/// the API in its JSON error shape. Runs when `cargo xtask test` has built the image and names
/// it in `TOKENMETER_TEST_IMAGE`.
#[cfg(test)]
mod tests {
    use std::{
        io::{Read, Write},
        net::{TcpListener, TcpStream},
        time::{Duration, Instant},
    };

    use super::*;

    /// Stops and removes the container however the test ends.
    struct Running(String);

    impl Drop for Running {
        fn drop(&mut self) {
            let _ = podman().args(["rm", "--force", &self.0]).output();
        }
    }

    const ADMIN_KEY: &str = "container-test-admin-key-0123456789";

    fn get(port: u16, path: &str, accept: &str) -> std::io::Result<(u16, String, String)> {
        send(port, &format!("GET {path} HTTP/1.0\r\nHost: localhost\r\nAccept: {accept}\r\n\r\n"))
    }

    fn send(port: u16, request: &str) -> std::io::Result<(u16, String, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(request.as_bytes())?;
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes)?;
        let answer = String::from_utf8_lossy(&bytes);
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        Ok((status, head.to_ascii_lowercase(), body.to_owned()))
    }

    #[test]
    fn the_image_serves_the_api_and_the_web_app() {
        let Ok(image) = std::env::var("TOKENMETER_TEST_IMAGE") else {
            assert!(
                std::env::var_os("TOKENMETER_REQUIRE_ALL_SUITES").is_none(),
                "TOKENMETER_TEST_IMAGE is not set: `cargo xtask test` builds the image first"
            );
            eprintln!("SKIPPED: the container image test (cargo xtask test builds the image and runs it)");
            return;
        };
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let started = podman()
            .args(["run", "--detach", "--rm", "--label", "tokenmeter.test=container"])
            .args(["--publish", &format!("127.0.0.1:{port}:8080"), "--env", "TOKENMETER_MODEL_PROVIDER=echo"])
            .args(["--env", &format!("TOKENMETER_ADMIN_KEY={ADMIN_KEY}"), &image])
            .output()
            .expect("podman runs");
        assert!(started.status.success(), "podman run: {}", String::from_utf8_lossy(&started.stderr));
        let container = Running(String::from_utf8_lossy(&started.stdout).trim().to_owned());
        let deadline = Instant::now() + Duration::from_secs(30);
        let health = loop {
            match get(port, "/health", "application/json") {
                Ok(answer) if answer.0 == 200 => break answer,
                _ if Instant::now() > deadline => {
                    let logs = podman().args(["logs", &container.0]).output().unwrap();
                    panic!("no /health within 30 s; logs:\n{}", String::from_utf8_lossy(&logs.stderr));
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        assert!(health.2.contains(r#""status":"ok""#) && health.2.contains(r#""store":"embedded""#), "{}", health.2);
        let (status, head, page) = get(port, "/", "text/html").unwrap();
        assert_eq!(status, 200);
        assert!(head.contains("content-type: text/html"), "{head}");
        assert!(page.contains("tokenmeter_webapp"), "the built app's page: {page}");
        // Assets carry a content hash in their names: the page names the wasm.
        let wasm = page
            .split('"')
            .find(|part| part.starts_with("/assets/tokenmeter_webapp_bg") && part.ends_with(".wasm"))
            .expect("the page names its wasm")
            .to_owned();
        let (status, head, _) = get(port, &wasm, "*/*").unwrap();
        assert_eq!((status, head.contains("content-type: application/wasm")), (200, true), "{head}");
        let (status, _, page) = get(port, "/admin/users", "text/html").unwrap();
        assert!(status == 200 && page.contains("tokenmeter_webapp"), "an app page reloads to the app");
        let (status, _, body) = get(port, "/users", "application/json").unwrap();
        assert_eq!(status, 401, "{body}");
        assert!(body.contains(r#""error":"unauthorized""#), "{body}");
        // The embedded store under the volume /data takes writes, as the unprivileged user.
        let user = r#"{"userId": "in-a-container", "tokenLimit": 1000}"#;
        let create = format!(
            "POST /users HTTP/1.0\r\nHost: localhost\r\nAuthorization: Bearer {ADMIN_KEY}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{user}",
            user.len()
        );
        let (status, _, body) = send(port, &create).unwrap();
        assert_eq!(status, 201, "{body}");
    }
}
