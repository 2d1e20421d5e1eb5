//! Conversations on DynamoDB. A user's conversations are listed in one index item,
//! `convs#<userId>`: one attribute `conv_<id>` per conversation holding its summary (JSON), and
//! `conversationCount`. Each turn is its own item, `cturn#<conversationId>#<seq>` (four-digit
//! sequence), with its JSON in `body` (a kept turn is at most 64,000 characters: under the
//! 400 KB item limit). Everything is read with consistent reads (`GetItem`, `BatchGetItem`).
//!
//! | operation | request | condition |
//! | --- | --- | --- |
//! | create | transaction: `ConditionCheck` the user; `UpdateItem` index `SET conv_<id> ADD conversationCount 1` | user exists; `attribute_not_exists(conv_<id>)`, count below the maximum |
//! | append | transaction: `UpdateItem` index `SET conv_<id> = :new`; `PutItem` each turn | `conv_<id> = :old` (compare and set; re-read on conflict); turn absent |
//! | delete | `UpdateItem` index `REMOVE conv_<id> ADD conversationCount -1`, then `DeleteItem` each turn | `conv_<id> = :old` |
//!
//! Deleting a user deletes its index item in the same transaction as the user, then its turns;
//! a guest becoming a user has its index item moved in the migration's transaction (turn items
//! are keyed by conversation, so they stay where they are).

use async_trait::async_trait;
use futures::{StreamExt, stream};

use super::{
    DynamoDbStore,
    codec::Item,
    expr::{Change, n, s},
    retry::Written,
    schema::{BODY, PK, user_key},
};
use crate::{
    domain::{
        Appended, Conversation, ConversationId, ConversationStore, ConversationSummary, MAX_CONVERSATION_TURNS,
        MAX_CONVERSATIONS, StoreError, UserId,
    },
    store::conversation_records::{StoredConversation, StoredTurn, newest_first},
};

const COUNT: &str = "conversationCount";
const ATTRIBUTE_PREFIX: &str = "conv_";
/// Compare-and-set rounds an append or a delete tries against concurrent changes.
const ATTEMPTS: usize = 16;
/// Turn deletions in flight at once.
const PARALLEL_DELETES: usize = 16;

pub(super) fn index_key(user: &UserId) -> String {
    format!("convs#{user}")
}

fn attribute(id: &ConversationId) -> String {
    format!("{ATTRIBUTE_PREFIX}{id}")
}

fn turn_key(id: &str, seq: u32) -> String {
    format!("cturn#{id}#{seq:04}")
}

fn corrupt(why: impl std::fmt::Display) -> StoreError {
    super::schema::corrupt("conversation", why)
}

/// Every conversation an index item lists: (ID, stored summary).
fn listed(index: &Item) -> Result<Vec<(String, StoredConversation)>, StoreError> {
    index
        .iter()
        .filter_map(|(name, value)| name.strip_prefix(ATTRIBUTE_PREFIX).map(|id| (id, value)))
        .map(|(id, value)| {
            let text = value.as_s().map_err(|_| corrupt("a summary is not a string"))?;
            Ok((id.to_owned(), serde_json::from_str(text).map_err(corrupt)?))
        })
        .collect()
}

fn encode(stored: &StoredConversation) -> String {
    serde_json::to_string(stored).expect("a summary always serializes")
}

impl DynamoDbStore {
    /// The user's index item, if any.
    pub(super) async fn conversation_index(&self, user: &UserId) -> Result<Option<Item>, StoreError> {
        self.get(&index_key(user)).await
    }

    /// Deletes the turns of every conversation `index` lists (after the index item itself is
    /// gone): what fails is logged, and left unreachable.
    pub(super) async fn forget_turns(&self, index: Option<&Item>) {
        let Some(index) = index else { return };
        let Ok(conversations) = listed(index) else { return };
        let turns = conversations.iter().flat_map(|(id, stored)| (0..stored.turns).map(|seq| turn_key(id, seq)));
        self.delete_all(turns.collect()).await;
    }

    async fn delete_all(&self, pks: Vec<String>) {
        let deletes = stream::iter(pks).map(|pk| async move { (self.delete(&pk).await, pk) });
        let failed: Vec<String> = deletes
            .buffer_unordered(PARALLEL_DELETES)
            .filter_map(|(r, pk)| async move { r.err().map(|_| pk) })
            .collect()
            .await;
        if !failed.is_empty() {
            tracing::warn!(items = failed.len(), "could not delete every turn of a deleted conversation");
        }
    }

    /// A conversation's summary as stored.
    async fn stored(&self, user: &UserId, id: &ConversationId) -> Result<Option<StoredConversation>, StoreError> {
        let Some(index) = self.conversation_index(user).await? else { return Ok(None) };
        let Some(value) = index.get(&attribute(id)) else { return Ok(None) };
        let text = value.as_s().map_err(|_| corrupt("a summary is not a string"))?;
        serde_json::from_str(text).map(Some).map_err(corrupt)
    }
}

