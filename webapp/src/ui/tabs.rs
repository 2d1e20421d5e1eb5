use sycamore::prelude::*;
use wasm_bindgen::JsCast;

/// HeroUI's Tabs: a `tablist` of buttons choosing `selected`. Arrow keys, Home and End move
/// between tabs (the focus follows); only the selected tab is in the Tab order. The page
/// renders the panel with `role="tabpanel"` and `aria-labelledby` = [`tab_id`] of the tab.
#[component(inline_props)]
pub fn Tabs(label: &'static str, id: &'static str, tabs: Vec<&'static str>, selected: Signal<usize>) -> View {
    let count = tabs.len();
    let buttons = tabs
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let is_selected = move || selected.get() == i;
            let on_key = move |e: web_sys::KeyboardEvent| {
                let next = match e.key().as_str() {
                    "ArrowRight" => (i + 1) % count,
                    "ArrowLeft" => (i + count - 1) % count,
                    "Home" => 0,
                    "End" => count - 1,
                    _ => return,
                };
                e.prevent_default();
                selected.set(next);
                let tab = web_sys::window()
                    .and_then(|w| w.document())
                    .and_then(|d| d.get_element_by_id(&tab_id(id, next)))
                    .and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok());
                if let Some(tab) = tab {
                    let _ = tab.focus();
                }
            };
            view! {
                button(
                    id=tab_id(id, i),
                    class="tab",
                    role="tab",
                    r#type="button",
                    aria-selected=move || is_selected().to_string(),
                    aria-controls=format!("{id}-panel"),
                    tabindex=move || if is_selected() { "0" } else { "-1" },
                    on:click=move |_| selected.set(i),
                    on:keydown=on_key,
                ) { (name) }
            }
        })
        .collect::<Vec<View>>();
    view! { div(class="tabs", role="tablist", aria-label=label) { (buttons) } }
}

/// The `id` of tab `index` of the tab list `id`.
pub fn tab_id(id: &str, index: usize) -> String {
    format!("{id}-tab-{index}")
}
