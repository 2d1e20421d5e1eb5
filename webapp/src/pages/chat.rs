//! Chat with the model: the answer streams in as it is generated, each exchange shows its
//! tokens and cost, and the input is disabled, with the reason, once no tokens are left.
//! A user chats as themself; an administrator picks the user to act as, and every call is
//! charged to that user.

use futures::StreamExt;
use sycamore::prelude::*;
use tokenmeter_client::{
    Client,
    types::{ChatRole, ChatTurn, InvokeRequest, InvokeResponse, User},
};
use wasm_bindgen::JsCast;

use super::LiveStatus;
use crate::{
    api::{self, ApiError, Live},
    app::Session,
    format,
    ui::{Alert, Button, Card, CardBody, CardHeader, Chip, Loading, Table, Tone},
};

/// One finished exchange.
#[derive(Clone, PartialEq)]
struct Exchange {
    prompt: String,
    done: InvokeResponse,
}

/// A conversation's state: what is typed, the answer arriving, the finished exchanges.
#[derive(Clone, Copy)]
struct Conversation {
    user: Live<User>,
    prompt: Signal<String>,
    answer: Signal<String>,
    sending: Signal<bool>,
    error: Signal<Option<String>>,
    /// Newest first.
    exchanges: Signal<Vec<Exchange>>,
}

impl Conversation {
    fn new() -> Self {
        Self {
            user: Live::new(),
            prompt: create_signal(String::new()),
            answer: create_signal(String::new()),
            sending: create_signal(false),
            error: create_signal(None),
            exchanges: create_signal(Vec::new()),
        }
    }

    fn remaining(self) -> Option<u64> {
        self.user.value.with(|u| u.as_ref().map(|u| u.remaining_tokens))
    }

    fn exhausted(self) -> bool {
        self.remaining() == Some(0)
    }

    /// The earlier turns, oldest first.
    fn history(self) -> Vec<ChatTurn> {
        self.exchanges.with(|list| {
            list.iter()
                .rev()
                .flat_map(|e| {
                    [
                        ChatTurn { role: ChatRole::User, text: e.prompt.clone() },
                        ChatTurn { role: ChatRole::Assistant, text: e.done.response.clone() },
                    ]
                })
                .collect()
        })
    }

    fn send(self, client: Client, id: String) {
        let text = self.prompt.get_clone();
        if self.sending.get() || self.exhausted() {
            return;
        }
        if text.trim().is_empty() {
            return self.error.set(Some("Your prompt is required: type a question first.".into()));
        }
        let request = InvokeRequest {
            prompt: text.clone(),
            system: None,
            max_output_tokens: None,
            model: None,
            history: Some(self.history()),
        };
        self.sending.set(true);
        self.answer.set(String::new());
        sycamore::futures::spawn_local_scoped(async move {
            match stream_answer(&client, &id, &request, self.answer).await {
                Ok(done) => {
                    self.error.set(None);
                    self.exchanges.update(|list| list.insert(0, Exchange { prompt: text, done }));
                    self.prompt.set(String::new());
                }
                Err(err) => self.error.set(Some(err.to_string())),
            }
            self.sending.set(false);
        });
    }
}

/// A user's chat, as themself.
#[component(inline_props)]
pub fn Chat(id: String) -> View {
    view! { ChatAs(id=id, acting=false) }
}

