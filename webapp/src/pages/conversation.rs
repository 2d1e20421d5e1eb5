//! A chat's state and what it does: the user's conversations, kept by the service (so a reload
//! or another device finds them), the turns of the one open, and sending a prompt. Before a
//! prompt is sent, the quota check says whether the turn fits; when only the earlier turns do
//! not, the chat offers to start a new conversation or drop the oldest turns instead of sending
//! a call that cannot pass. A quota that blocks says which and when it resets, and the chat
//! turns itself back on then.

use std::num::NonZeroU64;

use sycamore::prelude::*;
use tokenmeter_client::{
    Client,
    types::{
        ChatRole, ConversationSummary, ConversationTurn, InvokeRequest, NewConversation, QuotaCheckBody, TurnUsageView,
        User,
    },
};

use super::chat_fit::{Blocked, FitOffer, estimate_tokens, first_kept, history, rule_name};
use crate::api::{self, ApiError, Live};

#[derive(Clone, Copy)]
pub(super) struct Chat {
    pub(super) user_id: Signal<String>,
    pub(super) user: Live<User>,
    /// The user's conversations, most recently used first; `None` until loaded.
    pub(super) list: Signal<Option<Vec<ConversationSummary>>>,
    pub(super) current: Signal<Option<String>>,
    /// The open conversation's turns, oldest first.
    pub(super) turns: Signal<Vec<ConversationTurn>>,
    /// The first turn sent as context (the ones before it were dropped).
    pub(super) context_from: Signal<usize>,
    pub(super) prompt: Signal<String>,
    pub(super) answer: Signal<String>,
    pub(super) sending: Signal<bool>,
    pub(super) error: Signal<Option<String>>,
    pub(super) offer: Signal<Option<FitOffer>>,
    pub(super) blocked: Signal<Option<Blocked>>,
}

impl Chat {
    pub(super) fn new(user_id: String) -> Self {
        Self {
            user_id: create_signal(user_id),
            user: Live::new(),
            list: create_signal(None),
            current: create_signal(None),
            turns: create_signal(Vec::new()),
            context_from: create_signal(0),
            prompt: create_signal(String::new()),
            answer: create_signal(String::new()),
            sending: create_signal(false),
            error: create_signal(None),
            offer: create_signal(None),
            blocked: create_signal(None),
        }
    }

    pub(super) fn remaining(self) -> Option<u64> {
        self.user.value.with(|u| u.as_ref().map(|u| u.remaining_tokens))
    }

    pub(super) fn exhausted(self) -> bool {
        self.remaining() == Some(0)
    }

    /// Whether a prompt may be sent now.
    pub(super) fn closed(self) -> bool {
        self.exhausted() || self.blocked.with(Option::is_some) || self.sending.get()
    }

    /// Loads the conversations and opens the most recent one.
    pub(super) fn load(self, client: Client) {
        sycamore::futures::spawn_local_scoped(async move {
            let id = self.user_id.get_clone_untracked();
            match client.list_conversations(&id).await {
                Ok(list) => {
                    let list = list.into_inner().conversations;
                    if let Some(first) = list.first() {
                        self.open(client.clone(), first.conversation_id.clone());
                    }
                    self.list.set(Some(list));
                }
                Err(err) => self.error.set(Some(ApiError::from(err).to_string())),
            }
        });
    }

    /// Opens a conversation: every turn, and all of them as context again.
    pub(super) fn open(self, client: Client, conversation: String) {
        self.current.set(Some(conversation.clone()));
        self.context_from.set(0);
        self.offer.set(None);
        self.answer.set(String::new());
        sycamore::futures::spawn_local_scoped(async move {
            let id = self.user_id.get_clone_untracked();
            match client.get_conversation(&id, &conversation).await {
                Ok(found) if self.current.get_clone_untracked().as_deref() == Some(conversation.as_str()) => {
                    self.turns.set(found.into_inner().turns);
                }
                Ok(_) => {}
                Err(err) => self.error.set(Some(ApiError::from(err).to_string())),
            }
        });
    }

