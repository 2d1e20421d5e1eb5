//! The app's views, composed from [`crate::ui`].

mod chat;
mod dashboard;
mod signin;
mod snippets;
mod users;

pub use chat::Chat;
pub use dashboard::{Dashboard, UserDetail};
pub use signin::SignIn;
pub use snippets::Snippets;
pub use users::Users;

use sycamore::prelude::*;

use crate::ui::{Alert, Tone};

/// A user key opened an admin page.
#[component]
pub fn NotAllowed() -> View {
    view! {
        Alert(tone=Tone::Warning, title="This page is for administrators.".to_string(),
              message=" Your key can see your own dashboard.".to_string())
    }
}

/// The small "Live / Polling" indicator of a live view.
#[component(inline_props)]
pub fn LinkChip(link: Signal<crate::api::Link>) -> View {
    use crate::api::Link;
    let text = move || match link.get() {
        Link::Connecting => "Connecting…",
        Link::Live => "Live",
        Link::Polling => "Refreshing every 5 s",
    };
    let class = move || match link.get() {
        Link::Live => "chip chip-success chip-dot",
        Link::Connecting => "chip chip-default chip-dot",
        Link::Polling => "chip chip-warning chip-dot",
    };
    let title = move || match link.get() {
        Link::Live => "Changes appear as they happen",
        Link::Connecting => "Opening the live stream",
        Link::Polling => "The live stream is unavailable; the page refreshes every 5 seconds",
    };
    view! { span(class=class, title=title, data-testid="link", data-link=move || format!("{:?}", link.get())) { (text) } }
}
