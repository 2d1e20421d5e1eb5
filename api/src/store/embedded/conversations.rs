//! Conversations on the embedded store: `conversations` holds each one's summary under
//! `user|conversation`, `conversation_turns` each turn under `user|conversation|seq` (four
//! digits), so a user's conversations are one key range, removed with the user. Writes go to
//! the writer thread like every other; reads use a snapshot of both tables.

use async_trait::async_trait;
use redb::{ReadableDatabase, TableDefinition};

use super::{
    EmbeddedStore, Write,
    apply::{Applied, Written},
    records::Table,
    tables::{Tables, unavailable},
};
use crate::{
    domain::{
        Appended, Conversation, ConversationId, ConversationStore, ConversationSummary, MAX_CONVERSATION_TURNS,
        MAX_CONVERSATIONS, StoreError, UserId,
    },
    store::conversation_records::{StoredConversation, StoredTurn, newest_first},
};

/// `user|conversation` → [`StoredConversation`].
pub(super) const CONVERSATIONS: Table = TableDefinition::new("conversations");
/// `user|conversation|seq` → [`StoredTurn`].
pub(super) const CONVERSATION_TURNS: Table = TableDefinition::new("conversation_turns");

fn key(user: &UserId, id: &ConversationId) -> String {
    format!("{user}|{id}")
}

fn turn_key(user: &UserId, id: &ConversationId, seq: u32) -> String {
    format!("{user}|{id}|{seq:04}")
}

/// A conversation write, applied by the writer thread.
pub(super) enum ConversationWrite {
    Insert(UserId, ConversationSummary),
    Append(Appended),
    Delete(UserId, ConversationId),
}

pub(super) fn apply(t: &mut Tables<'_>, write: &ConversationWrite) -> Applied {
    match write {
        ConversationWrite::Insert(user, summary) => {
            if t.user(user)?.is_none() {
                return Ok(Err(StoreError::NotFound));
            }
            if t.keys_with_prefix(CONVERSATIONS, &format!("{user}|"))?.len() as u64 >= MAX_CONVERSATIONS {
                return Ok(Err(StoreError::Refused));
            }
            t.put(CONVERSATIONS, &key(user, &summary.id), &StoredConversation::new(summary))?;
            Ok(Ok(Written::Nothing))
        }
        ConversationWrite::Append(appended) => {
            let id = key(&appended.user, &appended.id);
            let Some(mut stored) = t.get::<StoredConversation>(CONVERSATIONS, &id)? else {
                return Ok(Err(StoreError::NotFound));
            };
            let added = appended.turns.len() as u32;
            if stored.turns + added > MAX_CONVERSATION_TURNS {
                return Ok(Err(StoreError::Refused));
            }
            for (seq, turn) in (stored.turns..).zip(&appended.turns) {
                let text = StoredTurn::new(turn).encode();
                t.table(CONVERSATION_TURNS)
                    .insert(turn_key(&appended.user, &appended.id, seq).as_str(), text.as_bytes())
                    .map_err(unavailable)?;
            }
            stored.turns += added;
            stored.updated_ms = appended.at.millis();
            stored.title.get_or_insert_with(|| appended.title.clone());
            t.put(CONVERSATIONS, &id, &stored)?;
            Ok(stored.to_summary(appended.id.as_str()).map(Written::Conversation))
        }
        ConversationWrite::Delete(user, id) => {
            if !t.remove(CONVERSATIONS, &key(user, id))? {
                return Ok(Err(StoreError::NotFound));
            }
            for turn in t.keys_with_prefix(CONVERSATION_TURNS, &format!("{}|", key(user, id)))? {
                t.remove(CONVERSATION_TURNS, &turn)?;
            }
            Ok(Ok(Written::Nothing))
        }
    }
}

/// Removes every conversation of a user (the user is being deleted).
pub(super) fn remove_all(t: &mut Tables<'_>, user: &UserId) -> Result<(), StoreError> {
    for table in [CONVERSATIONS, CONVERSATION_TURNS] {
        for found in t.keys_with_prefix(table, &format!("{user}|"))? {
            t.remove(table, &found)?;
        }
    }
    Ok(())
}

