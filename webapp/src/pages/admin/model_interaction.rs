//! The administrator's Model interaction: the chat (`pages/chat.rs`) as one of the users, every
//! call charged to that user.

use sycamore::prelude::*;
use wasm_bindgen::JsCast;

use crate::{
    api::ApiError,
    app::Session,
    pages::chat::ChatAs,
    ui::{Alert, Card, CardBody, Loading, Tone},
};

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
