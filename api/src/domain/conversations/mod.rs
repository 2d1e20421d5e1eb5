//! Conversations kept per user, server-side, so a chat survives reloads and devices: each one a
//! title and its turns, oldest first. A model call that names a conversation has its prompt and
//! answer appended once it has settled (`calls.rs`); a failed call appends nothing.
//!
//! Sizes are bounded: a user keeps at most [`MAX_CONVERSATIONS`] conversations, a conversation
//! at most [`MAX_TURNS`] turns, a kept turn at most [`MAX_KEPT_CHARS`] characters (a longer
//! answer is kept cut, marked `truncated`; a longer prompt is refused before the call).

mod calls;

use std::{fmt, sync::Arc};

use async_trait::async_trait;

use super::{Core, Error, Invocations, Money, Principal, Speaker, StoreError, Timestamp, UserId, ValidationError};

/// The most conversations one user keeps.
pub const MAX_CONVERSATIONS: u64 = 100;
/// The most turns one conversation keeps (a prompt and its answer are two).
pub const MAX_TURNS: u32 = 200;
/// The most characters a kept turn holds.
pub const MAX_KEPT_CHARS: usize = 64_000;
/// The most characters of a title.
pub const MAX_TITLE_CHARS: usize = 200;
/// A conversation without a title is named after its first prompt, cut to this many characters.
const TITLE_FROM_PROMPT_CHARS: usize = 80;

/// A conversation's ID: 16 lowercase hex digits, random.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConversationId(String);

impl ConversationId {
    pub const PATTERN: &'static str = "^[0-9a-f]{16}$";

    pub fn generate() -> Self {
        Self(rand::random::<[u8; 8]>().iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        if raw.len() == 16 && raw.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValidationError::new(field, "must be 16 lowercase hexadecimal digits (a conversation's ID)"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConversationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A title as given: 1 to [`MAX_TITLE_CHARS`] characters, not blank.
pub fn parse_title(raw: Option<String>) -> Result<Option<String>, ValidationError> {
    let Some(title) = raw else { return Ok(None) };
    let trimmed = title.trim();
    if trimmed.is_empty() {
        return Err(ValidationError::new("title", "must not be blank (leave it out for none)"));
    }
    let chars = trimmed.chars().count();
    if chars > MAX_TITLE_CHARS {
        return Err(ValidationError::new(
            "title",
            format!("must be at most {MAX_TITLE_CHARS} characters (got {chars})"),
        ));
    }
    Ok(Some(trimmed.to_owned()))
}

/// The title a conversation without one takes from its first prompt: its first line, cut.
fn title_from(prompt: &str) -> String {
    let line = prompt.trim().lines().next().unwrap_or_default().trim();
    let mut title: String = line.chars().take(TITLE_FROM_PROMPT_CHARS).collect();
    if line.chars().count() > TITLE_FROM_PROMPT_CHARS {
        title.push('…');
    }
    title
}

/// What an answered turn cost: the call's usage and price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnUsage {
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub input_cost: Money,
    pub output_cost: Money,
}

/// One kept turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationTurn {
    pub speaker: Speaker,
    pub text: String,
    pub at: Timestamp,
    /// The text was longer than [`MAX_KEPT_CHARS`] and is kept cut.
    pub truncated: bool,
    /// On an answer: what its call used and cost.
    pub usage: Option<TurnUsage>,
}

impl ConversationTurn {
    /// A turn of `text`, cut to [`MAX_KEPT_CHARS`] characters.
    pub fn new(speaker: Speaker, text: &str, at: Timestamp, usage: Option<TurnUsage>) -> Self {
        let truncated = text.chars().count() > MAX_KEPT_CHARS;
        let text = if truncated { text.chars().take(MAX_KEPT_CHARS).collect() } else { text.to_owned() };
        Self { speaker, text, at, truncated, usage }
    }
}

/// A conversation without its turns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationSummary {
    pub id: ConversationId,
    pub title: Option<String>,
    pub created_at: Timestamp,
    /// When its last turn was added (its creation, before any).
    pub updated_at: Timestamp,
    pub turns: u32,
}

/// A conversation with every turn, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub summary: ConversationSummary,
    pub turns: Vec<ConversationTurn>,
}

/// Turns to add to a conversation in one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub user: UserId,
    pub id: ConversationId,
    pub turns: Vec<ConversationTurn>,
    /// The title to set when the conversation has none.
    pub title: String,
    pub at: Timestamp,
}

/// Conversations, kept under their user: deleting the user deletes them.
#[async_trait]
pub trait ConversationStore: Send + Sync + 'static {
    /// The user's conversations, most recently updated first.
    async fn conversations(&self, user: &UserId) -> Result<Vec<ConversationSummary>, StoreError>;

    async fn conversation_summary(
        &self,
        user: &UserId,
        id: &ConversationId,
    ) -> Result<Option<ConversationSummary>, StoreError>;

    async fn conversation(&self, user: &UserId, id: &ConversationId) -> Result<Option<Conversation>, StoreError>;

    /// Creates a conversation: [`StoreError::NotFound`] without the user,
    /// [`StoreError::Refused`] when the user has [`MAX_CONVERSATIONS`] already.
    async fn insert_conversation(&self, user: &UserId, conversation: &ConversationSummary) -> Result<(), StoreError>;

    /// Adds turns at the end (and the title when there is none): [`StoreError::NotFound`]
    /// without the conversation, [`StoreError::Refused`] when it would pass [`MAX_TURNS`].
    async fn append_turns(&self, appended: &Appended) -> Result<ConversationSummary, StoreError>;

    /// Deletes a conversation with its turns: [`StoreError::NotFound`] without it.
    async fn delete_conversation(&self, user: &UserId, id: &ConversationId) -> Result<(), StoreError>;
}