    /// Clears the page for a new conversation (made on the first send).
    pub(super) fn start_new(self) {
        self.current.set(None);
        self.turns.set(Vec::new());
        self.context_from.set(0);
        self.offer.set(None);
        self.error.set(None);
        self.answer.set(String::new());
    }

    pub(super) fn delete(self, client: Client, conversation: String) {
        sycamore::futures::spawn_local_scoped(async move {
            let id = self.user_id.get_clone_untracked();
            match client.delete_conversation(&id, &conversation).await {
                Ok(_) => {
                    self.list.update(|list| {
                        if let Some(list) = list {
                            list.retain(|c| c.conversation_id != conversation);
                        }
                    });
                    if self.current.get_clone_untracked().as_deref() == Some(conversation.as_str()) {
                        self.start_new();
                    }
                }
                Err(err) => self.error.set(Some(ApiError::from(err).to_string())),
            }
        });
    }

    /// Sends what is typed, after the quota check.
    pub(super) fn send(self, client: Client) {
        let text = self.prompt.get_clone();
        if self.closed() {
            return;
        }
        if text.trim().is_empty() {
            return self.error.set(Some("Your prompt is required: type a question first.".into()));
        }
        self.sending.set(true);
        self.offer.set(None);
        sycamore::futures::spawn_local_scoped(async move {
            let from = self.context_from.get_untracked();
            let context: u64 =
                self.turns.with_untracked(|t| t.iter().skip(from).map(|t| estimate_tokens(&t.text)).sum());
            let alone = estimate_tokens(&text) + 1;
            match self.check(&client, context + alone).await {
                Ok(None) => self.call(client, text, from).await,
                Ok(Some(left)) if context > 0 && alone <= left => {
                    self.offer.set(Some(FitOffer { prompt: text, needed: context + alone, left }));
                    self.sending.set(false);
                }
                Ok(Some(left)) => {
                    self.error.set(Some(format!(
                        "Your prompt needs about {alone} tokens and {left} are left: shorten it, or ask an administrator \
                         for more."
                    )));
                    self.sending.set(false);
                }
                // The check is advice: without it the service still decides.
                Err(_) => self.call(client, text, from).await,
            }
        });
    }

    /// Sends the offered prompt without the oldest turns that do not fit.
    pub(super) fn drop_oldest(self, client: Client) {
        let Some(offer) = self.offer.get_clone() else { return };
        let from = self.turns.with(|t| first_kept(t, self.context_from.get(), &offer.prompt, offer.left));
        self.context_from.set(from);
        self.offer.set(None);
        self.sending.set(true);
        sycamore::futures::spawn_local_scoped(async move { self.call(client, offer.prompt, from).await });
    }

    /// Sends the offered prompt in a new conversation.
    pub(super) fn send_in_new(self, client: Client) {
        let Some(offer) = self.offer.get_clone() else { return };
        self.start_new();
        self.sending.set(true);
        sycamore::futures::spawn_local_scoped(async move { self.call(client, offer.prompt, 0).await });
    }

    /// `None` when a turn of `tokens` fits every rule; else the tokens left, or (a quota that
    /// resets) the chat is blocked until then.
    async fn check(self, client: &Client, tokens: u64) -> Result<Option<u64>, ApiError> {
        let id = self.user_id.get_clone_untracked();
        let body = QuotaCheckBody {
            estimated_tokens: NonZeroU64::new(tokens).map_or(1, NonZeroU64::get),
            estimated_cost: None,
            model: None,
        };
        let answer = client.check_quota(&id, &body).await?.into_inner();
        if answer.can_proceed {
            return Ok(None);
        }
        let mut left = u64::MAX;
        for reason in &answer.reasons {
            let metric = reason.metric.to_string();
            if metric == "tokens" {
                left = left.min(reason.remaining as u64);
            } else if reason.remaining < 1.0 || metric == "requests" {
                let rule = rule_name(&metric, &reason.period.to_string(), reason.model.as_deref());
                self.block(Blocked { rule, resets_at: reason.resets_at.clone() });
                return Ok(Some(0));
            }
        }
        Ok(Some(if left == u64::MAX { 0 } else { left }))
    }

