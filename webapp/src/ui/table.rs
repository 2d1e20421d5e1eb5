use sycamore::prelude::*;

/// HeroUI's Table: a labelled, horizontally scrollable table with HeroUI's header row.
#[component(inline_props)]
pub fn Table(label: &'static str, children: Children, #[prop(default)] test_id: &'static str) -> View {
    let children = children.call();
    view! {
        div(class="table-wrap table-pad") {
            table(class="table", aria-label=label, data-testid=test_id) { (children) }
        }
    }
}

/// A column header that sorts the table by `key`: pressing it sorts descending first, then
/// flips the direction. Announces the order with `aria-sort`.
#[component(inline_props)]
pub fn SortHeader<K: PartialEq + Copy + 'static>(
    label: &'static str,
    key: K,
    sort: Signal<(K, bool)>,
    #[prop(default)] numeric: bool,
    #[prop(default)] class: &'static str,
) -> View {
    let active = move || sort.with(|(k, _)| *k == key);
    let aria = move || match sort.get() {
        (k, true) if k == key => "descending",
        (k, false) if k == key => "ascending",
        _ => "none",
    };
    let arrow = move || match sort.get() {
        (k, true) if k == key => "↓",
        (k, false) if k == key => "↑",
        _ => "↕",
    };
    let style = if numeric { "text-align: right" } else { "" };
    view! {
        th(scope="col", aria-sort=aria, style=style, class=class) {
            button(
                class="sort-btn",
                r#type="button",
                data-active=move || active().to_string(),
                data-sort=label,
                on:click=move |_| sort.update(|(k, desc)| if *k == key { *desc = !*desc } else { *k = key; *desc = true }),
            ) {
                (label) span(aria-hidden="true") { (arrow) }
            }
        }
    }
}
