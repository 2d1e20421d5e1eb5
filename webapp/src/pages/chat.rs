//! Chat with the model as the signed-in user: the answer streams in as it is generated, each
//! exchange shows its tokens and cost, and the input is disabled, with the reason, once the
//! user has no tokens left.

use futures::StreamExt;
use sycamore::prelude::*;
use tokenmeter_client::types::{ChatRole, ChatTurn, InvokeRequest, InvokeResponse, User};

use crate::{
    api::{self, Link, Load},
    app::Session,
    format,
    ui::{Alert, Button, Card, CardBody, CardHeader, Chip, Table, Tone},
};

/// One finished exchange.
#[derive(Clone, PartialEq)]
struct Exchange {
    prompt: String,
    done: InvokeResponse,
}

#[component(inline_props)]
pub fn Chat(id: String) -> View {
    let session = use_context::<Session>();
    let Some(auth) = session.get() else { return view! {} };
    let user = create_signal(Load::<User>::Loading);
    let link = create_signal(Link::Connecting);
    api::follow_user(auth.client.clone(), id.clone(), user, link);

    let prompt = create_signal(String::new());
    let answer = create_signal(String::new());
    let sending = create_signal(false);
    let error = create_signal(None::<String>);
    let exchanges = create_signal(Vec::<Exchange>::new());

    // Live remaining tokens; `None` until the user has loaded.
    let remaining = move || match user.get_clone() {
        Load::Ready(u) => Some(u.remaining_tokens),
        _ => None,
    };
    let exhausted = move || remaining() == Some(0);

    let client = auth.client.clone();
    let send = move || {
        let text = prompt.get_clone();
        if sending.get() || exhausted() {
            return;
        }
        if text.trim().is_empty() {
            error.set(Some("Type a prompt first.".into()));
            return;
        }
        let history: Vec<ChatTurn> = exchanges
            .get_clone()
            .iter()
            .rev()
            .flat_map(|e| {
                [
                    ChatTurn { role: ChatRole::User, text: e.prompt.clone() },
                    ChatTurn { role: ChatRole::Assistant, text: e.done.response.clone() },
                ]
            })
            .collect();
        let request =
            InvokeRequest { prompt: text.clone(), system: None, max_output_tokens: None, model: None, history };
        let (client, id) = (client.clone(), id.clone());
        sending.set(true);
        error.set(None);
        answer.set(String::new());
        sycamore::futures::spawn_local_scoped(async move {
            match stream_answer(&client, &id, &request, answer).await {
                Ok(done) => {
                    exchanges.update(|list| list.insert(0, Exchange { prompt: text, done }));
                    prompt.set(String::new());
                }
                Err(message) => error.set(Some(message)),
            }
            sending.set(false);
        });
    };
    let send_click = send.clone();
    let on_key = move |event: web_sys::KeyboardEvent| {
        if event.key() == "Enter" && (event.ctrl_key() || event.meta_key()) {
            event.prevent_default();
            send();
        }
    };

    let limit_note = move || {
        if !exhausted() {
            return view! {};
        }
        let limit = match user.get_clone() {
            Load::Ready(u) => format::tokens(u.token_limit),
            _ => String::new(),
        };
        view! {
            Alert(
                tone=Tone::Danger,
                title="You have used all of your tokens.".to_string(),
                message=format!(" Your limit is {limit} tokens. Chat is off until an administrator raises it."),
                test_id="chat-limit",
            )
        }
    };
    let remaining_chip = move || match remaining() {
        Some(n) => format!("{} tokens left", format::tokens(n)),
        None => "…".to_string(),
    };
    let remaining_tone = move || if exhausted() { Tone::Danger } else { Tone::Primary };

    view! {
        Card {
            CardBody {
                div(class="row-between") {
                    div {
                        h1 { "Chat with the model" }
                        p(class="subtitle") { "Answers stream in as they are written; every exchange shows its tokens and cost." }
                    }
                    div(class="row", data-testid="chat-remaining") {
                        Chip(text=remaining_chip, tone=remaining_tone, dot=true)
                    }
                }
            }
        }
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
                        disabled=move || exhausted() || sending.get(),
                        bind:value=prompt,
                        on:keydown=on_key,
                    )
                }
                div(class="chat-actions") {
                    span(id="prompt-note", class="field-help") { "Ctrl (or ⌘) + Enter sends." }
                    Button(
                        tone=Tone::Primary,
                        loading=sending,
                        disabled=exhausted,
                        test_id="send",
                        on_click=send_click,
                    ) { "Send" }
                }
            }
        }
        (move || error.get_clone().map(|message| view! {
            Alert(tone=Tone::Danger, title="The model could not answer.".to_string(), message=format!(" {message}"), test_id="chat-error")
        }).unwrap_or_default())
        (move || if sending.get() || !answer.get_clone().is_empty() { view! {
            Card(class="answer-card") {
                CardHeader { h2 { "Model response" } }
                CardBody {
                    p(class="answer", data-testid="answer", aria-live="polite") {
                        (answer.get_clone())
                        (if sending.get() { view! { span(class="caret", aria-hidden="true") } } else { Default::default() })
                    }
                }
            }
        } } else { Default::default() })
        (move || if !exchanges.get_clone().is_empty() { view! { ExchangeTable(exchanges=exchanges) } } else { Default::default() })
    }
}

