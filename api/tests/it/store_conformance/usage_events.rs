//! Usage events and roll-ups: pages of the log newest first, and hourly sums per user and per
//! model that add up to the events.

use tokenmeter_api::domain::{ErrorCode, EventId, EventKind, EventQuery, Stores, Totals};

use super::{at, event, every_store, id, user};

const HOUR: i64 = 3_600_000;
/// 2026-11-30T00:00:00Z.
const DAY_START: i64 = 1_764_460_800_000;

async fn events_come_back_newest_first_in_pages(stores: &Stores) {
    stores.accounts.insert_user(&user("alice", 10, 0), None).await.unwrap();
    let mut written = Vec::new();
    for (i, who) in ["alice", "bob", "alice", "alice", "bob"].iter().enumerate() {
        let e = event(who, DAY_START + i as i64 * HOUR, EventKind::Invoke, 10, 20);
        stores.events.put_event(&e).await.unwrap();
        written.push(e);
    }
    let now = at(DAY_START + 10 * HOUR);
    let page = stores.events.events(&EventQuery { user: None, before: EventId::after(now), limit: 3 }).await.unwrap();
    assert_eq!(page, written.iter().rev().take(3).cloned().collect::<Vec<_>>());
    let next = EventQuery { user: None, before: page[2].id.clone(), limit: 3 };
    assert_eq!(stores.events.events(&next).await.unwrap(), vec![written[1].clone(), written[0].clone()]);
    let alices = EventQuery { user: Some(id("alice")), before: EventId::after(now), limit: 10 };
    let theirs: Vec<_> = stores.events.events(&alices).await.unwrap().iter().map(|e| e.at).collect();
    assert_eq!(theirs, [written[3].at, written[2].at, written[0].at]);
}

async fn rollups_add_up_to_the_events_per_user_and_per_model(stores: &Stores) {
    let mut failed = event("alice", DAY_START + 30 * 60_000, EventKind::Stream, 0, 0);
    failed.outcome = Some(ErrorCode::ModelThrottled);
    let events = [
        event("alice", DAY_START + 60_000, EventKind::Invoke, 10, 20),
        event("alice", DAY_START + 2 * 60_000, EventKind::Record, 5, 0),
        failed,
        event("bob", DAY_START + 59 * 60_000, EventKind::Invoke, 1, 2),
        event("alice", DAY_START + HOUR + 1, EventKind::Invoke, 100, 200),
    ];
    for e in &events {
        stores.events.put_event(e).await.unwrap();
    }
    let first_hour = stores.events.rollups(at(DAY_START), at(DAY_START + HOUR), Some(&id("alice"))).await.unwrap();
    assert_eq!(first_hour.len(), 1);
    let mut expected = Totals::default();
    for e in &events[..3] {
        expected.add(&Totals::of(e));
    }
    assert_eq!(first_hour[0].totals, expected);
    assert_eq!((first_hour[0].totals.calls, first_hour[0].totals.records, first_hour[0].totals.errors), (2, 1, 1));

    let by_model = stores.events.rollups(at(DAY_START), at(DAY_START + 2 * HOUR), None).await.unwrap();
    let hours: Vec<_> = by_model.iter().map(|r| (r.hour, r.totals.calls, r.totals.input_tokens)).collect();
    assert_eq!(hours, [(at(DAY_START), 3, 16), (at(DAY_START + HOUR), 1, 100)]);
    assert!(by_model.iter().all(|r| r.user.is_none() && r.model == "m"));
}

every_store!(events_come_back_newest_first_in_pages, rollups_add_up_to_the_events_per_user_and_per_model,);