    /// Calls the model in the open conversation (made first if there is none).
    async fn call(self, client: Client, text: String, from: usize) {
        let id = self.user_id.get_clone_untracked();
        let conversation = match self.current.get_clone_untracked() {
            Some(conversation) => conversation,
            None => match client.create_conversation(&id, &NewConversation { title: None }).await {
                Ok(created) => {
                    let created = created.into_inner();
                    self.current.set(Some(created.conversation_id.clone()));
                    self.list.update(|list| list.get_or_insert_with(Vec::new).insert(0, created.clone()));
                    created.conversation_id
                }
                Err(err) => return self.failed(ApiError::from(err)),
            },
        };
        let request = InvokeRequest {
            prompt: text.clone(),
            system: None,
            max_output_tokens: None,
            model: None,
            history: Some(self.turns.with_untracked(|t| history(t, from))),
            conversation_id: Some(conversation.clone()),
        };
        self.answer.set(String::new());
        match super::chat::stream_answer(&client, &id, &request, self.answer).await {
            Ok(done) => {
                self.error.set(None);
                self.prompt.set(String::new());
                let usage = TurnUsageView {
                    model: done.model.clone(),
                    input_tokens: done.input_tokens,
                    output_tokens: done.output_tokens,
                    input_cost: done.cost.input_cost,
                    output_cost: done.cost.output_cost,
                    total_cost: done.cost.total_cost,
                };
                let asked =
                    ConversationTurn { role: ChatRole::User, text, at: String::new(), truncated: false, usage: None };
                let answered = ConversationTurn {
                    role: ChatRole::Assistant,
                    text: done.response,
                    at: String::new(),
                    truncated: false,
                    usage: Some(usage),
                };
                self.turns.update(|t| t.extend([asked, answered]));
                self.answer.set(String::new());
                // The service kept the exchange: read it back, with its cost, as every device sees it.
                if let Ok(found) = client.get_conversation(&id, &conversation).await {
                    let found = found.into_inner();
                    self.turns.set(found.turns.clone());
                    let summary = ConversationSummary {
                        conversation_id: found.conversation_id,
                        title: found.title,
                        created_at: found.created_at,
                        updated_at: found.updated_at,
                        turn_count: found.turn_count,
                    };
                    self.list.update(|list| {
                        let list = list.get_or_insert_with(Vec::new);
                        list.retain(|c| c.conversation_id != summary.conversation_id);
                        list.insert(0, summary);
                    });
                }
                self.sending.set(false);
            }
            Err(err) => self.failed(err),
        }
    }

    fn failed(self, err: ApiError) {
        if let ApiError::Service { code, quota: Some(quota), .. } = &err
            && code == "quota_exceeded"
        {
            let rule = rule_name(&quota.metric, &quota.period, quota.model.as_deref());
            self.block(Blocked { rule, resets_at: quota.resets_at.clone() });
        } else {
            self.error.set(Some(err.to_string()));
        }
        self.sending.set(false);
    }

    /// Turns the chat off until the quota resets, then on again by itself.
    fn block(self, blocked: Blocked) {
        let resets = blocked.resets_at.clone();
        self.blocked.set(Some(blocked));
        self.error.set(None);
        let Some(at) = resets.as_deref().map(js_sys::Date::parse) else { return };
        sycamore::futures::spawn_local_scoped(async move {
            loop {
                let wait = at - api::now_ms();
                if wait <= 0.0 || !wait.is_finite() {
                    break;
                }
                // Timers are capped at about 24 days; a month's quota sleeps in steps.
                api::sleep(wait.min(3_600_000.0) as i32 + 250).await;
            }
            self.blocked.set(None);
        });
    }
}
