use sycamore::prelude::*;

/// HeroUI's Table: a labelled, horizontally scrollable table with HeroUI's header row. With
/// `cards`, each row becomes a card on narrow screens (every cell then shows its column's
/// name from its `data-label`).
#[component(inline_props)]
pub fn Table(
    label: &'static str,
    children: Children,
    #[prop(default, setter(strip_option))] test_id: Option<&'static str>,
    #[prop(default)] cards: bool,
) -> View {
    let children = children.call();
    let class = if cards { "table table-cards" } else { "table" };
    view! {
        div(class="table-wrap table-pad") {
            table(class=class, aria-label=label, data-testid=test_id) { (children) }
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
        th(scope="col", aria-sort=aria, style=style) {
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
