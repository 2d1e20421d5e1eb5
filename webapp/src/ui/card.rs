use std::borrow::Cow;

use sycamore::prelude::*;

use super::Tone;

/// HeroUI's Card: a raised surface. Compose with [`CardHeader`] and [`CardBody`].
#[component(inline_props)]
pub fn Card(
    children: Children,
    #[prop(default, setter(strip_option))] class: Option<&'static str>,
    #[prop(default, setter(strip_option))] label: Option<&'static str>,
) -> View {
    let class = format!("card {}", class.unwrap_or_default());
    let children = children.call();
    view! {
        section(class=class, aria-label=label) { (children) }
    }
}

#[component(inline_props)]
pub fn CardHeader(children: Children) -> View {
    let children = children.call();
    view! { div(class="card-header") { (children) } }
}

/// The card's content; `flush` removes the padding (for tables).
#[component(inline_props)]
pub fn CardBody(children: Children, #[prop(default)] flush: bool) -> View {
    let children = children.call();
    let class = if flush { "card-body flush" } else { "card-body" };
    view! { div(class=class) { (children) } }
}

/// A figure in a card: label, value, note. `tone` colours the value.
#[component(inline_props)]
pub fn Stat(
    label: &'static str,
    #[prop(setter(into))] value: MaybeDyn<Cow<'static, str>>,
    #[prop(setter(into))] note: MaybeDyn<Cow<'static, str>>,
    #[prop(setter(into), default = MaybeDyn::Static(Tone::Default))] tone: MaybeDyn<Tone>,
    #[prop(default, setter(strip_option))] test_id: Option<&'static str>,
) -> View {
    let class = move || format!("stat-value tone-{}", tone.get().name());
    view! {
        Card {
            CardBody {
                div(class="stat-label") { (label) }
                div(class=class, data-testid=test_id) { (move || value.get_clone()) }
                div(class="stat-note") { (move || note.get_clone()) }
            }
        }
    }
}

/// A message block (HeroUI's Alert): `role="alert"` for dangers and warnings so screen
/// readers announce them.
#[component(inline_props)]
pub fn Alert(
    tone: Tone,
    #[prop(setter(into))] title: String,
    #[prop(default, setter(into, strip_option))] message: Option<String>,
    #[prop(default, setter(strip_option))] test_id: Option<&'static str>,
) -> View {
    let role = match tone {
        Tone::Danger | Tone::Warning => "alert",
        _ => "status",
    };
    let class = format!("alert alert-{}", tone.name());
    let message = match message {
        Some(message) => view! { span { " " (message) } },
        None => view! {},
    };
    view! {
        div(class=class, role=role, data-testid=test_id) {
            div {
                strong { (title) }
                (message)
            }
        }
    }
}
