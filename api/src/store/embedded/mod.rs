//! The default store: an embedded, durable redb database in one file.
//!
//! Writes are group-committed: a single writer thread drains every write that is waiting,
//! applies them in one transaction and makes that transaction durable with one fsync, then
//! answers each caller. Callers see exactly the durability of a commit per write, while the
//! throughput is no longer capped by the disk's fsync rate. Because one thread applies all
//! writes in order, each write is atomic with respect to every other. Holds are the one
//! exception to per-write durability (see [`Write::must_be_durable`]).

mod alerts;
mod apply;
mod conversations;
mod ports;
mod records;
mod tables;

use std::{path::Path, sync::Arc, thread};

use redb::{Database, Durability};
use tokio::sync::{mpsc, oneshot};

use self::{
    apply::{Applied, Written},
    records::ALL_TABLES,
    tables::{Tables, unavailable},
};
use crate::domain::{
    AlertRule, ApiKey, Firing, HoldId, IdempotencyClaim, KeyId, Recording, Release, Reservation, Settlement,
    StoreError, Tier, TierName, Timestamp, UsageEvent, User, UserChange, UserId,
};

/// The most writes one transaction carries; bounds the latency a batch adds.
const MAX_BATCH: usize = 512;

pub struct EmbeddedStore {
    db: Arc<Database>,
    writes: mpsc::UnboundedSender<PendingWrite>,
}

enum Write {
    InsertUser(User, Option<(IdempotencyClaim, serde_json::Value)>),
    UpdateUser(UserId, UserChange, Timestamp),
    DeleteUser(UserId, Timestamp),
    Reserve(Reservation),
    Settle(Settlement),
    Release(Release),
    Renew(UserId, HoldId, Timestamp),
    Record(Recording),
    CompleteClaim(IdempotencyClaim, serde_json::Value),
    MigrateGuest(UserId, User),
    InsertKey(ApiKey),
    RevokeKey(KeyId, Timestamp),
    PutTier(Tier),
    DeleteTier(TierName),
    SeedTiers(Vec<Tier>),
    PutEvent(UsageEvent),
    PutAlertRule(AlertRule),
    DeleteAlertRule(String),
    SeedAlertRules(Vec<AlertRule>),
    ClaimFiring(Firing),
    ResolveFiring(String, Timestamp),
    Sweep(Timestamp),
    Conversation(conversations::ConversationWrite),
}

impl Write {
    /// Whether the caller may be answered only once the write is on disk. Every write must,
    /// except holds (reserving and renewing): they cover a model call in flight in this
    /// process, which a crash ends anyway, so after a crash a lost hold is one released early
    /// (the call it covered can no longer be settled either way). A batch of holds alone
    /// therefore commits without an fsync, and the next durable commit writes it: a model
    /// call waits for the disk once, at settlement.
    fn must_be_durable(&self) -> bool {
        !matches!(self, Write::Reserve(..) | Write::Renew(..))
    }

    fn apply(&self, t: &mut Tables<'_>) -> Applied {
        match self {
            Write::InsertUser(user, claim) => apply::insert_user(t, user, claim.as_ref()),
            Write::UpdateUser(id, change, at) => apply::update_user(t, id, change, *at),
            Write::DeleteUser(id, at) => apply::delete_user(t, id, *at),
            Write::Reserve(reservation) => apply::reserve(t, reservation),
            Write::Settle(settlement) => apply::settle(t, settlement),
            Write::Release(release) => apply::release(t, release),
            Write::Renew(id, hold, at) => apply::renew(t, id, hold, *at),
            Write::Record(recording) => apply::record(t, recording),
            Write::CompleteClaim(claim, outcome) => apply::complete_claim(t, claim, outcome),
            Write::MigrateGuest(guest, into) => apply::migrate_guest(t, guest, into),
            Write::InsertKey(key) => apply::insert_key(t, key),
            Write::RevokeKey(id, at) => apply::revoke_key(t, id, *at),
            Write::PutTier(tier) => apply::put_tier(t, tier),
            Write::DeleteTier(name) => apply::delete_tier(t, name),
            Write::SeedTiers(tiers) => apply::seed_tiers(t, tiers),
            Write::PutEvent(event) => apply::put_event(t, event),
            Write::PutAlertRule(rule) => alerts::put_rule(t, rule),
            Write::DeleteAlertRule(name) => alerts::delete_rule(t, name),
            Write::SeedAlertRules(rules) => alerts::seed_rules(t, rules),
            Write::ClaimFiring(firing) => alerts::claim_firing(t, firing),
            Write::ResolveFiring(id, at) => alerts::resolve_firing(t, id, *at),
            Write::Sweep(now) => apply::sweep(t, *now),
            Write::Conversation(write) => conversations::apply(t, write),
        }
    }
}

type Answer = Result<Written, StoreError>;

struct PendingWrite {
    write: Write,
    reply: oneshot::Sender<Answer>,
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
        for table in ALL_TABLES {
            txn.open_table(table).map_err(unavailable)?;
        }
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
        let stopped = || StoreError::Unavailable("the embedded store's writer has stopped".into());
        self.writes.send(PendingWrite { write, reply }).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    async fn write_user(&self, write: Write) -> Result<User, StoreError> {
        match self.write(write).await? {
            Written::User(user) => Ok(user),
            _ => Err(StoreError::Corrupt("a user write answered no user".into())),
        }
    }

    async fn write_nothing(&self, write: Write) -> Result<(), StoreError> {
        self.write(write).await.map(drop)
    }

    /// Forgets what has expired (period counters, claims, events, roll-ups); the service runs
    /// this in the background.
    pub async fn sweep(&self, now: Timestamp) -> Result<(), StoreError> {
        self.write_nothing(Write::Sweep(now)).await
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
                tracing::error!(error = %err, "embedded store commit failed");
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
        let mut tables = Tables::open(&txn)?;
        batch.iter().map(|pending| pending.write.apply(&mut tables)).collect::<Result<Vec<_>, _>>()?
    };
    if !batch.iter().any(|pending| pending.write.must_be_durable()) {
        // Written to the file by the next durable commit; visible to readers at once.
        txn.set_durability(Durability::None).map_err(unavailable)?;
    }
    txn.commit().map_err(unavailable)?;
    Ok(results)
}
