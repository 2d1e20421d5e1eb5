//! What a chat shows: the user's conversations (with "New conversation"), every turn of the one
//! open with each answer's tokens and cost (input + output = total, at one precision), the
//! answer arriving, and the chat's states: the earlier turns do not fit (start a new
//! conversation, or drop the oldest turns), or a quota blocks until it resets.

use sycamore::prelude::*;
use tokenmeter_client::{
    Client,
    types::{ChatRole, ConversationTurn},
};

use super::conversation::Chat;
use crate::{
    format,
    ui::{Alert, Button, Card, CardBody, CardHeader, Size, Tone, Variant},
};

/// The conversations, most recently used first; the open one is marked.
#[component(inline_props)]
pub(super) fn ConversationList(chat: Chat, client: Client) -> View {
    let items = {
        let client = client.clone();
        move || {
            let current = chat.current.get_clone();
            chat.list
                .get_clone()
                .unwrap_or_default()
                .into_iter()
                .map(|c| {
                    let open = current.as_deref() == Some(c.conversation_id.as_str());
                    let title = c.title.clone().unwrap_or_else(|| "New conversation".into());
                    let turns = format!("{} turns · {}", c.turn_count, format::timestamp(&c.updated_at));
                    let (client, id) = (client.clone(), c.conversation_id.clone());
                    view! {
                        li {
                            button(
                                r#type="button",
                                class=if open { "conversation-item open" } else { "conversation-item" },
                                aria-current=if open { "true" } else { "false" },
                                data-testid="conversation",
                                on:click=move |_| chat.open(client.clone(), id.clone()),
                            ) {
                                span(class="conversation-title") { (title) }
                                span(class="conversation-meta") { (turns) }
                            }
                        }
                    }
                })
                .collect::<Vec<_>>()
        }
    };
    view! {
        nav(class="conversations", aria-label="Conversations") {
            Button(tone=Tone::Primary, variant=Variant::Flat, full=true, test_id="new-conversation", on_click=move || chat.start_new()) {
                "New conversation"
            }
            (move || if chat.list.with(|l| l.as_ref().is_some_and(Vec::is_empty)) {
                view! { p(class="muted conversation-empty") { "No conversations yet: your first prompt starts one." } }
            } else { view! {} })
            ul(class="conversation-list") { (items) }
        }
    }
}

/// The cost line of an answer: tokens, and input + output = total.
fn cost_line(turn: &ConversationTurn) -> View {
    let Some(usage) = turn.usage.clone() else { return view! {} };
    let [input, output, total] = format::money_parts(usage.input_cost, usage.output_cost, usage.total_cost);
    let tokens = format::tokens(usage.input_tokens + usage.output_tokens);
    let split = format!("{} in + {} out", format::tokens(usage.input_tokens), format::tokens(usage.output_tokens));
    view! {
        p(class="turn-meta") {
            span(data-testid="exchange-tokens") { (tokens) } " tokens (" (split) ") · "
            span(data-testid="exchange-input-cost") { (input) } " + "
            span(data-testid="exchange-output-cost") { (output) } " = "
            span(data-testid="exchange-cost") { (total) }
        }
    }
}

