use std::borrow::Cow;

use sycamore::prelude::*;

use super::Tone;

/// HeroUI's Card: a raised surface. Compose with [`CardHeader`] and [`CardBody`].
#[component(inline_props)]
pub fn Card(children: Children, #[prop(default)] class: &'static str, #[prop(default)] label: &'static str) -> View {
    let label = (!label.is_empty()).then_some(label);
    let class = format!("card {class}");
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
    #[prop(default)] test_id: &'static str,
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
    title: String,
    #[prop(default)] message: String,
    #[prop(default)] test_id: &'static str,
) -> View {
    let role = match tone {
        Tone::Danger | Tone::Warning => "alert",
        _ => "status",
    };
    let class = format!("alert alert-{}", tone.name());
    let message = if message.is_empty() {
        view! {}
    } else {
        view! { span { (message) } }
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
