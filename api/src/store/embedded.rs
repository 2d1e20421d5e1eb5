//! The default store: an embedded, durable redb database in one file.
//!
//! Writes are group-committed: a single writer thread drains every write that is waiting,
//! applies them in one transaction and makes that transaction durable with one fsync, then
//! answers each caller. Callers see exactly the durability of a commit per write, while the
//! throughput is no longer capped by the disk's fsync rate. Because one thread applies all
//! writes in order, each write is atomic with respect to every other. Holds are the one
//! exception to per-write durability (see [`Write::must_be_durable`]).

use std::{collections::BTreeMap, path::Path, sync::Arc, thread};

use async_trait::async_trait;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::domain::{
    ApiKey, Hold, HoldId, KeyId, KeyStore, Money, Role, StoreError, Timestamp, TokenCount, TokenLimit, User, UserId,
    UserStore,
};

const USERS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("users");
const KEYS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("keys");

/// The most writes one transaction carries; bounds the latency a batch adds.
const MAX_BATCH: usize = 512;

pub struct EmbeddedStore {
    db: Arc<Database>,
    writes: mpsc::UnboundedSender<PendingWrite>,
}

enum Write {
    User(UserWrite),
    Key(KeyWrite),
}

enum UserWrite {
    Insert(User),
    SetLimit { id: UserId, limit: TokenLimit, at: Timestamp },
    AddUsage { id: UserId, tokens: TokenCount, cost: Money, at: Timestamp },
    Delete(UserId),
    Reserve { id: UserId, hold: Hold },
    Settle { id: UserId, hold: Hold, tokens: u64, cost: Money, at: Timestamp },
    Release { id: UserId, hold: Hold },
}

enum KeyWrite {
    Insert(ApiKey),
    Revoke { id: KeyId, at: Timestamp },
}

impl Write {
    /// Whether the caller may be answered only once the write is on disk. Every write must,
    /// except a hold: it reserves tokens for a model call in flight in this process, which a
    /// crash ends anyway, so after a crash a lost hold is one released early (the call it
    /// covered can no longer be settled either way). A batch of holds alone therefore commits
    /// without an fsync, and the next durable commit writes it. This halves the fsyncs of a
    /// model call: only its settlement waits for the disk.
    fn must_be_durable(&self) -> bool {
        !matches!(self, Write::User(UserWrite::Reserve { .. }))
    }
}

/// What a write answers with.
enum Written {
    Nothing,
    User(User),
    Key(ApiKey),
}

type Answer = Result<Written, StoreError>;

struct PendingWrite {
    write: Write,
    reply: oneshot::Sender<Answer>,
}

/// The bytes stored per user. Field names are short and stable: this is the file format.
#[derive(Serialize, Deserialize)]
struct Record {
    limit: u64,
    usage: u64,
    cost_nanos: u64,
    updated_ms: i64,
    /// Holds of calls in flight, by hold ID.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    holds: BTreeMap<String, StoredHold>,
}

#[derive(Serialize, Deserialize)]
struct StoredHold {
    tokens: u64,
    expires_ms: i64,
}

impl Record {
    fn new(user: &User) -> Self {
        Self {
            limit: user.token_limit.get(),
            usage: user.token_usage,
            cost_nanos: user.total_cost.nanos(),
            updated_ms: user.last_updated.millis(),
            holds: BTreeMap::new(),
        }
    }

    fn reserved(&self) -> u64 {
        self.holds.values().map(|h| h.tokens).fold(0, u64::saturating_add)
    }

    fn to_user(&self, id: UserId) -> Result<User, StoreError> {
        let token_limit = TokenLimit::new("tokenLimit", self.limit)
            .map_err(|e| StoreError::Unavailable(format!("corrupt record for user '{id}': {e}")))?;
        Ok(User {
            token_limit,
            token_usage: self.usage,
            token_reserved: self.reserved(),
            total_cost: Money::from_nanos(self.cost_nanos),
            last_updated: Timestamp::from_millis(self.updated_ms),
            id,
        })
    }
}

/// The bytes stored per API key: the secret only as its SHA-256 hash.
#[derive(Serialize, Deserialize)]
struct KeyRecord {
    sha256: String,
    /// `None` for admin keys, the user's ID for user keys.
    user: Option<String>,
    label: Option<String>,
    created_ms: i64,
    revoked_ms: Option<i64>,
}

impl EmbeddedStore {
    /// Opens (or creates) the database file at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let db = Database::create(path)
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        let txn = db.begin_write().map_err(unavailable)?;
        txn.open_table(USERS).map_err(unavailable)?;
        txn.open_table(KEYS).map_err(unavailable)?;
        txn.commit().map_err(unavailable)?;