/// Every turn of the open conversation, oldest first; turns no longer sent to the model are
/// dimmed under a note.
#[component(inline_props)]
pub(super) fn Transcript(chat: Chat, client: Client) -> View {
    let turns = move || {
        let from = chat.context_from.get();
        chat.turns
            .get_clone()
            .into_iter()
            .enumerate()
            .map(|(i, turn)| {
                let (class, who) = match turn.role {
                    ChatRole::User => ("turn turn-user", "You"),
                    ChatRole::Assistant => ("turn turn-assistant", "Model"),
                };
                let class = if i < from { format!("{class} dropped") } else { class.to_owned() };
                let divider = if from > 0 && i == from {
                    view! {
                        li(class="context-divider", data-testid="context-divider") {
                            "Earlier turns are kept here but no longer sent to the model."
                        }
                    }
                } else {
                    view! {}
                };
                let truncated = if turn.truncated {
                    view! { p(class="turn-meta") { "Kept cut at 64,000 characters." } }
                } else {
                    view! {}
                };
                let meta = cost_line(&turn);
                view! {
                    (divider)
                    li(class=class, data-testid=if turn.role == ChatRole::User { "turn-user" } else { "turn-assistant" }) {
                        span(class="turn-who") { (who) }
                        p(class="turn-text") { (turn.text.clone()) }
                        (truncated)
                        (meta)
                    }
                }
            })
            .collect::<Vec<_>>()
    };
    let delete = move || {
        let Some(id) = chat.current.get_clone() else { return view! {} };
        let client = client.clone();
        view! {
            Button(variant=Variant::Light, size=Size::Small, test_id="delete-conversation", on_click=move || {
                let sure = web_sys::window()
                    .and_then(|w| w.confirm_with_message("Delete this conversation and all its turns?").ok())
                    .unwrap_or(false);
                if sure {
                    chat.delete(client.clone(), id.clone());
                }
            }) { "Delete" }
        }
    };
    let title = move || {
        let current = chat.current.get_clone();
        chat.list
            .with(|l| {
                l.iter().flatten().find(|c| Some(&c.conversation_id) == current.as_ref()).and_then(|c| c.title.clone())
            })
            .unwrap_or_else(|| "New conversation".into())
    };
    view! {
        Card(class="transcript-card") {
            CardHeader {
                h2(data-testid="conversation-title") { (title) }
                (delete)
            }
            CardBody {
                (move || if chat.turns.with(Vec::is_empty) && !chat.sending.get() {
                    view! { p(class="muted") { "Ask anything: the conversation is kept, so a reload or another device finds it." } }
                } else { view! {} })
                ol(class="turns", data-testid="turns") {
                    (turns)
                    (move || if chat.sending.get() || !chat.answer.with(String::is_empty) { view! {
                        li(class="turn turn-assistant arriving") {
                            span(class="turn-who") { "Model" }
                            p(class="turn-text answer", data-testid="answer", aria-live="polite") {
                                (chat.answer.get_clone())
                                (if chat.sending.get() { view! { span(class="caret", aria-hidden="true") } } else { view! {} })
                            }
                        }
                    } } else { view! {} })
                }
            }
        }
    }
}

/// The earlier turns do not fit what is left: two ways on, each of which can pass.
#[component(inline_props)]
pub(super) fn FitOfferAlert(chat: Chat, client: Client) -> View {
    view! {
        (move || chat.offer.get_clone().map(|offer| {
            let (new_client, drop_client) = (client.clone(), client.clone());
            let message = format!(
                "This turn needs about {} tokens with the earlier turns, and about {} are left. Your prompt fits on its own.",
                format::tokens(offer.needed), format::tokens(offer.left)
            );
            view! {
                div(class="alert alert-warning", role="alert", data-testid="fit-offer") {
                    div(class="alert-content") {
                        strong { "The conversation is too long for the tokens you have left." }
                        span { (message) }
                        div(class="row offer-actions") {
                            Button(tone=Tone::Primary, size=Size::Small, test_id="offer-new", on_click=move || chat.send_in_new(new_client.clone())) {
                                "Start a new conversation"
                            }
                            Button(tone=Tone::Warning, variant=Variant::Flat, size=Size::Small, test_id="offer-drop", on_click=move || chat.drop_oldest(drop_client.clone())) {
                                "Drop the oldest turns"
                            }
                        }
                    }
                }
            }
        }).unwrap_or_default())
    }
}

/// A quota blocks the chat: which, and when it resets (the chat turns itself back on then).
#[component(inline_props)]
pub(super) fn BlockedAlert(chat: Chat) -> View {
    let now = create_signal(crate::api::now_ms());
    sycamore::futures::spawn_local_scoped(async move {
        loop {
            crate::api::sleep(30_000).await;
            now.set(crate::api::now_ms());
        }
    });
    view! {
        (move || chat.blocked.get_clone().map(|blocked| {
            let when = match blocked.resets_at.as_deref() {
                Some(at) => {
                    let wait = ((js_sys::Date::parse(at) - now.get()) / 1000.0).max(0.0) as u64;
                    format!("It resets in {} ({}); chat turns itself back on then.", format::resets_in(wait), format::timestamp(at))
                }
                None => "It does not reset: ask an administrator to raise it.".into(),
            };
            let title = format!("Your {} is used up.", blocked.rule);
            view! { Alert(tone=Tone::Warning, title=title, message=when, test_id="quota-blocked") }
        }).unwrap_or_default())
    }
}
