//! The app's views, composed from [`crate::ui`]; the administrator's own are in [`admin`].

#[cfg(feature = "admin")]
pub mod admin;
mod chat;
mod chat_fit;
mod conversation;
mod dashboard;
mod guest;
mod quotas;
mod signin;
mod snippet_text;
mod snippets;
mod transcript;
mod usage;
mod usage_chart;

pub use chat::Chat;
pub use dashboard::Dashboard;
pub use signin::SignIn;
pub use snippets::Snippets;

use sycamore::prelude::*;

use crate::{
    api::{Link, Live},
    format,
    ui::{Alert, Loading, Tone},
};

/// A user key opened an administrator's page.
#[component]
pub fn NotAllowed() -> View {
    view! {
        Alert(tone=Tone::Warning, title="This page is for administrators.",
              message="Your key can see your own dashboard, chat and API snippets.")
    }
}

/// The small "Live / Refreshing every 5 s / Reconnecting…" indicator of a live view.
#[component(inline_props)]
pub fn LinkChip(link: Signal<Link>) -> View {
    let text = move || match link.get() {
        Link::Connecting => "Connecting…",
        Link::Live => "Live",
        Link::Polling => "Refreshing every 5 s",
        Link::Reconnecting => "Reconnecting…",
    };
    let class = move || match link.get() {
        Link::Live => "chip chip-success chip-dot",
        Link::Connecting => "chip chip-default chip-dot",
        Link::Polling | Link::Reconnecting => "chip chip-warning chip-dot",
    };
    let title = move || match link.get() {
        Link::Live => "Changes appear as they happen",
        Link::Connecting => "Opening the live stream",
        Link::Polling => "The live stream is unavailable here; the page refreshes every 5 seconds",
        Link::Reconnecting => "The service cannot be reached; the figures shown are the last known ones",
    };
    view! { span(class=class, title=title, data-testid="link", data-link=move || format!("{:?}", link.get())) { (text) } }
}

/// What a live view says above its figures: loading (unless the page shows placeholders
/// instead: `loading` is `None`), the service's refusal, or, while the service cannot be
/// reached, that the figures shown are the last known ones and how old.
#[component(inline_props)]
pub fn LiveStatus<T: Clone + 'static>(
    live: Live<T>,
    #[prop(default, setter(strip_option))] loading: Option<&'static str>,
    failed: &'static str,
) -> View {
    view! {
        (move || {
            let shown = live.value.with(Option::is_some);
            match (live.error.get_clone(), live.link.get()) {
                (Some(err), _) => view! { Alert(tone=Tone::Danger, title=failed, message=err.to_string(), test_id="load-error") },
                (None, Link::Reconnecting) if shown => {
                    let age = format::age(live.age_secs());
                    view! {
                        div(class="alert alert-warning stale", role="status", data-testid="stale") {
                            span(class="spinner spinner-sm", aria-hidden="true")
                            div {
                                strong { "Reconnecting…" }
                                span { " These figures are from " (age) " ago; they update again as soon as the service answers." }
                            }
                        }
                    }
                }
                (None, _) if !shown => match loading {
                    Some(what) => view! { Loading(what=what) },
                    None => view! {},
                },
                _ => view! {},
            }
        })
    }
}
