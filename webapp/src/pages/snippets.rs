//! A user's API snippets: the calls the viewer may make, in curl, Rust, JavaScript and
//! Python, with this service's real base URL (the page's origin). The key stays a
//! placeholder (`TOKENMETER_KEY`), never the signed-in key.

use sycamore::prelude::*;

use super::snippet_text::{Lang, Op, snippet};
use crate::{
    api,
    app::Session,
    ui::{Alert, Button, Card, CardBody, CardHeader, Size, Tabs, Toasts, Tone, Variant, tab_id},
};

#[component(inline_props)]
pub fn Snippets(id: String) -> View {
    let session = use_context::<Session>();
    let toasts = use_context::<Toasts>();
    let Some(auth) = session.get() else { return view! {} };
    let admin = auth.is_admin();
    let base = api::base_url();
    let lang = create_signal(0usize);
    let (panel_base, panel_id) = (base.clone(), id.clone());
    let panel = move || {
        let language = Lang::ALL[lang.get()];
        let setup = language.setup(&panel_base);
        let blocks = Op::for_viewer(admin)
            .into_iter()
            .enumerate()
            .map(|(i, op)| {
                let code = snippet(op, language, &panel_base, &panel_id);
                let copy = code.clone();
                let heading = format!("snippet-{i}");
                let labelled_by = heading.clone();
                let on_copy = move || {
                    let text = copy.clone();
                    sycamore::futures::spawn_local_scoped(async move {
                        if api::copy_text(&text).await {
                            toasts.success("Copied to the clipboard.");
                        } else {
                            toasts.error("The browser did not allow copying here; select the text instead.");
                        }
                    });
                };
                view! {
                    div(class="snippet", data-op=format!("{op:?}")) {
                        div(class="snippet-head") {
                            h3(id=heading) { (op.title()) }
                            Button(variant=Variant::Bordered, size=Size::Small, on_click=on_copy) { "Copy" }
                        }
                        pre(class="code", aria-labelledby=labelled_by, tabindex="0", data-testid="snippet") { (code) }
                    }
                }
            })
            .collect::<Vec<View>>();
        view! {
            div(class="snippet") {
                h3 { "Set up" }
                pre(class="code", tabindex="0", aria-label="Set up", data-testid="snippet-setup") { (setup) }
            }
            (blocks)
        }
    };
    let back = if admin { format!("/admin/users/{id}") } else { "/dashboard".into() };
    let who = if admin {
        format!("Calls about {id}; with an admin key, every call below is allowed.")
    } else {
        "Your own calls: your key may invoke the model as you, read your usage and record it.".to_owned()
    };
    view! {
        div { a(class="back-link", href=back) { "← Back" } }
        Card {
            CardHeader {
                div {
                    h1 { "API snippets for " (id.clone()) }
                    p(class="subtitle") { (who) " Base URL: " code(data-testid="base-url") { (base.clone()) } }
                }
            }
            CardBody {
                div(class="stack") {
                    Alert(tone=Tone::Primary, title="Keys are never shown here.",
                          message="Set TOKENMETER_KEY to your key first; it is sent as Authorization: Bearer <key> (or X-API-Key: <key>).")
                    h2 { "Language" }
                    Tabs(label="Language", id="lang", tabs=Lang::ALL.iter().map(|l| l.name()).collect(), selected=lang)
                    div(id="lang-panel", role="tabpanel", class="stack", aria-labelledby=move || tab_id("lang", lang.get()), data-lang=move || Lang::ALL[lang.get()].name()) {
                        (panel)
                    }
                }
            }
        }
    }
}