        let db = Arc::new(db);
        let (writes, queue) = mpsc::unbounded_channel();
        let writer_db = Arc::clone(&db);
        thread::Builder::new()
            .name("embedded-store-writer".into())
            .spawn(move || run_writer(&writer_db, queue))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(Self { db, writes })
    }

    async fn write(&self, write: Write) -> Answer {
        let (reply, answer) = oneshot::channel();
        self.writes
            .send(PendingWrite { write, reply })
            .map_err(|_| StoreError::Unavailable("the embedded store's writer has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Unavailable("the embedded store's writer has stopped".into()))?
    }

    async fn write_user(&self, write: UserWrite) -> Result<User, StoreError> {
        match self.write(Write::User(write)).await? {
            Written::User(user) => Ok(user),
            _ => Err(StoreError::NotFound),
        }
    }

    /// A point lookup, run where it is called: a read transaction and one B-tree descent in
    /// redb's page cache take microseconds, less than a hop to the blocking pool and back.
    fn lookup<T>(
        &self,
        table: TableDefinition<'static, &'static str, &'static [u8]>,
        read: impl FnOnce(&redb::ReadOnlyTable<&'static str, &'static [u8]>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let txn = self.db.begin_read().map_err(unavailable)?;
        let table = txn.open_table(table).map_err(unavailable)?;
        read(&table)
    }

    fn read<T: Send + 'static>(
        &self,
        table: TableDefinition<'static, &'static str, &'static [u8]>,
        read: impl FnOnce(&redb::ReadOnlyTable<&'static str, &'static [u8]>) -> Result<T, StoreError> + Send + 'static,
    ) -> impl Future<Output = Result<T, StoreError>> {
        let db = Arc::clone(&self.db);
        async move {
            tokio::task::spawn_blocking(move || {
                let txn = db.begin_read().map_err(unavailable)?;
                let table = txn.open_table(table).map_err(unavailable)?;
                read(&table)
            })
            .await
            .map_err(|e| StoreError::Unavailable(format!("read task failed: {e}")))?
        }
    }
}

#[async_trait]
impl UserStore for EmbeddedStore {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    async fn insert(&self, user: &User) -> Result<(), StoreError> {
        self.write(Write::User(UserWrite::Insert(user.clone()))).await.map(|_| ())
    }

    async fn get(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let id = id.clone();
        self.lookup(USERS, move |table| match table.get(id.as_str()).map_err(unavailable)? {
            Some(bytes) => decode(&id, bytes.value())?.to_user(id).map(Some),
            None => Ok(None),
        })
    }

    async fn list(&self) -> Result<Vec<User>, StoreError> {
        self.read(USERS, |table| records(table)?.into_iter().map(|(id, record)| record.to_user(id)).collect()).await
    }

    async fn set_limit(&self, id: &UserId, limit: TokenLimit, at: Timestamp) -> Result<User, StoreError> {
        self.write_user(UserWrite::SetLimit { id: id.clone(), limit, at }).await
    }

    async fn add_usage(&self, id: &UserId, tokens: TokenCount, cost: Money, at: Timestamp) -> Result<User, StoreError> {
        self.write_user(UserWrite::AddUsage { id: id.clone(), tokens, cost, at }).await
    }

    async fn delete(&self, id: &UserId) -> Result<(), StoreError> {
        self.write(Write::User(UserWrite::Delete(id.clone()))).await.map(|_| ())
    }

    async fn reserve(&self, id: &UserId, hold: &Hold) -> Result<User, StoreError> {
        self.write_user(UserWrite::Reserve { id: id.clone(), hold: hold.clone() }).await
    }

    async fn settle(
        &self,
        id: &UserId,
        hold: &Hold,
        tokens: u64,
        cost: Money,
        at: Timestamp,
    ) -> Result<User, StoreError> {
        self.write_user(UserWrite::Settle { id: id.clone(), hold: hold.clone(), tokens, cost, at }).await
    }

    async fn release(&self, id: &UserId, hold: &Hold) -> Result<User, StoreError> {
        self.write_user(UserWrite::Release { id: id.clone(), hold: hold.clone() }).await
    }

    async fn expired_holds(&self, now: Timestamp) -> Result<Vec<(UserId, Hold)>, StoreError> {
        self.read(USERS, move |table| {
            let expired = records(table)?.into_iter().flat_map(|(id, record)| {
                let stale = record.holds.into_iter().filter(|(_, hold)| hold.expires_ms < now.millis());
                stale.map(move |(hold, stored)| {
                    let expires_at = Timestamp::from_millis(stored.expires_ms);
                    (id.clone(), Hold { id: HoldId::from_stored(hold), tokens: stored.tokens, expires_at })
                })
            });
            Ok(expired.collect())
        })
        .await
    }
}

#[async_trait]
impl KeyStore for EmbeddedStore {
    async fn insert_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        self.write(Write::Key(KeyWrite::Insert(key.clone()))).await.map(|_| ())
    }

    async fn get_key(&self, id: &KeyId) -> Result<Option<ApiKey>, StoreError> {
        let id = id.clone();
        self.lookup(KEYS, move |table| match table.get(id.as_str()).map_err(unavailable)? {
            Some(bytes) => decode_key(id, bytes.value()).map(Some),
            None => Ok(None),
        })
    }

    async fn list_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        self.read(KEYS, |table| {
            let mut keys = Vec::new();
            for entry in table.iter().map_err(unavailable)? {
                let (id, value) = entry.map_err(unavailable)?;
                let id = KeyId::parse(id.value())
                    .ok_or_else(|| StoreError::Unavailable(format!("corrupt key ID {:?}", id.value())))?;
                keys.push(decode_key(id, value.value())?);
            }
            Ok(keys)
        })
        .await
    }

    async fn revoke_key(&self, id: &KeyId, at: Timestamp) -> Result<ApiKey, StoreError> {
        match self.write(Write::Key(KeyWrite::Revoke { id: id.clone(), at })).await? {
            Written::Key(key) => Ok(key),
            _ => Err(StoreError::NotFound),
        }
    }
}

