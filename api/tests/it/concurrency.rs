//! Atomic increments: N concurrent records of k tokens add exactly N·k.

use futures::future::join_all;

use tokenmeter_client::types;

use crate::helpers::{ADMIN_KEY, TestApp, new_user, usage};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_clients_recording_concurrently_lose_nothing() {
    const CLIENTS: u64 = 64;
    const RECORDS_EACH: u64 = 40;
    const TOKENS: u64 = 7;
    let app = TestApp::spawn().await;
    app.create_user("hot", 1_000_000).await;

    let clients = (0..CLIENTS).map(|_| {
        let client = app.client_with(ADMIN_KEY);
        async move {
            let mut seen = Vec::new();
            for _ in 0..RECORDS_EACH {
                let user = client.record_usage("hot", None, &usage(TOKENS)).await.expect("record");
                seen.push(user.into_inner().token_usage);
            }
            seen
        }
    });
    let observed: Vec<Vec<u64>> = join_all(clients).await;

    let total = CLIENTS * RECORDS_EACH * TOKENS;
    assert_eq!(app.client.get_user("hot").await.unwrap().into_inner().token_usage, total);
    // Each answer includes its own record and every earlier one of its client: a client's
    // running totals rise strictly, and the last answer given saw every record.
    for seen in &observed {
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "a client's totals went back: {seen:?}");
        assert!(seen.iter().all(|usage| usage % TOKENS == 0 && (TOKENS..=total).contains(usage)));
    }
    assert_eq!(observed.iter().flatten().max(), Some(&total));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_id_admit_exactly_one() {
    let app = &TestApp::spawn().await;
    let attempts =
        (0..32u64).map(|i| async move { app.client.create_user(None, &new_user("contested", 100 + i)).await });
    let results = join_all(attempts).await;
    let created: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(created.len(), 1);
    assert!(results.iter().filter_map(|r| r.as_ref().err()).all(|e| e.status().map(|s| s.as_u16()) == Some(409)));
    let winner = created[0].user.token_limit;
    assert_eq!(app.client.get_user("contested").await.unwrap().into_inner().token_limit, winner);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_issued_while_their_user_is_deleted_never_outlive_it() {
    let app = &TestApp::spawn().await;
    for round in 0..3 {
        let id = format!("victim-{round}");
        app.create_user(&id, 100).await;
        let request = types::IssueKeyRequest::User { user_id: id.clone(), label: None };
        // 63 key issues and one delete, all at once: the delete goes out first, in the middle
        // or last.
        let delete_at = [0, 32, 63][round];
        let calls = (0..64).map(|i| {
            let (id, request) = (&id, &request);
            async move {
                if i == delete_at {
                    app.client.delete_user(id).await.expect("the delete succeeds");
                    None
                } else {
                    app.client.issue_key(request).await.ok().map(|k| k.into_inner().api_key)
                }
            }
        });
        let issued: Vec<String> = join_all(calls).await.into_iter().flatten().collect();
        eprintln!("round {round}: {} of 63 keys issued around the delete", issued.len());

        // A user of the same ID, created afterwards, inherits nothing.
        app.create_user(&id, 100).await;
        for key in &issued {
            let answer = app.client_with(key).get_user(&id).await;
            let status = answer.err().and_then(|e| e.status()).map(|s| s.as_u16());
            assert_eq!(status, Some(401), "a key issued before the delete still works");
        }
    }
}
