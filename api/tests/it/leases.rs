//! Leases for hot users: four instances on one store, 64 clients calling one user until the
//! budget is spent. Whatever the leases do, no limit is passed, every answered call is charged
//! exactly once, and what the leases held unused is given back.

use std::{sync::Arc, time::Duration};

use futures::future::join_all;
use tokenmeter_api::domain::{EventId, EventQuery, LeaseSettings, ManualClock, MetricsSnapshot, Timestamp, UserId};
use tokenmeter_client::types;

use crate::{
    fake_bedrock::FakeBedrock,
    helpers::{TestApp, ask, eventually, usage},
};

/// Four instances on one store, with leases for users calling `min_rate` times a second or more.
async fn four_instances(min_rate: u32) -> Vec<TestApp> {
    let leases = LeaseSettings { enabled: true, min_rate, ..Default::default() };
    let first = TestApp::builder().settings(|s| s.invoke.leases = leases).spawn().await;
    let mut apps = vec![];
    for _ in 0..3 {
        apps.push(first.second_instance().await);
    }
    apps.insert(0, first);
    apps
}

fn metrics(apps: &[TestApp]) -> Vec<MetricsSnapshot> {
    apps.iter().map(|app| app.services.core.metrics().snapshot()).collect()
}

/// What each answered call used, in tokens, and how many calls were refused, per client.
async fn call_until_refused(apps: &[TestApp], user: &str, clients: usize) -> (Vec<u64>, usize) {
    let runs = (0..clients).map(|i| {
        let client = apps[i % apps.len()].client_with(crate::helpers::ADMIN_KEY);
        async move {
            let mut used = Vec::new();
            // Prompts of different lengths, and output caps, so calls differ in size.
            let mut request = ask(&"word ".repeat(1 + i % 7));
            request.max_output_tokens = Some(std::num::NonZeroU64::new(4 + (i % 5) as u64).unwrap());
            loop {
                match client.invoke_model(user, None, &request).await {
                    Ok(answer) => used.push(answer.into_inner().tokens_consumed),
                    Err(err) => {
                        let status = err.status().map(|s| s.as_u16());
                        assert_eq!(status, Some(429), "only a spent budget stops a client: {err:?}");
                        return used;
                    }
                }
            }
        }
    });
    let per_client: Vec<Vec<u64>> = join_all(runs).await;
    (per_client.iter().flatten().copied().collect(), per_client.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leases_never_let_a_user_pass_a_limit_across_four_instances() {
    const LIMIT: u64 = 6_000;
    let apps = four_instances(1).await;
    apps[0].create_user("hot", LIMIT).await;

    let (answered, clients) = call_until_refused(&apps, "hot", 64).await;
    let charged: u64 = answered.iter().sum();
    let used = apps[0].client.get_user("hot").await.unwrap().into_inner();
    eprintln!(
        "{} calls answered by 64 clients on 4 instances: {charged} tokens of {LIMIT}; leases: {:?}",
        answered.len(),
        metrics(&apps).iter().map(|m| (m.leases_opened, m.lease_calls, m.lease_settlements)).collect::<Vec<_>>()
    );
    assert_eq!(clients, 64);
    assert!(used.token_usage <= LIMIT, "the limit was passed: {} > {LIMIT}", used.token_usage);
    assert_eq!(used.token_usage, charged, "every answered call is charged exactly once, nothing else is");
    // The budget was spent, not stranded in leases: what is left cannot fit the largest call
    // (7 words in, 8 out, and the prompt's framing).
    assert!(LIMIT - used.token_usage < 64, "{} tokens left unspent", LIMIT - used.token_usage);
    let snapshots = metrics(&apps);
    assert!(snapshots.iter().filter(|m| m.leases_opened > 0).count() >= 2, "leases on several instances");

    // Once the leases close, what they held unused is given back, and every call has its event.
    eventually("the leases give back what they held", Duration::from_secs(10), || async {
        apps[0].reserved("hot").await == 0
    })
    .await;
    let query = EventQuery {
        user: Some(UserId::parse("userId", "hot").unwrap()),
        before: EventId::after(apps[0].services.core.now().plus(Duration::from_secs(60))),
        limit: 100_000,
    };
    let events = apps[0].stores.events.events(&query).await.unwrap();
    let settled: Vec<_> = events.iter().filter(|e| e.outcome.is_none()).collect();
    assert_eq!(settled.len(), answered.len(), "one event per answered call");
    assert_eq!(settled.iter().map(|e| e.usage.total()).sum::<u64>(), charged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hot_users_calls_are_admitted_from_leases_and_charged_in_batches() {
    const CALLS_EACH: usize = 10;
    let apps = four_instances(1).await;
    apps[0].create_user("busy", 10_000_000).await;
    let runs = (0..64).map(|i| {
        let client = apps[i % apps.len()].client_with(crate::helpers::ADMIN_KEY);
        async move {
            let mut used = 0;
            for _ in 0..CALLS_EACH {
                used +=
                    client.invoke_model("busy", None, &ask("hello there")).await.unwrap().into_inner().tokens_consumed;
            }
            used
        }
    });
    let charged: u64 = join_all(runs).await.iter().sum();
    assert_eq!(apps[0].client.get_user("busy").await.unwrap().into_inner().token_usage, charged);
    // The batches' roll-ups add up to the calls, as reports read them.
    let report = apps[0]
        .client
        .usage_report(Some(types::GranularityName::Hour), std::num::NonZeroU64::new(24), None, Some("busy"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((report.invocations, report.total_tokens), (64 * CALLS_EACH as u64, charged));
    let snapshots = metrics(&apps);
    let lease_calls: u64 = snapshots.iter().map(|m| m.lease_calls).sum();
    let settlements: u64 = snapshots.iter().map(|m| m.lease_settlements).sum();
    eprintln!("{lease_calls} of {} calls admitted from leases, charged in {settlements} settlements", 64 * CALLS_EACH);
    assert!(lease_calls as usize > 64 * CALLS_EACH / 2, "most calls came from leases ({lease_calls})");
    assert!(settlements * 2 < lease_calls, "leases settle calls in batches ({settlements} for {lease_calls})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_calling_slowly_gets_no_lease() {
    let apps = four_instances(50).await;
    apps[0].create_user("calm", 100_000).await;
    // One call at a time, on alternating instances, each seeing its first call.
    for app in &apps {
        let answer = app.client.invoke_model("calm", None, &ask("hello")).await.unwrap().into_inner();
        assert_eq!(answer.user.held_tokens, 0, "the call's own hold, settled before it answered");
    }
    assert!(metrics(&apps).iter().all(|m| m.leases_opened == 0));
    let user: types::UserResult = apps[0].client.get_user("calm").await.unwrap().into_inner();
    assert_eq!(user.held_tokens, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calls_whose_lease_was_lost_are_charged_at_most_what_is_free() {
    const LIMIT: u64 = 10_000;
    const HOLD_TTL: Duration = Duration::from_secs(120);
    let fake = FakeBedrock::start().await;
    fake.count_tokens(5).await;
    fake.converse_after(Duration::from_secs(1), "a long answer", 5, 100).await;
    let clock = ManualClock::at(Timestamp::from_millis(1_700_000_000_000));
    let app = TestApp::builder()
        .provider(Arc::new(fake.provider(Duration::from_secs(30)).await))
        .clock(clock.clone())
        .settings(|s| {
            s.invoke.hold_ttl = HOLD_TTL;
            s.invoke.leases = LeaseSettings { enabled: true, min_rate: 1, ..Default::default() };
        })
        .spawn()
        .await;
    app.create_user("lost", LIMIT).await;

    // Four calls at once: one reserves a lease, the other three wait for it and join it.
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let client = app.client.clone();
            tokio::spawn(async move {
                let request =
                    types::InvokeRequest { max_output_tokens: std::num::NonZeroU64::new(200), ..ask("go on") };
                client.invoke_model("lost", None, &request).await
            })
        })
        .collect();
    eventually("the four calls run under one lease", Duration::from_secs(5), || async {
        let metrics = app.services.core.metrics().snapshot();
        metrics.leases_opened == 1 && metrics.lease_calls == 3
    })
    .await;
    // The lease outlives its hold: the clock jumps past its expiry before any renewal, and the
    // sweeper releases it while the model is still answering.
    clock.advance(HOLD_TTL + Duration::from_secs(1));
    assert_eq!(app.services.invocations.release_expired().await.expect("sweep"), 1);
    assert_eq!(app.reserved("lost").await, 0);
    // The freed budget is spent meanwhile: 9,900 of 10,000, so 100 are free.
    app.client.record_usage("lost", None, &usage(9_900)).await.expect("room for the record");

    for call in calls {
        let answered = call.await.unwrap().expect("every call is answered").into_inner();
        assert_eq!(answered.tokens_consumed, 105, "the answer says what the model used");
    }
    let user = app.client.get_user("lost").await.unwrap().into_inner();
    assert_eq!((user.token_usage, user.held_tokens), (LIMIT, 0), "charged only the 100 that were free");
    let metrics = app.services.core.metrics().snapshot();
    assert_eq!((metrics.settlement_losses, metrics.lost_tokens), (4, 4 * 105 - 100));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_call_retried_with_its_key_is_answered_from_its_settlement() {
    let apps = four_instances(1).await;
    apps[0].create_user("retry", 100_000).await;
    let send = |app: &TestApp| {
        let request = app.http.post(app.url("/invoke/retry")).bearer_auth(crate::helpers::ADMIN_KEY);
        request.header("idempotency-key", "lease-call-1").json(&serde_json::json!({ "prompt": "hello there" })).send()
    };
    let first = send(&apps[0]).await.expect("send");
    assert_eq!((first.status().as_u16(), first.headers().get("idempotent-replayed")), (200, None));
    let first: serde_json::Value = first.json().await.expect("JSON");
    assert_eq!(metrics(&apps)[0].leases_opened, 1, "the call reserved a lease and ran in it");
    // The retry, here or on another instance, replays the answer its batch stored.
    for app in [&apps[0], &apps[1]] {
        let again = send(app).await.expect("send");
        assert_eq!(again.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
        let again: serde_json::Value = again.json().await.expect("JSON");
        assert_eq!((&again["response"], &again["tokensConsumed"]), (&first["response"], &first["tokensConsumed"]));
    }
    let user = apps[0].client.get_user("retry").await.unwrap().into_inner();
    assert_eq!(user.token_usage, first["tokensConsumed"].as_u64().unwrap(), "charged once");
}
