//! Atomic increments: N concurrent records of k tokens add exactly N·k.

use std::collections::HashSet;

use futures::future::join_all;
use tokenmeter_client::types::CreateUserRequest;

use crate::helpers::{ADMIN_KEY, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_clients_recording_concurrently_lose_nothing() {
    const CLIENTS: u64 = 64;
    const RECORDS_EACH: u64 = 40;
    const TOKENS: u64 = 7;
    let app = spawn_app().await;
    app.create_user("hot", 1_000_000).await;

    let clients = (0..CLIENTS).map(|_| {
        let client = app.client_with(ADMIN_KEY);
        async move {
            let mut seen = Vec::new();
            for _ in 0..RECORDS_EACH {
                let user = client
                    .record_usage("hot", &tokenmeter_client::types::RecordUsageRequest { tokens_consumed: TOKENS })
                    .await
                    .expect("record");
                seen.push(user.into_inner().token_usage);
            }
            seen
        }
    });
    let observed: Vec<u64> = join_all(clients).await.into_iter().flatten().collect();

    let total = CLIENTS * RECORDS_EACH * TOKENS;
    assert_eq!(app.client.get_user("hot").await.unwrap().into_inner().token_usage, total);
    // Every answer saw a distinct running total: each record was applied exactly once, alone.
    let distinct: HashSet<u64> = observed.iter().copied().collect();
    assert_eq!(distinct.len() as u64, CLIENTS * RECORDS_EACH);
    assert!(observed.iter().all(|usage| usage % TOKENS == 0 && *usage <= total));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_id_admit_exactly_one() {
    let app = &spawn_app().await;
    let attempts = (0..32u64).map(|i| async move {
        app.client
            .create_user(&CreateUserRequest { user_id: "contested".into(), token_limit: 100 + i, issue_key: None })
            .await
    });
    let results = join_all(attempts).await;
    let created: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(created.len(), 1);
    assert!(results.iter().filter_map(|r| r.as_ref().err()).all(|e| e.status().map(|s| s.as_u16()) == Some(409)));
    let winner = created[0].user.token_limit;
    assert_eq!(app.client.get_user("contested").await.unwrap().into_inner().token_limit, winner);
}