/// The conversations service.
#[derive(Clone)]
pub struct Conversations {
    core: Core,
    store: Arc<dyn ConversationStore>,
    invocations: Invocations,
}

impl Conversations {
    pub(super) fn new(core: Core, store: Arc<dyn ConversationStore>, invocations: Invocations) -> Self {
        Self { core, store, invocations }
    }

    /// The user's conversations, most recently updated first.
    pub async fn list(&self, by: &Principal, user: &UserId) -> Result<Vec<ConversationSummary>, Error> {
        by.require_user(user)?;
        self.core.user(user).await?;
        self.store.conversations(user).await.map_err(Error::store)
    }

    /// Starts an empty conversation.
    pub async fn create(
        &self,
        by: &Principal,
        user: &UserId,
        title: Option<String>,
    ) -> Result<ConversationSummary, Error> {
        by.require_user(user)?;
        let now = self.core.now();
        let summary =
            ConversationSummary { id: ConversationId::generate(), title, created_at: now, updated_at: now, turns: 0 };
        match self.store.insert_conversation(user, &summary).await {
            Ok(()) => Ok(summary),
            Err(StoreError::NotFound) => Err(Error::UserNotFound(user.clone())),
            Err(StoreError::Refused) => Err(Error::ConversationLimit(format!(
                "user '{user}' keeps {MAX_CONVERSATIONS} conversations, the most there may be; delete one first"
            ))),
            Err(err) => Err(Error::store(err)),
        }
    }

    /// One conversation with every turn.
    pub async fn get(&self, by: &Principal, user: &UserId, id: &ConversationId) -> Result<Conversation, Error> {
        by.require_user(user)?;
        match self.store.conversation(user, id).await.map_err(Error::store)? {
            Some(conversation) => Ok(conversation),
            None => Err(self.missing(user, id).await),
        }
    }

    pub async fn delete(&self, by: &Principal, user: &UserId, id: &ConversationId) -> Result<(), Error> {
        by.require_user(user)?;
        match self.store.delete_conversation(user, id).await {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound) => Err(self.missing(user, id).await),
            Err(err) => Err(Error::store(err)),
        }
    }

    /// Why a conversation is not there: its user is unknown, or it is.
    async fn missing(&self, user: &UserId, id: &ConversationId) -> Error {
        match self.core.user(user).await {
            Ok(_) => Error::ConversationNotFound(id.to_string()),
            Err(err) => err,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_sixteen_lowercase_hex_digits() {
        let id = ConversationId::generate();
        assert_eq!(ConversationId::parse("id", id.as_str()), Ok(id.clone()));
        assert_ne!(ConversationId::generate(), id);
        for bad in ["", "0123456789abcde", "0123456789ABCDEF", "0123456789abcdefa", "0123456789abcdeg"] {
            assert_eq!(ConversationId::parse("conversationId", bad).unwrap_err().field, "conversationId", "{bad}");
        }
    }

    #[test]
    fn titles_are_trimmed_bounded_and_never_blank() {
        assert_eq!(parse_title(None), Ok(None));
        assert_eq!(parse_title(Some("  Trip  ".into())), Ok(Some("Trip".into())));
        assert_eq!(parse_title(Some(" \n".into())).unwrap_err().field, "title");
        assert!(parse_title(Some("é".repeat(MAX_TITLE_CHARS))).is_ok(), "characters are counted, not bytes");
        assert_eq!(parse_title(Some("x".repeat(MAX_TITLE_CHARS + 1))).unwrap_err().field, "title");
    }

    #[test]
    fn a_title_from_a_prompt_is_its_first_line_cut() {
        assert_eq!(title_from("  Plan a trip\nto Lisbon"), "Plan a trip");
        let long = "w".repeat(TITLE_FROM_PROMPT_CHARS + 5);
        assert_eq!(title_from(&long), format!("{}…", "w".repeat(TITLE_FROM_PROMPT_CHARS)));
    }

    #[test]
    fn a_kept_turn_is_cut_to_the_bound_and_says_so() {
        let at = Timestamp::from_millis(0);
        let fits = ConversationTurn::new(Speaker::Assistant, &"é".repeat(MAX_KEPT_CHARS), at, None);
        assert!(!fits.truncated);
        let long = ConversationTurn::new(Speaker::Assistant, &"é".repeat(MAX_KEPT_CHARS + 1), at, None);
        assert!(long.truncated);
        assert_eq!(long.text.chars().count(), MAX_KEPT_CHARS);
    }
}
