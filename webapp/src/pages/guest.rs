//! Trying the service as a guest: the sign-in page's offer (when `GET /health` says guests are
//! on), and on a guest's dashboard the messages left today and how to become a user.

use sycamore::prelude::*;
use sycamore_router::navigate;
use tokenmeter_client::{
    Client,
    types::{MetricName, PeriodName},
};

use super::quotas::Quotas;
use crate::{
    api::{self, ApiError},
    app::{HOME, Session},
    format,
    ui::{Toasts, Tone},
};

/// "Try it without an account", shown only when the service allows guests.
#[component]
pub(super) fn TryAsGuest() -> View {
    let session = use_context::<Session>();
    // `None` until `GET /health` answers.
    let on = create_signal(None::<bool>);
    let (busy, error) = (create_signal(false), create_signal(None::<String>));
    sycamore::futures::spawn_local_scoped(async move {
        if let Ok(health) = Client::new(&api::base_url()).health().await {
            on.set(Some(health.into_inner().guests));
        }
    });
    let start = move || {
        busy.set(true);
        sycamore::futures::spawn_local_scoped(async move {
            let anonymous = Client::new(&api::base_url());
            let signed_in = match anonymous.create_guest().await {
                Ok(guest) => api::sign_in(&guest.into_inner().api_key.api_key).await,
                Err(err) => Err(ApiError::from(err)),
            };
            match signed_in {
                Ok(auth) => {
                    api::store_key(&auth.key);
                    session.auth.set(Some(auth));
                    navigate(HOME);
                }
                Err(err) => {
                    error.set(Some(err.to_string()));
                    busy.set(false);
                }
            }
        });
    };
    let state = move || match on.get() {
        None => "unknown",
        Some(true) => "on",
        Some(false) => "off",
    };
    view! {
        div(data-testid="guests", data-guests=state) { (move || if on.get() == Some(true) {
            view! {
                div(class="guest-offer stack", data-testid="guest-offer") {
                    div(class="divider") { span { "or" } }
                    button(class="btn btn-bordered btn-lg btn-full", r#type="button", data-testid="try-as-guest",
                           disabled=move || busy.get(), on:click=move |_| start()) { "Try it without an account" }
                    p(class="field-help") { "A guest gets a few messages a day; no key needed." }
                    (move || match error.get_clone() {
                        Some(message) => view! { p(class="field-error", role="alert") { (message) } },
                        None => view! {},
                    })
                }
            }
        } else {
            view! {}
        }) }
    }
}

/// On a guest's dashboard: the messages left today and how to keep them as a real user.
#[component(inline_props)]
pub(super) fn GuestNote(quotas: Quotas, key: String) -> View {
    let toasts = use_context::<Toasts>();
    let left = move || {
        quotas.value.with(|q| {
            let daily = q
                .as_ref()?
                .quotas
                .iter()
                .find(|s| s.metric == MetricName::Requests && s.period == PeriodName::Day && s.model.is_none())?;
            Some(daily.remaining as u64)
        })
    };
    let copy = move || {
        let key = key.clone();
        sycamore::futures::spawn_local_scoped(async move {
            if api::copy_text(&key).await {
                toasts.success("Your guest key is on the clipboard.");
            } else {
                toasts.error("The browser did not allow copying here.");
            }
        });
    };
    let class = format!("alert alert-{} guest-note", Tone::Primary.name());
    view! {
        div(class=class, role="status", data-testid="guest-note") {
            div(class="stack") {
                strong(data-testid="guest-left") {
                    (move || match left() {
                        Some(1) => "You are a guest: 1 message left today.".to_owned(),
                        Some(n) => format!("You are a guest: {} messages left today.", format::tokens(n)),
                        None => "You are a guest.".to_owned(),
                    })
                }
                span(data-testid="guest-upgrade") {
                    "To keep going, ask an admin to create your account; your usage moves with you. "
                    "They need your guest key, which only you have."
                }
                div { button(class="btn btn-bordered btn-sm", r#type="button", data-testid="copy-guest-key", on:click=move |_| copy()) { "Copy my guest key" } }
            }
        }
    }
}