/// Moves every conversation of a guest to the user it becomes.
pub(super) fn move_all(t: &mut Tables<'_>, guest: &UserId, into: &UserId) -> Result<(), StoreError> {
    let prefix = format!("{guest}|");
    for table in [CONVERSATIONS, CONVERSATION_TURNS] {
        for found in t.keys_with_prefix(table, &prefix)? {
            let value = t.table(table).remove(found.as_str()).map_err(unavailable)?.map(|v| v.value().to_vec());
            if let Some(value) = value {
                let moved = format!("{into}|{}", &found[prefix.len()..]);
                t.table(table).insert(moved.as_str(), value.as_slice()).map_err(unavailable)?;
            }
        }
    }
    Ok(())
}

impl EmbeddedStore {
    /// Reads both conversation tables from one snapshot, on the blocking pool.
    async fn read_conversations<T: Send + 'static>(
        &self,
        read: impl FnOnce(&ReadOnly, &ReadOnly) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = std::sync::Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(unavailable)?;
            let summaries = txn.open_table(CONVERSATIONS).map_err(unavailable)?;
            let turns = txn.open_table(CONVERSATION_TURNS).map_err(unavailable)?;
            read(&summaries, &turns)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("read task failed: {e}")))?
    }

    async fn write_conversation(&self, write: ConversationWrite) -> Result<Written, StoreError> {
        self.write(Write::Conversation(write)).await
    }
}

type ReadOnly = redb::ReadOnlyTable<&'static str, &'static [u8]>;

/// Every (key, value) of `table` under `prefix`, in key order.
fn with_prefix(table: &ReadOnly, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let mut found = Vec::new();
    for entry in table.range(prefix..).map_err(unavailable)? {
        let (key, value) = entry.map_err(unavailable)?;
        if !key.value().starts_with(prefix) {
            break;
        }
        found.push((key.value().to_owned(), value.value().to_vec()));
    }
    Ok(found)
}

fn summary(bytes: &[u8], id: &str) -> Result<ConversationSummary, StoreError> {
    super::records::decode::<StoredConversation>("conversations", bytes)?.to_summary(id)
}

#[async_trait]
impl ConversationStore for EmbeddedStore {
    async fn conversations(&self, user: &UserId) -> Result<Vec<ConversationSummary>, StoreError> {
        let prefix = format!("{user}|");
        self.read_conversations(move |summaries, _| {
            let mut found = with_prefix(summaries, &prefix)?
                .into_iter()
                .map(|(key, bytes)| summary(&bytes, &key[prefix.len()..]))
                .collect::<Result<Vec<_>, _>>()?;
            newest_first(&mut found);
            Ok(found)
        })
        .await
    }

    async fn conversation_summary(
        &self,
        user: &UserId,
        id: &ConversationId,
    ) -> Result<Option<ConversationSummary>, StoreError> {
        let txn = self.db.begin_read().map_err(unavailable)?;
        let table = txn.open_table(CONVERSATIONS).map_err(unavailable)?;
        let found = table.get(key(user, id).as_str()).map_err(unavailable)?;
        found.map(|bytes| summary(bytes.value(), id.as_str())).transpose()
    }

    async fn conversation(&self, user: &UserId, id: &ConversationId) -> Result<Option<Conversation>, StoreError> {
        let (user, id) = (user.clone(), id.clone());
        self.read_conversations(move |summaries, turns| {
            let Some(bytes) = summaries.get(key(&user, &id).as_str()).map_err(unavailable)? else { return Ok(None) };
            let summary = summary(bytes.value(), id.as_str())?;
            let turns = with_prefix(turns, &format!("{}|", key(&user, &id)))?
                .iter()
                .map(|(_, bytes)| StoredTurn::decode(bytes)?.to_turn())
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(Conversation { summary, turns }))
        })
        .await
    }

    async fn insert_conversation(&self, user: &UserId, conversation: &ConversationSummary) -> Result<(), StoreError> {
        self.write_conversation(ConversationWrite::Insert(user.clone(), conversation.clone())).await.map(drop)
    }

    async fn append_turns(&self, appended: &Appended) -> Result<ConversationSummary, StoreError> {
        match self.write_conversation(ConversationWrite::Append(appended.clone())).await? {
            Written::Conversation(summary) => Ok(summary),
            _ => Err(StoreError::Corrupt("an append answered no conversation".into())),
        }
    }

    async fn delete_conversation(&self, user: &UserId, id: &ConversationId) -> Result<(), StoreError> {
        self.write_conversation(ConversationWrite::Delete(user.clone(), id.clone())).await.map(drop)
    }
}
