//! Chat with the model: conversations kept by the service (`conversation.rs`), every turn shown
//! with its tokens and cost (`transcript.rs`), the answer streaming in as it is generated, and
//! the input disabled, with the reason, once no tokens are left or a quota blocks.
//! A user chats as themself; an administrator picks the user to act as, and every call is
//! charged to that user.

use futures::StreamExt;
use sycamore::prelude::*;
use tokenmeter_client::{
    Client,
    types::{InvokeRequest, InvokeResponse},
};

use super::{
    LiveStatus,
    conversation::Chat,
    transcript::{BlockedAlert, ConversationList, FitOfferAlert, Transcript},
};
use crate::{
    api::{self, ApiError},
    app::Session,
    format,
    ui::{Alert, Button, Card, CardBody, Chip, Tone},
};

/// A user's chat, as themself.
#[component(inline_props)]
pub fn Chat(id: String) -> View {
    view! { ChatAs(id=id, acting=false) }
}

/// The chat itself, charged to `id`; `acting` when an administrator acts as that user.
#[component(inline_props)]
pub(super) fn ChatAs(id: String, acting: bool) -> View {
    let session = use_context::<Session>();
    let Some(auth) = session.get() else { return view! {} };
    let chat = Chat::new(id.clone());
    api::follow_user(auth.client.clone(), id.clone(), chat.user);
    chat.load(auth.client.clone());
    let client = auth.client.clone();
    let send = {
        let client = client.clone();
        move || chat.send(client.clone())
    };
    let send_click = send.clone();
    let on_key = move |event: web_sys::KeyboardEvent| {
        if event.key() == "Enter" && (event.ctrl_key() || event.meta_key()) {
            event.prevent_default();
            send();
        }
    };
    let limit_note = move || {
        if !chat.exhausted() {
            return view! {};
        }
        let limit = chat.user.value.with(|u| u.as_ref().map(|u| format::tokens(u.token_limit)).unwrap_or_default());
        let (title, message) = if acting {
            (
                "This user has used all of their tokens.",
                format!("Their limit is {limit} tokens. Raise it on the Users page to chat as them again."),
            )
        } else {
            (
                "You have used all of your tokens.",
                format!("Your limit is {limit} tokens. Chat is off until an administrator raises it."),
            )
        };
        view! { Alert(tone=Tone::Danger, title=title, message=message, test_id="chat-limit") }
    };
    let remaining_chip = move || match chat.remaining() {
        Some(n) => format!("{} tokens left", format::tokens(n)),
        None => "…".to_string(),
    };
    let remaining_tone = move || if chat.exhausted() { Tone::Danger } else { Tone::Primary };
    let heading = if acting { format!("Acting as {id}") } else { "Chat with the model".to_owned() };
    let note = if acting {
        format!("Calls are charged to {id}'s tokens and cost, not to yours.")
    } else {
        "Your conversations are kept: a reload or another device finds them. Every answer shows its tokens and cost."
            .to_owned()
    };
    let (list_client, transcript_client, offer_client) = (client.clone(), client.clone(), client);
    view! {
        Card(class=if acting { "acting" } else { "" }) {
            CardBody {
                div(class="row-between") {
                    div {
                        (if acting { view! { h2(data-testid="acting-as") { (heading.clone()) } } } else { view! { h1 { (heading.clone()) } } })
                        p(class="subtitle") { (note) }
                    }
                    div(class="row", data-testid="chat-remaining") {
                        Chip(text=remaining_chip, tone=remaining_tone, dot=true)
                    }
                }
            }
        }
        LiveStatus(live=chat.user, loading="Loading the user's tokens…", failed="The user's tokens could not be refreshed.")
        (limit_note)
        BlockedAlert(chat=chat)
        div(class="chat-layout") {
            ConversationList(chat=chat, client=list_client)
            div(class="chat-main") {
                Transcript(chat=chat, client=transcript_client)
                FitOfferAlert(chat=chat, client=offer_client)
                (move || chat.error.get_clone().map(|message| view! {
                    Alert(tone=Tone::Danger, title="The model could not answer.", message=message, test_id="chat-error")
                }).unwrap_or_default())
                Card {
                    CardBody {
                        div(class="field") {
                            label(r#for="prompt") { "Your prompt" }
                            textarea(
                                id="prompt",
                                class="input textarea",
                                rows="4",
                                placeholder="Ask anything…",
                                aria-describedby="prompt-note",
                                data-testid="prompt",
                                disabled=move || chat.closed(),
                                bind:value=chat.prompt,
                                on:keydown=on_key,
                            )
                        }
                        div(class="chat-actions") {
                            span(id="prompt-note", class="field-help") { "Ctrl (or ⌘) + Enter sends. The quota check runs first." }
                            Button(tone=Tone::Primary, loading=chat.sending, disabled=move || chat.exhausted() || chat.blocked.with(Option::is_some), test_id="send", on_click=send_click) { "Send" }
                        }
                    }
                }
            }
        }
    }
}

/// Sends `request` to the streaming endpoint and appends the answer to `answer` as it
/// arrives; answers the summary, or why not.
pub(super) async fn stream_answer(
    client: &Client,
    id: &str,
    request: &InvokeRequest,
    answer: Signal<String>,
) -> Result<InvokeResponse, ApiError> {
    let response = client.invoke_model_stream(id, request).await?;
    let mut body = response.into_inner().into_inner();
    let (mut buffer, mut pending) = (String::new(), Vec::new());
    while let Some(chunk) = body.next().await {
        let bytes = chunk.map_err(|_| {
            ApiError::Other(
                "The connection to the service was lost mid-answer; the unfinished answer was not charged.".into(),
            )
        })?;
        pending.extend_from_slice(&bytes);
        api::append_utf8(&mut buffer, &mut pending);
        for data in api::take_events(&mut buffer) {
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&data) else { continue };
            match event["type"].as_str() {
                Some("delta") => answer.update(|a| a.push_str(event["text"].as_str().unwrap_or_default())),
                Some("done") => {
                    return serde_json::from_value(event)
                        .map_err(|e| ApiError::Other(format!("The answer's summary was unreadable: {e}.")));
                }
                Some("error") => {
                    return Err(ApiError::Other(event["message"].as_str().unwrap_or("The model failed.").to_owned()));
                }
                _ => {}
            }
        }
    }
    Err(ApiError::Other("The answer ended before it was complete; nothing was charged.".into()))
}