/// Sends `request` to the streaming endpoint and appends the answer to `answer` as it
/// arrives; answers the summary, or the reason in words.
async fn stream_answer(
    client: &tokenmeter_client::Client,
    id: &str,
    request: &InvokeRequest,
    answer: Signal<String>,
) -> Result<InvokeResponse, String> {
    let response = client.invoke_model_stream(id, request).await.map_err(|e| api::describe(&e))?;
    let mut body = response.into_inner().into_inner();
    let (mut buffer, mut pending) = (String::new(), Vec::new());
    while let Some(chunk) = body.next().await {
        let bytes = chunk.map_err(|_| {
            "The connection to the service was lost mid-answer; the unfinished answer was not charged.".to_string()
        })?;
        pending.extend_from_slice(&bytes);
        api::append_utf8(&mut buffer, &mut pending);
        for data in api::take_events(&mut buffer) {
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&data) else { continue };
            match event["type"].as_str() {
                Some("delta") => answer.update(|a| a.push_str(event["text"].as_str().unwrap_or_default())),
                Some("done") => {
                    return serde_json::from_value(event)
                        .map_err(|e| format!("The answer's summary was unreadable: {e}."));
                }
                Some("error") => return Err(event["message"].as_str().unwrap_or("The model failed.").to_owned()),
                _ => {}
            }
        }
    }
    Err("The answer ended before it was complete; nothing was charged.".into())
}

/// Every exchange of this conversation, newest first: tokens and cost of each.
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
                view! {
                    tr {
                        td(class="prompt-cell") { (short) }
                        td(class="num") { (format::tokens(done.input_tokens)) }
                        td(class="num") { (format::tokens(done.output_tokens)) }
                        td(class="num", data-testid="exchange-tokens") { (format::tokens(done.tokens_consumed)) }
                        td(class="num") { (format::dollars(done.cost.input_cost)) }
                        td(class="num") { (format::dollars(done.cost.output_cost)) }
                        td(class="num", data-testid="exchange-cost") { (format::dollars(done.cost.total_cost)) }
                        td(class="num") { (format::tokens(done.remaining_tokens)) }
                    }
                }
            })
            .collect::<Vec<_>>()
    };
    view! {
        Card {
            CardHeader {
                h2 { "Tokens and cost of each exchange" }
                span(class="muted") { "Claude Sonnet 4.5: $0.003 / 1K input, $0.015 / 1K output tokens" }
            }
            CardBody(flush=true) {
                Table(label="Exchanges", test_id="exchanges") {
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
