use sycamore::prelude::*;

/// HeroUI's Input: a labelled text field bound to `value`, with help or error text wired to it
/// through `aria-describedby`.
#[component(inline_props)]
pub fn Input(
    #[prop(setter(into))] id: String,
    label: &'static str,
    value: Signal<String>,
    #[prop(default = "text")] kind: &'static str,
    #[prop(default, setter(strip_option))] placeholder: Option<&'static str>,
    #[prop(default, setter(strip_option))] help: Option<&'static str>,
    #[prop(default, setter(strip_option))] mode: Option<&'static str>,
    #[prop(default, setter(strip_option))] autocomplete: Option<&'static str>,
    #[prop(default)] required: bool,
    #[prop(setter(into), default = MaybeDyn::Static(None))] error: MaybeDyn<Option<String>>,
) -> View {
    let described = format!("{id}-note");
    let described_by = described.clone();
    let label_for = id.clone();
    let invalid_error = error.clone();
    let invalid = move || invalid_error.get_clone().is_some().to_string();
    view! {
        div(class="field") {
            label(r#for=label_for) { (label) }
            input(
                id=id,
                class="input",
                r#type=kind,
                placeholder=placeholder,
                inputmode=mode,
                autocomplete=autocomplete,
                required=required,
                aria-invalid=invalid,
                aria-describedby=described_by,
                bind:value=value,
            )
            div(id=described) {
                (move || match error.get_clone() {
                    Some(message) => view! { div(class="field-error") { (message) } },
                    None => match help {
                        Some(help) => view! { div(class="field-help") { (help) } },
                        None => view! {},
                    },
                })
            }
        }
    }
}
