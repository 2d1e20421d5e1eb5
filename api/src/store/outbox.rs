//! The fail-open outbox: settlements that could not reach the store, kept in a local redb
//! file until they are replayed. One JSON entry per call, keyed by its event ID (time-ordered,
//! so the oldest comes first); each push and removal is one durable commit.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::codec::{StoredAmounts, StoredEvent, corrupt, counter_key, parse_counter_key};
use crate::domain::{EventId, IdempotencyClaim, IdempotencyKey, Outbox, OutboxEntry, StoreError, Timestamp, UserId};

const ENTRIES: TableDefinition<'static, &'static str, &'static [u8]> = TableDefinition::new("outbox");

/// The outbox in a file of its own (not the embedded store's: it serves the DynamoDB store).
pub struct FileOutbox {
    db: Database,
}

#[derive(Serialize, Deserialize)]
struct StoredEntry {
    user: String,
    amounts: StoredAmounts,
    /// `(counter key, expiry in ms)`.
    counters: Vec<(String, Option<i64>)>,
    event: StoredEvent,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    answered: Option<StoredAnswer>,
}

/// The call's idempotency claim and its answer.
#[derive(Serialize, Deserialize)]
struct StoredAnswer {
    scope: String,
    key: String,
    fingerprint: String,
    expires: i64,
    answer: serde_json::Value,
}

fn failed(err: impl Into<redb::Error>) -> StoreError {
    StoreError::Unavailable(format!("outbox: {}", err.into()))
}

impl FileOutbox {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Unavailable(format!("outbox: {e}")))?;
        }
        let db = Database::create(path).map_err(failed)?;
        let txn = db.begin_write().map_err(failed)?;
        txn.open_table(ENTRIES).map_err(failed)?;
        txn.commit().map_err(failed)?;
        Ok(Self { db })
    }
}

impl Outbox for FileOutbox {
    fn push(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        let stored = StoredEntry {
            user: entry.user.to_string(),
            amounts: entry.amounts.into(),
            counters: entry.counters.iter().map(|(key, at)| (counter_key(key), at.map(Timestamp::millis))).collect(),
            event: StoredEvent::from(&entry.event),
            answered: entry.answered.as_ref().map(|(claim, answer)| StoredAnswer {
                scope: claim.scope.clone(),
                key: claim.key.as_str().to_owned(),
                fingerprint: claim.fingerprint.clone(),
                expires: claim.expires_at.millis(),
                answer: answer.clone(),
            }),
        };
        let bytes = serde_json::to_vec(&stored).map_err(|e| corrupt("outbox entry", e))?;
        let txn = self.db.begin_write().map_err(failed)?;
        txn.open_table(ENTRIES)
            .map_err(failed)?
            .insert(entry.event.id.to_string().as_str(), bytes.as_slice())
            .map_err(failed)?;
        txn.commit().map_err(failed)
    }

    fn pending(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let txn = self.db.begin_read().map_err(failed)?;
        let table = txn.open_table(ENTRIES).map_err(failed)?;
        let mut entries = Vec::new();
        for row in table.iter().map_err(failed)?.take(limit) {
            let (_, bytes) = row.map_err(failed)?;
            let stored: StoredEntry = serde_json::from_slice(bytes.value()).map_err(|e| corrupt("outbox entry", e))?;
            let counters = stored
                .counters
                .iter()
                .map(|(key, at)| Ok((parse_counter_key(key)?, at.map(Timestamp::from_millis))))
                .collect::<Result<_, StoreError>>()?;
            let answered = match stored.answered {
                Some(a) => {
                    let key = IdempotencyKey::parse(&a.key).map_err(|e| corrupt("outbox key", e))?;
                    let expires_at = Timestamp::from_millis(a.expires);
                    Some((IdempotencyClaim { scope: a.scope, key, fingerprint: a.fingerprint, expires_at }, a.answer))
                }
                None => None,
            };
            entries.push(OutboxEntry {
                user: UserId::parse("userId", &stored.user).map_err(|e| corrupt("outbox user", e))?,
                amounts: stored.amounts.into(),
                counters,
                event: stored.event.into_event()?,
                answered,
            });
        }
        Ok(entries)
    }

    fn remove(&self, event: &EventId) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(failed)?;
        txn.open_table(ENTRIES).map_err(failed)?.remove(event.to_string().as_str()).map_err(failed)?;
        txn.commit().map_err(failed)
    }
}
