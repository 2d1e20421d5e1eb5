use std::borrow::Cow;

use sycamore::prelude::*;

use super::Tone;

/// HeroUI's Chip: a small status label, with a dot when `dot`.
#[component(inline_props)]
pub fn Chip(
    #[prop(setter(into))] text: MaybeDyn<Cow<'static, str>>,
    #[prop(setter(into), default = MaybeDyn::Static(Tone::Default))] tone: MaybeDyn<Tone>,
    #[prop(default)] dot: bool,
) -> View {
    let class = move || format!("chip chip-{}{}", tone.get().name(), if dot { " chip-dot" } else { "" });
    view! { span(class=class) { (move || text.get_clone()) } }
}
