//! Usage events and hourly roll-ups on DynamoDB. An event is one item (its JSON in `body`),
//! indexed by user and by day; each adds to two roll-ups with `ADD`: its user and model's hour,
//! and its model's hour (spread over [`MODEL_SHARDS`] items so a busy model never meets the
//! per-item write limit). Reports query roll-ups by user or by day, never events.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;

use super::{
    DynamoDbStore, Sort,
    codec::{Item, Reader},
    expr::{Change, n, s},
    schema::*,
};
use crate::{
    domain::{
        EventQuery, EventStore, LATENCY_BUCKETS_MS, Money, Rollup, StoreError, Timestamp, Totals, UsageEvent, UserId,
    },
    store::codec::StoredEvent,
};

const DAY: std::time::Duration = std::time::Duration::from_secs(86_400);

impl DynamoDbStore {
    /// An event's item.
    pub(super) fn event_item(&self, event: &UsageEvent) -> Item {
        let body = serde_json::to_string(&StoredEvent::from(event)).expect("an event always serializes");
        HashMap::from([
            (PK.to_owned(), s(event_key(&event.id))),
            (BODY.to_owned(), s(body)),
            (GSI1_PK.to_owned(), s(events_of(&event.user))),
            (GSI1_SK.to_owned(), s(event.id.to_string())),
            (GSI2_PK.to_owned(), s(events_on(event.at))),
            (GSI2_SK.to_owned(), s(event.id.to_string())),
            (TTL.to_owned(), n(event.expires_at.seconds())),
        ])
    }

    /// Adds events' sums to their roll-ups.
    pub(super) async fn add_to_rollups(&self, events: &[UsageEvent]) -> Result<(), StoreError> {
        for (pk, change) in rollup_changes(events) {
            self.update(&pk, &change).await?;
        }
        Ok(())
    }
}

/// The changes that add events' sums to their roll-ups, one per roll-up item: per hour, the
/// user and model's, and the model's (a shard picked by the first event's ID). A batch (a
/// lease's settlement) adds to each roll-up once.
pub(super) fn rollup_changes(events: &[UsageEvent]) -> Vec<(String, Change)> {
    let Some(first) = events.first() else { return Vec::new() };
    let shard = u32::from_str_radix(&first.id.as_str()[13..], 16).unwrap_or(0) % MODEL_SHARDS;
    let mut targets: BTreeMap<String, (Change, Totals)> = BTreeMap::new();
    for event in events {
        let hour = event.at.hour_start();
        let expires = hour.plus(event.at.until(event.expires_at));
        let user_and_model = (
            user_rollup_key(hour, &event.user, &event.model),
            (GSI1_PK, rollups_of(&event.user)),
            (GSI1_SK, format!("{}#{}", hour_label(hour), event.model)),
            Some(event.user.to_string()),
        );
        let model = (
            model_rollup_key(hour, &event.model, shard),
            (GSI2_PK, model_rollups_on(hour)),
            (GSI2_SK, format!("{}#{}#{shard}", hour_label(hour), event.model)),
            None,
        );
        for (pk, (index_pk, index_pk_value), (index_sk, index_sk_value), user) in [user_and_model, model] {
            let (_, totals) = targets.entry(pk).or_insert_with(|| {
                let mut change = Change::new();
                change
                    .set(&[index_pk], s(index_pk_value))
                    .set(&[index_sk], s(index_sk_value))
                    .set(&["hour"], n(hour.millis()))
                    .set(&["model"], s(event.model.clone()))
                    .set(&[TTL], n(expires.seconds()));
                if let Some(user) = user {
                    change.set(&["owner"], s(user));
                }
                (change, Totals::default())
            });
            totals.add(&Totals::of(event));
        }
    }
    targets
        .into_iter()
        .map(|(pk, (mut change, totals))| {
            add_totals(&mut change, &totals);
            (pk, change)
        })
        .collect()
}

fn add_totals(change: &mut Change, t: &Totals) {
    let by = |n: u64| i128::from(n);
    change
        .add("calls", by(t.calls))
        .add("records", by(t.records))
        .add("errors", by(t.errors))
        .add("input", by(t.input_tokens))
        .add("output", by(t.output_tokens))
        .add("cacheRead", by(t.cache_read_tokens))
        .add("cacheWrite", by(t.cache_write_tokens))
        .add("cost", by(t.cost.nanos()))
        .add("latencySum", by(t.latency_sum_ms));
    for (i, count) in t.latency_buckets.iter().enumerate() {
        change.add(&format!("lat{i}"), by(*count));
    }
    for (code, count) in &t.errors_by_code {
        change.add(&format!("err_{code}"), by(*count));
    }
}

