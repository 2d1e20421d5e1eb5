use sycamore::prelude::*;

/// HeroUI's Spinner. Decorative: the text next to it says what is loading.
#[component(inline_props)]
pub fn Spinner(#[prop(default)] small: bool) -> View {
    view! { span(class=if small { "spinner spinner-sm" } else { "spinner" }, aria-hidden="true") }
}

/// A spinner with a sentence, announced politely.
#[component(inline_props)]
pub fn Loading(what: &'static str) -> View {
    view! { div(class="loading", role="status", aria-live="polite") { Spinner {} span { (what) } } }
}