/// The administrator's Model interaction: pick a user, then chat as them.
#[component]
pub fn ModelInteraction() -> View {
    let session = use_context::<Session>();
    let Some(auth) = session.get() else { return view! {} };
    let users = create_signal(None::<Result<Vec<String>, ApiError>>);
    let picked = create_signal(String::new());
    let client = auth.client.clone();
    sycamore::futures::spawn_local_scoped(async move {
        let listed = client.list_users().await.map_err(ApiError::from);
        let ids: Result<Vec<String>, ApiError> =
            listed.map(|list| list.into_inner().users.into_iter().map(|u| u.user_id).collect());
        if let Ok(Some(first)) = ids.as_ref().map(|ids| ids.first()) {
            picked.set(first.clone());
        }
        users.set(Some(ids));
    });
    let picker = move || match users.get_clone() {
        None => view! { Loading(what="Loading users…") },
        Some(Err(err)) => {
            view! { Alert(tone=Tone::Danger, title="Users could not be loaded.", message=err.to_string(), test_id="load-error") }
        }
        Some(Ok(ids)) if ids.is_empty() => view! {
            Alert(tone=Tone::Primary, title="No users yet.", message="Create a user on the Users page, then chat as them here.")
        },
        Some(Ok(ids)) => {
            let options = ids
                .into_iter()
                .map(|id| {
                    let selected = id == picked.get_clone_untracked();
                    let value = id.clone();
                    view! { option(value=value, selected=selected) { (id) } }
                })
                .collect::<Vec<View>>();
            view! {
                div(class="field picker") {
                    label(r#for="act-as") { "Act as" }
                    select(id="act-as", class="input", data-testid="act-as", on:change=move |e: web_sys::Event| {
                        if let Some(select) = e.target().and_then(|t| t.dyn_into::<web_sys::HtmlSelectElement>().ok()) {
                            picked.set(select.value());
                        }
                    }) { (options) }
                }
            }
        }
    };
    view! {
        Card {
            CardBody {
                div(class="row-between") {
                    div {
                        h1 { "Model interaction" }
                        p(class="subtitle") { "Call the model as one of your users: every call is charged to that user's tokens." }
                    }
                    (picker)
                }
            }
        }
        (move || {
            let id = picked.get_clone();
            if id.is_empty() { view! {} } else { view! { ChatAs(id=id, acting=true) } }
        })
    }
}

/// The chat itself, charged to `id`; `acting` when an administrator acts as that user.
#[component(inline_props)]
fn ChatAs(id: String, acting: bool) -> View {
    let session = use_context::<Session>();
    let Some(auth) = session.get() else { return view! {} };
    let chat = Conversation::new();
    api::follow_user(auth.client.clone(), id.clone(), chat.user);
    let (client, user_id) = (auth.client.clone(), id.clone());
    let send = move || chat.send(client.clone(), user_id.clone());
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
        "Answers stream in as they are written; every exchange shows its tokens and cost.".to_owned()
    };
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
        Card {
            CardBody {
                div(class="field") {
                    label(r#for="prompt") { "Your prompt" }
                    textarea(
                        id="prompt",
                        class="input textarea",
                        rows="5",
                        placeholder="Ask anything…",
                        aria-describedby="prompt-note",
                        data-testid="prompt",
                        disabled=move || chat.exhausted() || chat.sending.get(),
                        bind:value=chat.prompt,
                        on:keydown=on_key,
                    )
                }
                div(class="chat-actions") {
                    span(id="prompt-note", class="field-help") { "Ctrl (or ⌘) + Enter sends." }
                    Button(tone=Tone::Primary, loading=chat.sending, disabled=move || chat.exhausted(), test_id="send", on_click=send_click) { "Send" }
                }
            }
        }
        (move || chat.error.get_clone().map(|message| view! {
            Alert(tone=Tone::Danger, title="The model could not answer.", message=message, test_id="chat-error")
        }).unwrap_or_default())
        (move || if chat.sending.get() || !chat.answer.with(String::is_empty) { view! {
            Card(class="answer-card") {
                CardHeader { h2 { "Model response" } }
                CardBody {
                    p(class="answer", data-testid="answer", aria-live="polite") {
                        (chat.answer.get_clone())
                        (if chat.sending.get() { view! { span(class="caret", aria-hidden="true") } } else { view! {} })
                    }
                }
            }
        } } else { view! {} })
        (move || if chat.exchanges.with(|e| !e.is_empty()) { view! { ExchangeTable(exchanges=chat.exchanges) } } else { view! {} })
    }
}

/// Sends `request` to the streaming endpoint and appends the answer to `answer` as it
/// arrives; answers the summary, or why not.
async fn stream_answer(
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

/// Every exchange of this conversation, newest first: tokens and cost of each (input + output
/// = total, at the precision shown). A card per exchange on narrow screens.
#[component(inline_props)]
fn ExchangeTable(exchanges: Signal<Vec<Exchange>>) -> View {
    let rows = move || {
        exchanges
            .get_clone()
            .into_iter()
            .map(|Exchange { prompt, done }| {
                let short = if prompt.chars().count() > 60 {
                    format!("{}…", prompt.chars().take(60).collect::<String>())
                } else {
                    prompt
                };
                let [input_cost, output_cost, total] =
                    format::money_parts(done.cost.input_cost, done.cost.output_cost, done.cost.total_cost);
                view! {
                    tr {
                        td(class="prompt-cell cell-title", data-label="Prompt") { (short) }
                        td(class="num", data-label="In") { (format::tokens(done.input_tokens)) }
                        td(class="num", data-label="Out") { (format::tokens(done.output_tokens)) }
                        td(class="num", data-label="Tokens", data-testid="exchange-tokens") { (format::tokens(done.tokens_consumed)) }
                        td(class="num", data-label="Input cost", data-testid="exchange-input-cost") { (input_cost) }
                        td(class="num", data-label="Output cost", data-testid="exchange-output-cost") { (output_cost) }
                        td(class="num", data-label="Cost", data-testid="exchange-cost") { (total) }
                        td(class="num", data-label="Left") { (format::tokens(done.remaining_tokens)) }
                    }
                }
            })
            .collect::<Vec<_>>()
    };
    view! {
        Card {
            CardHeader {
                h2 { "Tokens and cost of each exchange" }
                span(class="muted") { "Claude Sonnet 4.5: $3 / million input, $15 / million output tokens" }
            }
            CardBody(flush=true) {
                Table(label="Exchanges", test_id="exchanges", cards=true) {
                    thead {
                        tr {
                            th(scope="col") { "Prompt" }
                            th(scope="col", class="num") { "In" }
                            th(scope="col", class="num") { "Out" }
                            th(scope="col", class="num") { "Tokens" }
                            th(scope="col", class="num") { "Input cost" }
                            th(scope="col", class="num") { "Output cost" }
                            th(scope="col", class="num") { "Cost" }
                            th(scope="col", class="num") { "Left" }
                        }
                    }
                    tbody { (rows) }
                }
            }
        }
    }
}