/// The writer loop: one transaction, one fsync, per batch of waiting writes.
fn run_writer(db: &Database, mut queue: mpsc::UnboundedReceiver<PendingWrite>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        match apply_batch(db, &batch) {
            Ok(results) => {
                for (pending, result) in batch.drain(..).zip(results) {
                    let _ = pending.reply.send(result);
                }
            }
            Err(err) => {
                tracing::error!(error = %err.to_string(), "embedded store commit failed");
                for pending in batch.drain(..) {
                    let _ = pending.reply.send(Err(err.clone()));
                }
            }
        }
    }
}

/// Applies each write; a write that fails its condition changes nothing and does not affect
/// the others. Only a failure of the transaction itself fails the whole batch.
fn apply_batch(db: &Database, batch: &[PendingWrite]) -> Result<Vec<Answer>, StoreError> {
    let mut txn = db.begin_write().map_err(unavailable)?;
    let results = {
        let mut users = txn.open_table(USERS).map_err(unavailable)?;
        let mut keys = txn.open_table(KEYS).map_err(unavailable)?;
        batch
            .iter()
            .map(|pending| match &pending.write {
                Write::User(write) => apply(&mut users, write),
                Write::Key(KeyWrite::Insert(key)) => insert_key(&mut keys, key),
                Write::Key(KeyWrite::Revoke { id, at }) => revoke_key(&mut keys, id, *at),
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    if !batch.iter().any(|pending| pending.write.must_be_durable()) {
        // Written to the file by the next durable commit; visible to readers at once.
        txn.set_durability(Durability::None).map_err(unavailable)?;
    }
    txn.commit().map_err(unavailable)?;
    Ok(results)
}

type Table<'txn> = redb::Table<'txn, &'static str, &'static [u8]>;

/// The outer `Result` is a storage failure (aborts the batch); the inner one is this write's answer.
fn apply(table: &mut Table<'_>, write: &UserWrite) -> Result<Answer, StoreError> {
    let updated = |table: &mut Table<'_>, id: &UserId, change: &dyn Fn(&mut Record) -> Result<(), StoreError>| {
        let Some(mut record) = load(table, id)? else {
            return Ok(Err(StoreError::NotFound));
        };
        if let Err(refused) = change(&mut record) {
            return Ok(Err(refused));
        }
        save(table, id, &record)?;
        Ok(record.to_user(id.clone()).map(Written::User))
    };
    match write {
        UserWrite::Insert(user) => {
            if load(table, &user.id)?.is_some() {
                return Ok(Err(StoreError::AlreadyExists));
            }
            save(table, &user.id, &Record::new(user))?;
            Ok(Ok(Written::Nothing))
        }
        UserWrite::SetLimit { id, limit, at } => updated(table, id, &|record| {
            record.limit = limit.get();
            record.updated_ms = at.millis();
            Ok(())
        }),
        UserWrite::AddUsage { id, tokens, cost, at } => updated(table, id, &|record| {
            record.usage = record.usage.checked_add(tokens.get()).ok_or(StoreError::Overflow)?;
            record.cost_nanos = record.cost_nanos.saturating_add(cost.nanos());
            record.updated_ms = at.millis();
            Ok(())
        }),
        UserWrite::Delete(id) => match table.remove(id.as_str()).map_err(unavailable)? {
            Some(_) => Ok(Ok(Written::Nothing)),
            None => Ok(Err(StoreError::NotFound)),
        },
        UserWrite::Reserve { id, hold } => updated(table, id, &|record| {
            let available = record.limit.saturating_sub(record.usage).saturating_sub(record.reserved());
            if hold.tokens > available {
                return Err(StoreError::InsufficientTokens { available });
            }
            let stored = StoredHold { tokens: hold.tokens, expires_ms: hold.expires_at.millis() };
            record.holds.insert(hold.id.to_string(), stored);
            Ok(())
        }),
        UserWrite::Settle { id, hold, tokens, cost, at } => updated(table, id, &|record| {
            record.holds.remove(hold.id.as_str());
            record.usage = record.usage.checked_add(*tokens).ok_or(StoreError::Overflow)?;
            record.cost_nanos = record.cost_nanos.saturating_add(cost.nanos());
            record.updated_ms = at.millis();
            Ok(())
        }),
        UserWrite::Release { id, hold } => updated(table, id, &|record| {
            record.holds.remove(hold.id.as_str());

            Ok(())
        }),
    }
}

fn load(table: &Table<'_>, id: &UserId) -> Result<Option<Record>, StoreError> {
    match table.get(id.as_str()).map_err(unavailable)? {
        Some(bytes) => decode(id, bytes.value()).map(Some),
        None => Ok(None),
    }
}

fn save(table: &mut Table<'_>, id: &UserId, record: &Record) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(record).expect("a record of integers always serializes");
    table.insert(id.as_str(), bytes.as_slice()).map_err(unavailable)?;
    Ok(())
}

/// Every user's record, in ID order.
fn records(table: &redb::ReadOnlyTable<&'static str, &'static [u8]>) -> Result<Vec<(UserId, Record)>, StoreError> {
    let mut records = Vec::new();
    for entry in table.iter().map_err(unavailable)? {
        let (key, value) = entry.map_err(unavailable)?;
        let id = UserId::parse("userId", key.value())
            .map_err(|e| StoreError::Unavailable(format!("corrupt key in the users table: {e}")))?;
        let record = decode(&id, value.value())?;
        records.push((id, record));
    }
    Ok(records)
}

fn decode(id: &UserId, bytes: &[u8]) -> Result<Record, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Unavailable(format!("corrupt record for user '{id}': {e}")))
}

