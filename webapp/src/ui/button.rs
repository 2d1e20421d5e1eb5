use sycamore::prelude::*;

use super::{Spinner, Tone};

/// HeroUI's button variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Variant {
    #[default]
    Solid,
    Flat,
    Bordered,
    Light,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Size {
    Small,
    #[default]
    Medium,
    Large,
}

/// A button. While `loading` it shows a spinner and cannot be pressed again; `kind` is the
/// HTML `type` (`button` unless it submits a form).
///
/// Generic only in its handler, which it boxes: the view is built once, in `button`, not once
/// per handler type (25 copies were 23 KB of wasm).
#[component(inline_props)]
pub fn Button<F: Fn() + 'static>(
    children: Children,
    #[prop(default)] tone: Tone,
    #[prop(default)] variant: Variant,
    #[prop(default)] size: Size,
    #[prop(setter(into), default = MaybeDyn::Static(false))] loading: MaybeDyn<bool>,
    #[prop(setter(into), default = MaybeDyn::Static(false))] disabled: MaybeDyn<bool>,
    #[prop(default = "button")] kind: &'static str,
    #[prop(default)] full: bool,
    #[prop(default, setter(strip_option))] label: Option<&'static str>,
    #[prop(default, setter(into, strip_option))] test_id: Option<String>,
    on_click: F,
) -> View {
    let class = class(tone, variant, size, full);
    button(Parts { children, class, loading, disabled, kind, label, test_id }, Box::new(on_click))
}

/// What [`Button`] renders, apart from its handler.
struct Parts {
    children: Children,
    class: String,
    loading: MaybeDyn<bool>,
    disabled: MaybeDyn<bool>,
    kind: &'static str,
    label: Option<&'static str>,
    test_id: Option<String>,
}

fn class(tone: Tone, variant: Variant, size: Size, full: bool) -> String {
    let tone = match (variant, tone) {
        (Variant::Solid, Tone::Default) => "",
        (Variant::Solid, t) => match t {
            Tone::Danger => "btn-danger",
            _ => "btn-primary",
        },
        (Variant::Flat, Tone::Danger) => "btn-flat-danger",
        (Variant::Flat, _) => "btn-flat-primary",
        (Variant::Bordered, _) => "btn-bordered",
        (Variant::Light, _) => "btn-light",
    };
    let size = match size {
        Size::Small => "btn-sm",
        Size::Medium => "",
        Size::Large => "btn-lg",
    };
    let full = if full { "btn-full" } else { "" };
    format!("btn {tone} {size} {full}")
}

#[inline(never)]
fn button(parts: Parts, on_click: Box<dyn Fn()>) -> View {
    let Parts { children, class, loading, disabled, kind, label, test_id } = parts;
    let busy = loading.clone();
    let busy_for_attr = loading.clone();
    let children = children.call();
    view! {
        button(
            class=class,
            r#type=kind,
            aria-label=label,
            data-testid=test_id,
            aria-busy=move || busy_for_attr.get().to_string(),
            disabled=move || loading.get() || disabled.get(),
            on:click=move |_| on_click(),
        ) {
            (move || if busy.get() { view! { Spinner(small=true) } } else { view! {} })
            (children)
        }
    }
}