fn read_totals(item: &Item) -> Result<Totals, StoreError> {
    let r = Reader::new(item);
    let mut buckets = [0; LATENCY_BUCKETS_MS.len()];
    for (i, bucket) in buckets.iter_mut().enumerate() {
        *bucket = r.number(&format!("lat{i}"))?;
    }
    let mut errors_by_code = BTreeMap::new();
    for name in item.keys() {
        if let Some(code) = name.strip_prefix("err_") {
            errors_by_code.insert(code.to_owned(), r.number(name)?);
        }
    }
    Ok(Totals {
        calls: r.number("calls")?,
        records: r.number("records")?,
        errors: r.number("errors")?,
        errors_by_code,
        input_tokens: r.number("input")?,
        output_tokens: r.number("output")?,
        cache_read_tokens: r.number("cacheRead")?,
        cache_write_tokens: r.number("cacheWrite")?,
        cost: Money::from_nanos(r.number("cost")?),
        latency_sum_ms: r.number("latencySum")?,
        latency_buckets: buckets,
    })
}

fn decode_event(item: &Item) -> Result<UsageEvent, StoreError> {
    let r = Reader::new(item);
    let stored: StoredEvent = serde_json::from_str(r.text(BODY)?).map_err(|e| r.corrupt(e))?;
    stored.into_event()
}

#[async_trait]
impl EventStore for DynamoDbStore {
    async fn put_event(&self, event: &UsageEvent) -> Result<(), StoreError> {
        self.put(self.event_item(event), &Change::new()).await?;
        self.add_to_rollups(std::slice::from_ref(event)).await
    }

    /// One user's: a query of the owner index, newest first. Everyone's: the day index, day by
    /// day backwards from the cursor, until the page is full (or the retention is passed).
    async fn events(&self, query: &EventQuery) -> Result<Vec<UsageEvent>, StoreError> {
        let before = query.before.to_string();
        let items = match &query.user {
            Some(user) => {
                let sort = Sort::Below(before);
                self.query((GSI1, GSI1_PK, GSI1_SK), &events_of(user), sort, true, query.limit).await?
            }
            None => {
                let start = event_time(&before);
                let mut items = Vec::new();
                let mut day = start.day_start();
                let oldest = start.minus(DAY * 400);
                while items.len() < query.limit && day >= oldest {
                    let sort = Sort::Below(before.clone());
                    let wanted = query.limit - items.len();
                    items.extend(self.query((GSI2, GSI2_PK, GSI2_SK), &events_on(day), sort, true, wanted).await?);
                    day = day.minus(DAY);
                }
                items
            }
        };
        items.iter().map(decode_event).collect()
    }

    async fn rollups(&self, from: Timestamp, to: Timestamp, user: Option<&UserId>) -> Result<Vec<Rollup>, StoreError> {
        let (first, last) = (hour_label(from.hour_start()), hour_label(to.minus(std::time::Duration::from_millis(1))));
        let items = match user {
            Some(user) => {
                let sort = Sort::Between(first.clone(), format!("{last}#\u{10ffff}"));
                self.query((GSI1, GSI1_PK, GSI1_SK), &rollups_of(user), sort, false, 0).await?
            }
            None => {
                let mut items = Vec::new();
                let mut day = from.day_start();
                while day < to {
                    let sort = Sort::Between(first.clone(), format!("{last}#\u{10ffff}"));
                    items.extend(self.query((GSI2, GSI2_PK, GSI2_SK), &model_rollups_on(day), sort, false, 0).await?);
                    day = day.plus(DAY);
                }
                items
            }
        };
        // Shards of one model's hour add up to one roll-up.
        let mut merged: BTreeMap<(i64, String), Totals> = BTreeMap::new();
        for item in &items {
            let r = Reader::new(item);
            let hour = i64::try_from(r.number("hour")?).map_err(|e| r.corrupt(e))?;
            let model = r.text("model")?.to_owned();
            merged.entry((hour, model)).or_default().add(&read_totals(item)?);
        }
        Ok(merged
            .into_iter()
            .map(|((hour, model), totals)| Rollup {
                hour: Timestamp::from_millis(hour),
                user: user.cloned(),
                model,
                totals,
            })
            .collect())
    }
}

/// When an event ID was made (its first 13 hex digits are milliseconds).
fn event_time(id: &str) -> Timestamp {
    Timestamp::from_millis(i64::from_str_radix(id.get(..13).unwrap_or("0"), 16).unwrap_or(0))
}