fn insert_key(table: &mut Table<'_>, key: &ApiKey) -> Result<Answer, StoreError> {
    if table.get(key.id.as_str()).map_err(unavailable)?.is_some() {
        return Ok(Err(StoreError::AlreadyExists));
    }
    table.insert(key.id.as_str(), encode_key(key).as_slice()).map_err(unavailable)?;
    Ok(Ok(Written::Nothing))
}

fn revoke_key(table: &mut Table<'_>, id: &KeyId, at: Timestamp) -> Result<Answer, StoreError> {
    let stored = table.get(id.as_str()).map_err(unavailable)?.map(|v| decode_key(id.clone(), v.value()));
    let Some(mut key) = stored.transpose()? else {
        return Ok(Err(StoreError::NotFound));
    };
    key.revoked_at.get_or_insert(at);
    table.insert(id.as_str(), encode_key(&key).as_slice()).map_err(unavailable)?;
    Ok(Ok(Written::Key(key)))
}

fn encode_key(key: &ApiKey) -> Vec<u8> {
    let record = KeyRecord {
        sha256: key.secret_hash.iter().map(|b| format!("{b:02x}")).collect(),
        user: match &key.role {
            Role::Admin => None,
            Role::User(user) => Some(user.to_string()),
        },
        label: key.label.clone(),
        created_ms: key.created_at.millis(),
        revoked_ms: key.revoked_at.map(Timestamp::millis),
    };
    serde_json::to_vec(&record).expect("a key record always serializes")
}

fn decode_key(id: KeyId, bytes: &[u8]) -> Result<ApiKey, StoreError> {
    let corrupt = |why: String| StoreError::Unavailable(format!("corrupt record for API key '{id}': {why}"));
    let record: KeyRecord = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    let mut secret_hash = [0u8; 32];
    if record.sha256.len() != 64 {
        return Err(corrupt("hash is not 32 bytes".into()));
    }
    for (i, byte) in secret_hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&record.sha256[2 * i..2 * i + 2], 16).map_err(|e| corrupt(e.to_string()))?;
    }
    let role = match record.user {
        None => Role::Admin,
        Some(user) => Role::User(UserId::parse("userId", &user).map_err(|e| corrupt(e.to_string()))?),
    };
    Ok(ApiKey {
        secret_hash,
        role,
        label: record.label,
        created_at: Timestamp::from_millis(record.created_ms),
        revoked_at: record.revoked_ms.map(Timestamp::from_millis),
        id,
    })
}

fn unavailable(err: impl Into<redb::Error>) -> StoreError {
    StoreError::Unavailable(format!("embedded store: {}", err.into()))
}
