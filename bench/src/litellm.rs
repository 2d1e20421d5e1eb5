//! The peer: LiteLLM proxy from PyPI, in a venv under `target/`, configured against the same
//! stand-in Bedrock (its `bedrock/converse/` route, `aws_bedrock_runtime_endpoint`, dummy
//! credentials), with a master key and no database (so no budgets: LiteLLM keeps spend only
//! in Postgres).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

use crate::{
    load::Client,
    output::note,
    process::{Process, free_port},
};

/// The pinned release. (Later 1.108.x–1.110.x pin `litellm-proxy-extras` / `litellm-enterprise`
/// builds that PyPI does not serve, so `litellm[proxy]` cannot be installed at those versions;
/// 1.107.0 was a compromised release and is gone from PyPI.)
pub(crate) const VERSION: &str = "1.108.0";

/// The model name clients ask LiteLLM for.
pub(crate) const MODEL: &str = "claude-sonnet-4-5";

/// LiteLLM's master key, as the bench configures it.
pub(crate) const MASTER_KEY: &str = "sk-bench-master-key-0123456789";

/// A running LiteLLM proxy.
pub(crate) struct LiteLlm {
    pub process: Process,
    pub base: String,
    pub startup: Duration,
    _dir: tempfile::TempDir,
}

impl LiteLlm {
    pub(crate) fn name() -> String {
        format!("LiteLLM {VERSION}")
    }

    pub(crate) fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Starts LiteLLM proxy with `workers` uvicorn workers, pointed at the stand-in.
    pub(crate) async fn start(
        venv: &Path,
        standin: SocketAddr,
        workers: usize,
        client: &Client,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("litellm-bench-").tempdir()?;
        let config = dir.path().join("config.yaml");
        std::fs::write(&config, config_yaml(standin))?;
        let port = free_port()?;
        let log = dir.path().join("litellm.log");
        let log_file = std::fs::File::create(&log)?;
        let mut command = Command::new(venv.join("bin/litellm"));
        command
            .args(["--config", &config.to_string_lossy(), "--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--num_workers", &workers.to_string()])
            .env_clear()
            .env("PATH", format!("{}:/usr/local/bin:/usr/bin:/bin", venv.join("bin").display()))
            .env("HOME", dir.path())
            .env("LANG", "C.UTF-8")
            // The cost map ships in the package; without this LiteLLM fetches it at start-up.
            .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        let spawned = Instant::now();
        let mut process = Process::spawn(&mut command, Some(log), true)?;
        let base = format!("http://127.0.0.1:{port}");
        let url = format!("{base}/health/liveliness");
        let startup = process.wait_ready(client, &url, spawned, Duration::from_secs(180)).await?;
        Ok(Self { process, base, startup, _dir: dir })
    }
}

fn config_yaml(standin: SocketAddr) -> String {
    format!(
        "model_list:
  - model_name: {MODEL}
    litellm_params:
      model: bedrock/converse/us.anthropic.claude-sonnet-4-5-20250929-v1:0
      aws_access_key_id: AKIDTOKENMETERBENCH
      aws_secret_access_key: bench-secret-not-checked
      aws_region_name: us-east-1
      aws_bedrock_runtime_endpoint: http://{standin}
general_settings:
  master_key: {MASTER_KEY}
"
    )
}

/// The venv holding LiteLLM proxy at [`VERSION`], under `target/bench-peers/`: installed with
/// pip on first use (a few minutes), reused afterwards.
pub(crate) fn ensure_installed(root: &Path) -> anyhow::Result<PathBuf> {
    let venv = root.join("target/bench-peers").join(format!("litellm-{VERSION}"));
    let python = venv.join("bin/python");
    let installed = Command::new(&python)
        .args(["-c", "import importlib.metadata as m; print(m.version('litellm'))"])
        .output()
        .is_ok_and(|out| out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == VERSION);
    if installed && venv.join("bin/litellm").is_file() {
        return Ok(venv);
    }
    note(&format!("installing litellm[proxy]=={VERSION} from PyPI into {} (once)", venv.display()));
    std::fs::create_dir_all(venv.parent().expect("under target/"))?;
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    run(Command::new(venv.join("bin/pip")).args(["install", "--quiet", &format!("litellm[proxy]=={VERSION}")]))?;
    Ok(venv)
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command.status().with_context(|| format!("starting {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_points_litellm_at_the_stand_in_with_dummy_credentials() {
        let yaml = config_yaml("127.0.0.1:4567".parse().unwrap());
        assert!(yaml.contains("aws_bedrock_runtime_endpoint: http://127.0.0.1:4567\n"));
        assert!(yaml.contains("model: bedrock/converse/"), "the Converse route, as tokenmeter calls it");
        assert!(yaml.contains(&format!("master_key: {MASTER_KEY}")));
    }
}