#[async_trait]
impl ConversationStore for DynamoDbStore {
    async fn conversations(&self, user: &UserId) -> Result<Vec<ConversationSummary>, StoreError> {
        let Some(index) = self.conversation_index(user).await? else { return Ok(Vec::new()) };
        let mut found =
            listed(&index)?.iter().map(|(id, stored)| stored.to_summary(id)).collect::<Result<Vec<_>, _>>()?;
        newest_first(&mut found);
        Ok(found)
    }

    async fn conversation_summary(
        &self,
        user: &UserId,
        id: &ConversationId,
    ) -> Result<Option<ConversationSummary>, StoreError> {
        self.stored(user, id).await?.map(|stored| stored.to_summary(id.as_str())).transpose()
    }

    async fn conversation(&self, user: &UserId, id: &ConversationId) -> Result<Option<Conversation>, StoreError> {
        let Some(stored) = self.stored(user, id).await? else { return Ok(None) };
        let pks: Vec<String> = (0..stored.turns).map(|seq| turn_key(id.as_str(), seq)).collect();
        let found = self.get_many(&pks).await?;
        let mut turns = Vec::with_capacity(pks.len());
        for pk in &pks {
            let item = found.get(pk).ok_or_else(|| corrupt(format!("turn {pk} is missing")))?;
            let body = item.get(BODY).and_then(|v| v.as_s().ok()).ok_or_else(|| corrupt("a turn has no body"))?;
            turns.push(StoredTurn::decode(body.as_bytes())?.to_turn()?);
        }
        Ok(Some(Conversation { summary: stored.to_summary(id.as_str())?, turns }))
    }

    async fn insert_conversation(&self, user: &UserId, conversation: &ConversationSummary) -> Result<(), StoreError> {
        let mut exists = Change::new();
        exists.require_exists(&[PK]);
        let name = attribute(&conversation.id);
        let mut add = Change::new();
        add.set(&[&name], s(encode(&StoredConversation::new(conversation))))
            .add(COUNT, 1)
            .require_absent(&[&name])
            .require_absent_or_less(&[COUNT], &[COUNT], n(MAX_CONVERSATIONS));
        let items = vec![self.tx_check(&user_key(user), &exists), self.tx_update(&index_key(user), &add)];
        match self.transact(items).await? {
            Written::Applied(()) => Ok(()),
            Written::Refused(which) if which.first() == Some(&true) => Err(StoreError::NotFound),
            Written::Refused(_) => Err(StoreError::Refused),
        }
    }

    async fn append_turns(&self, appended: &Appended) -> Result<ConversationSummary, StoreError> {
        let name = attribute(&appended.id);
        for _ in 0..ATTEMPTS {
            let Some(old) = self.stored(&appended.user, &appended.id).await? else { return Err(StoreError::NotFound) };
            let added = appended.turns.len() as u32;
            if old.turns + added > MAX_CONVERSATION_TURNS {
                return Err(StoreError::Refused);
            }
            let mut new = old.clone();
            new.turns += added;
            new.updated_ms = appended.at.millis();
            new.title.get_or_insert_with(|| appended.title.clone());
            let mut swap = Change::new();
            swap.set(&[&name], s(encode(&new))).require_equal(&name, s(encode(&old)));
            let mut items = vec![self.tx_update(&index_key(&appended.user), &swap)];
            let mut absent = Change::new();
            absent.require_absent(&[PK]);
            for (seq, turn) in (old.turns..).zip(&appended.turns) {
                let item = Item::from([
                    (PK.to_owned(), s(turn_key(appended.id.as_str(), seq))),
                    (BODY.to_owned(), s(StoredTurn::new(turn).encode())),
                ]);
                items.push(self.tx_put(item, &absent));
            }
            match self.transact(items).await? {
                Written::Applied(()) => return new.to_summary(appended.id.as_str()),
                // Another append (or a delete) came first: read again.
                Written::Refused(_) => continue,
            }
        }
        Err(StoreError::Unavailable("too many concurrent changes to one conversation".into()))
    }

    async fn delete_conversation(&self, user: &UserId, id: &ConversationId) -> Result<(), StoreError> {
        let name = attribute(id);
        for _ in 0..ATTEMPTS {
            let Some(old) = self.stored(user, id).await? else { return Err(StoreError::NotFound) };
            let mut remove = Change::new();
            remove.remove(&[&name]).add(COUNT, -1).require_equal(&name, s(encode(&old)));
            if self.update(&index_key(user), &remove).await?.is_some() {
                self.delete_all((0..old.turns).map(|seq| turn_key(id.as_str(), seq)).collect()).await;
                return Ok(());
            }
        }
        Err(StoreError::Unavailable("too many concurrent changes to one conversation".into()))
    }
}
