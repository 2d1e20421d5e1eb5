//! `cargo xtask bench`: the service's figures on this machine, measured end to end over HTTP
//! against the real embedded store (durable commits) and the echo model.
//!
//! 1. usage records: 64 concurrent clients record usage for a fixed time; throughput, latency,
//!    and a check that the final total is exactly what was acknowledged (zero lost);
//! 2. invoke overhead: POST /invoke at a fixed 500 requests/s on the echo model (which takes
//!    no time), so the latency is what the service adds: auth, count, reserve, settle;
//! 3. start-up: spawning the release binary until its first answered request.
//!
//! Arguments: seconds per scenario (default 10), then the scenarios to run (all by default).

// A benchmark program: its figures are its output; it polls a child process it started.
#![allow(clippy::print_stdout, clippy::disallowed_methods)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokenmeter_api::{
    domain::{InvokeSettings, Keys, Services, StartupAdminKey},
    http,
    model::EchoProvider,
    store::EmbeddedStore,
};
use tokenmeter_client::{Client, types};

/// The service binary's allocator (api/src/main.rs), so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ADMIN_KEY: &str = "bench-admin-key-0123456789";
const SCENARIOS: [&str; 3] = ["records", "invoke", "startup"];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10);
    let scenarios: Vec<String> = args.collect();
    if let Some(unknown) = scenarios.iter().find(|s| !SCENARIOS.contains(&s.as_str())) {
        anyhow::bail!("no scenario '{unknown}'; the scenarios are {}", SCENARIOS.join(", "));
    }
    let run = |scenario: &str| scenarios.is_empty() || scenarios.iter().any(|s| s == scenario);
    let data = tempfile::tempdir()?;
    let store = Arc::new(EmbeddedStore::open(&data.path().join("bench.redb"))?);
    let settings = InvokeSettings {
        default_model: tokenmeter_api::config::DEFAULT_MODEL_ID.into(),
        default_max_output_tokens: 64,
        hold_ttl: Duration::from_secs(900),
    };
    let admin = StartupAdminKey::new(ADMIN_KEY).map_err(anyhow::Error::msg)?;
    let services = Services::new(store.clone(), Keys::new(store, Some(admin)), Arc::new(EchoProvider), settings);
    let (acceptor, addr) = http::bind("127.0.0.1:0".parse()?).await?;
    let no_web_app = http::WebApp::new(data.path().join("no-web-app"));
    tokio::spawn(http::serve(acceptor, http::endpoint(services, &[], no_web_app)));
    let base = format!("http://{addr}");
    let admin = Client::with_api_key(&base, ADMIN_KEY)?;

    println!("tokenmeter bench: {} cores, {seconds} s per scenario", std::thread::available_parallelism()?.get());
    if run("records") {
        record_usage(&admin, &base, Duration::from_secs(seconds)).await?;
    }
    if run("invoke") {
        invoke_overhead(&admin, &base, Duration::from_secs(seconds)).await?;
    }
    if run("startup") {
        startup()?;
    }
    Ok(())
}

async fn record_usage(admin: &Client, base: &str, run_for: Duration) -> anyhow::Result<()> {
    const CLIENTS: usize = 64;
    const TOKENS: u64 = 3;
    admin
        .create_user(&types::CreateUserRequest { user_id: "hot".into(), token_limit: 1 << 53, issue_key: None })
        .await?;
    let acknowledged = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + run_for;
    // Spawned eagerly (collected), so all clients run at once.
    let workers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let client = Client::with_api_key(base, ADMIN_KEY).expect("key");
            let acknowledged = acknowledged.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let started = Instant::now();
                    client
                        .record_usage("hot", &types::RecordUsageRequest { tokens_consumed: TOKENS })
                        .await
                        .expect("record");
                    latencies.push(started.elapsed());
                    acknowledged.fetch_add(1, Ordering::Relaxed);
                }
                latencies
            })
        })
        .collect();

    let started = Instant::now();
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await?);
    }
    let elapsed = started.elapsed();
    let count = acknowledged.load(Ordering::Relaxed);
    let stored = admin.get_user("hot").await?.into_inner().token_usage;
    println!("\n== usage records: {CLIENTS} concurrent clients, embedded store, durable group commits");
    println!(
        "   {count} records in {:.1} s = {:.0} records/s",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64()
    );
    println!("   latency {}", summary(&mut latencies));
    let lost = (count * TOKENS) as i64 - stored as i64;
    println!("   stored usage {stored} = {count} × {TOKENS}? lost increments: {lost}");
    anyhow::ensure!(lost == 0, "increments were lost or doubled");
    Ok(())
}

async fn invoke_overhead(admin: &Client, base: &str, run_for: Duration) -> anyhow::Result<()> {
    const RATE: u64 = 500;
    admin
        .create_user(&types::CreateUserRequest { user_id: "chat".into(), token_limit: 1 << 53, issue_key: None })
        .await?;
    let client = Client::with_api_key(base, ADMIN_KEY)?;
    let request = types::InvokeRequest {
        prompt: "how many tokens does this prompt use".into(),
        system: None,
        max_output_tokens: Some(16),
        model: None,
        history: Vec::new(),
    };
    let mut ticks = tokio::time::interval(Duration::from_nanos(1_000_000_000 / RATE));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let deadline = Instant::now() + run_for;
    let mut calls = Vec::new();
    while Instant::now() < deadline {
        ticks.tick().await;
        let (client, request) = (client.clone(), request.clone());
        calls.push(tokio::spawn(async move {
            let started = Instant::now();
            client.invoke_model("chat", &request).await.expect("invoke");
            started.elapsed()
        }));
    }
    let mut latencies = Vec::new();
    for call in calls {
        latencies.push(call.await?);
    }
    println!("\n== invoke overhead: POST /invoke at {RATE}/s open loop, echo model, embedded store");
    println!("   {} calls; latency {}", latencies.len(), summary(&mut latencies));
    Ok(())
}

fn startup() -> anyhow::Result<()> {
    let binary = std::env::current_exe()?.parent().and_then(|p| p.parent()).map(|p| p.join("tokenmeter"));
    let Some(binary) = binary.filter(|b| b.is_file()) else {
        println!("\n== start-up: skipped (build the release binary: cargo build --release -p tokenmeter-api)");
        return Ok(());
    };
    let mut times = Vec::new();
    for _ in 0..10 {
        let data = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let started = Instant::now();
        let mut child = std::process::Command::new(&binary)
            .env("TOKENMETER_LISTEN", format!("127.0.0.1:{port}"))
            .env("TOKENMETER_DATA_DIR", data.path())
            .env("TOKENMETER_ADMIN_KEY", ADMIN_KEY)
            .env("TOKENMETER_MODEL_PROVIDER", "echo")
            .env("RUST_LOG", "warn")
            .spawn()?;
        loop {
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                use std::io::{Read, Write};
                stream.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")?;
                let mut answer = String::new();
                stream.read_to_string(&mut answer)?;
                if answer.starts_with("HTTP/1.1 200") {
                    break;
                }
            }
            anyhow::ensure!(started.elapsed() < Duration::from_secs(10), "the service did not start");
            std::thread::sleep(Duration::from_micros(200));
        }
        times.push(started.elapsed());
        child.kill()?;
        child.wait()?;
    }
    println!("\n== start-up: spawn to first answered request (release binary, fresh data dir), 10 runs");
    println!("   {}", summary(&mut times));
    Ok(())
}

fn summary(latencies: &mut [Duration]) -> String {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!("p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms", ms(at(0.50)), ms(at(0.99)), ms(at(1.0)))
}
