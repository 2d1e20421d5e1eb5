use std::borrow::Cow;

use sycamore::prelude::*;

use super::Tone;

/// HeroUI's Progress: a labelled `progressbar` (value clamped to 0–100 for the bar; the label
/// says the real figure, which may pass 100 %).
#[component(inline_props)]
pub fn Progress(
    label: String,
    #[prop(setter(into))] value: MaybeDyn<f64>,
    #[prop(setter(into), default = MaybeDyn::Static(Tone::Primary))] tone: MaybeDyn<Tone>,
    #[prop(default)] small: bool,
    #[prop(default, setter(into, strip_option))] start: Option<String>,
    #[prop(setter(into), default = MaybeDyn::Static(Cow::Borrowed("")))] end: MaybeDyn<Cow<'static, str>>,
) -> View {
    let shown = value.clone();
    let width = move || format!("width: {:.2}%", value.get().clamp(0.0, 100.0));
    let now = move || format!("{:.0}", shown.get().clamp(0.0, 100.0));
    let class = move || format!("progress progress-{}{}", tone.get().name(), if small { " progress-sm" } else { "" });
    let labels = match start {
        Some(start) => view! { div(class="progress-labels") { span { (start) } span { (move || end.get_clone()) } } },
        None => view! {},
    };
    view! {
        div(class=class) {
            div(class="progress-track", role="progressbar", aria-label=label, aria-valuemin="0", aria-valuemax="100", aria-valuenow=now) {
                div(class="progress-fill", style=width)
            }
            (labels)
        }
    }
}
