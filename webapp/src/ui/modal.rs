use std::{borrow::Cow, rc::Rc};

use sycamore::prelude::*;
use wasm_bindgen::JsCast;

/// HeroUI's Modal: a labelled `dialog` over a backdrop. Escape, the close button or a click on
/// the backdrop closes it, or, when `on_dismiss` is given, calls that instead (a dialog that
/// asks first). Opening moves the focus into it; closing gives it back.
#[component(inline_props)]
pub fn Modal(
    open: Signal<bool>,
    id: &'static str,
    #[prop(setter(into))] title: MaybeDyn<Cow<'static, str>>,
    children: Children,
    #[prop(default, setter(strip_option))] on_dismiss: Option<Rc<dyn Fn()>>,
) -> View {
    let dismiss = move || match &on_dismiss {
        Some(ask) => ask(),
        None => open.set(false),
    };
    let (dismiss_key, dismiss_backdrop) = (dismiss.clone(), dismiss.clone());
    let dialog = create_node_ref();
    // Where the focus was before opening: it goes back there on closing.
    let opener = create_signal(None::<web_sys::HtmlElement>);
    let document = web_sys::window().and_then(|w| w.document());
    create_effect(move || {
        if !open.get() {
            if let Some(element) = opener.get_clone_untracked() {
                let _ = element.focus();
                opener.set(None);
            }
            return;
        }
        opener.set(
            document.as_ref().and_then(|d| d.active_element()).and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()),
        );
        // After this render, once the dialog is shown.
        sycamore::futures::spawn_local(async move {
            if let Some(node) = dialog.try_get()
                && let Ok(element) = node.dyn_into::<web_sys::HtmlElement>()
            {
                // Focus the first field, else the dialog itself.
                let first = element
                    .query_selector("input, textarea, select")
                    .ok()
                    .flatten()
                    .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
                let _ = first.unwrap_or(element).focus();
            }
        });
    });
    let title_id = format!("{id}-title");
    let labelled_by = title_id.clone();
    let children = children.call();
    view! {
        div(
            class="modal-backdrop",
            hidden=move || !open.get(),
            on:keydown=move |e: web_sys::KeyboardEvent| if e.key() == "Escape" { e.prevent_default(); dismiss_key() },
            on:click=move |e: web_sys::MouseEvent| {
                let on_backdrop = e.target().zip(e.current_target()).is_some_and(|(t, c)| t == c);
                if on_backdrop { dismiss_backdrop() }
            },
        ) {
            div(r#ref=dialog, id=id, class="modal", role="dialog", aria-modal="true", aria-labelledby=labelled_by, tabindex="-1") {
                div(class="modal-header") {
                    h2(id=title_id) { (move || title.get_clone()) }
                    button(class="icon-btn", r#type="button", aria-label="Close", on:click=move |_| dismiss()) { "×" }
                }
                (children)
            }
        }
    }
}
