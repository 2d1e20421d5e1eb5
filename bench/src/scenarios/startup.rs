//! `startup`: from spawning the release binary (fresh data directory, Bedrock configured) to
//! its first answered `GET /health`, several times; and the same for the peer, fewer times.

use std::time::Duration;

use crate::{
    harness::Bench,
    litellm::LiteLlm,
    report::{Figure, Section},
    stats::{Latencies, Summary, ms},
};

const RUNS: usize = 10;
const PEER_RUNS: usize = 2;

pub(super) async fn run(bench: &Bench) -> anyhow::Result<Section> {
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let tokenmeter = bench.start_tokenmeter().await?;
        times.push(tokenmeter.startup);
    }
    let ours = summary(&times);
    let mut peer = None;
    if let (Some(running), Some(venv)) = (&bench.peer, &bench.peer_venv) {
        let mut times = vec![running.startup];
        for _ in 1..PEER_RUNS {
            let started = LiteLlm::start(venv, bench.standin.addr, bench.peer_workers, &bench.client).await?;
            times.push(started.startup);
        }
        peer = summary(&times);
    }
    let text = |s: &Option<Summary>, runs: usize| {
        s.map_or("—".to_owned(), |s| format!("p50 {} ms, max {} ms ({runs} starts)", ms(s.p50), ms(s.max)))
    };
    let mut body = format!(
        "Spawn to the first `200` from `GET /health`, polled every millisecond (tokio's timer), on a fresh data \
         directory with the admin key and Bedrock configured: tokenmeter {}.",
        text(&ours, RUNS)
    );
    if peer.is_some() {
        body.push_str(&format!(
            " {} (`--num_workers {}`, to `GET /health/liveliness`): {}.",
            LiteLlm::name(),
            bench.peer_workers,
            text(&peer, PEER_RUNS)
        ));
    }
    body.push('\n');
    let figure = |s: &Option<Summary>| s.map_or("—".to_owned(), |s| format!("{} / {} ms", ms(s.p50), ms(s.max)));
    let figures = vec![
        Figure::new("startup: spawn to first served request, p50 / max", figure(&ours), "< 50 ms").peer(figure(&peer)),
    ];
    Ok(Section { title: "startup".to_owned(), body, figures, ..Section::default() })
}

fn summary(times: &[Duration]) -> Option<Summary> {
    Latencies::new(times.iter().map(|t| t.as_micros() as u64).collect()).summary()
}
