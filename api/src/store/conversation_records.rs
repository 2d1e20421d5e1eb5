//! How both stores keep a conversation's turns: one JSON record per turn (short, stable field
//! names: this is the file and item format), and the summary's fields.

use serde::{Deserialize, Serialize};

use super::codec::corrupt;
use crate::domain::{
    ConversationId, ConversationSummary, ConversationTurn, Money, Speaker, StoreError, Timestamp, TurnUsage,
};

/// A turn as stored.
#[derive(Serialize, Deserialize)]
pub(super) struct StoredTurn {
    /// `user` or `assistant`.
    role: String,
    text: String,
    at_ms: i64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    truncated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    usage: Option<StoredTurnUsage>,
}

#[derive(Serialize, Deserialize)]
struct StoredTurnUsage {
    model: String,
    input: u64,
    output: u64,
    input_nanos: u64,
    output_nanos: u64,
}

impl StoredTurn {
    pub(super) fn new(turn: &ConversationTurn) -> Self {
        Self {
            role: match turn.speaker {
                Speaker::User => "user",
                Speaker::Assistant => "assistant",
            }
            .to_owned(),
            text: turn.text.clone(),
            at_ms: turn.at.millis(),
            truncated: turn.truncated,
            usage: turn.usage.as_ref().map(|u| StoredTurnUsage {
                model: u.model.clone(),
                input: u.input_tokens,
                output: u.output_tokens,
                input_nanos: u.input_cost.nanos(),
                output_nanos: u.output_cost.nanos(),
            }),
        }
    }

    pub(super) fn to_turn(&self) -> Result<ConversationTurn, StoreError> {
        let speaker = match self.role.as_str() {
            "user" => Speaker::User,
            "assistant" => Speaker::Assistant,
            other => return Err(corrupt("conversation turn", format!("unknown role {other:?}"))),
        };
        Ok(ConversationTurn {
            speaker,
            text: self.text.clone(),
            at: Timestamp::from_millis(self.at_ms),
            truncated: self.truncated,
            usage: self.usage.as_ref().map(|u| TurnUsage {
                model: u.model.clone(),
                input_tokens: u.input,
                output_tokens: u.output,
                input_cost: Money::from_nanos(u.input_nanos),
                output_cost: Money::from_nanos(u.output_nanos),
            }),
        })
    }

    pub(super) fn encode(&self) -> String {
        serde_json::to_string(self).expect("a turn always serializes")
    }

    pub(super) fn decode(text: &[u8]) -> Result<Self, StoreError> {
        serde_json::from_slice(text).map_err(|e| corrupt("conversation turn", e))
    }
}

/// A conversation's summary as stored.
#[derive(Serialize, Deserialize, Clone)]
pub(super) struct StoredConversation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) title: Option<String>,
    pub(super) created_ms: i64,
    pub(super) updated_ms: i64,
    pub(super) turns: u32,
}

impl StoredConversation {
    pub(super) fn new(summary: &ConversationSummary) -> Self {
        Self {
            title: summary.title.clone(),
            created_ms: summary.created_at.millis(),
            updated_ms: summary.updated_at.millis(),
            turns: summary.turns,
        }
    }

    pub(super) fn to_summary(&self, id: &str) -> Result<ConversationSummary, StoreError> {
        Ok(ConversationSummary {
            id: ConversationId::parse("conversationId", id).map_err(|e| corrupt("conversation ID", e))?,
            title: self.title.clone(),
            created_at: Timestamp::from_millis(self.created_ms),
            updated_at: Timestamp::from_millis(self.updated_ms),
            turns: self.turns,
        })
    }
}

/// Most recently updated first; the newer creation first among equals.
pub(super) fn newest_first(conversations: &mut [ConversationSummary]) {
    conversations.sort_by(|a, b| (b.updated_at, b.created_at, &b.id).cmp(&(a.updated_at, a.created_at, &a.id)));
}
