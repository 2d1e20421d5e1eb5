//! The real `tokenmeter` binary as a child process, for what only a process shows: durability
//! across a kill, signals, what it logs.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

pub(crate) struct Service {
    child: Child,
    pub url: String,
    /// The admin key the service printed, if it generated one on this start.
    pub printed_admin_key: Option<String>,
    /// Every log line after the announcement.
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    /// SIGKILL: no drain, no flush.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends `signal` (`TERM`, `INT`) to the process.
    pub(crate) fn signal(&self, signal: &str) {
        let sent = Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -{signal}");
    }

    /// Waits for the process to exit, at most `within`.
    pub(crate) async fn exited_within(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the child") {
                return Some(status);
            }
            if tokio::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The log lines so far that contain `text`.
    pub(crate) fn logged(&self, text: &str) -> Vec<String> {
        self.log.lock().unwrap().iter().filter(|line| line.contains(text)).cloned().collect()
    }
}

/// Starts `tokenmeter` on port 0 with `store_env` (and no admin key configured) and reads
/// what it announces.
pub(crate) fn start(store_env: &[(&str, String)]) -> Service {
    start_on("127.0.0.1:0", store_env)
}

/// Starts `tokenmeter` listening on `listen` (a fixed port keeps clients' URL across restarts).
// The child is waited for by `Service`'s `Drop`, which owns it once it has announced itself.
#[allow(clippy::zombie_processes)]
pub(crate) fn start_on(listen: &str, store_env: &[(&str, String)]) -> Service {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tokenmeter"))
        .env("TOKENMETER_LISTEN", listen)
        .envs(store_env.iter().map(|(k, v)| (k, v)))
        .env("TOKENMETER_MODEL_PROVIDER", "echo")
        .env("TOKENMETER_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tokenmeter");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut printed_admin_key = None;
    while let Some(line) = lines.next() {
        let line = line.expect("log line");
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if let Some(key) = event["fields"]["admin_key"].as_str() {
            printed_admin_key = Some(key.to_owned());
        }
        if let Some(url) = event["fields"]["url"].as_str() {
            let url = url.to_owned();
            let log = Arc::new(Mutex::new(Vec::new()));
            // Keep reading the log so the child never blocks on a full pipe.
            let kept = log.clone();
            std::thread::spawn(move || lines.map_while(Result::ok).for_each(|line| kept.lock().unwrap().push(line)));
            return Service { child, url, printed_admin_key, log };
        }
    }
    panic!("tokenmeter exited before announcing its URL");
}
