//! The sign-in page: an API key, or (when the service allows guests) a guest's start.

use sycamore::prelude::*;
use sycamore_router::navigate;

use crate::{
    api::{self, ApiError},
    app::{HOME, Session},
    ui::{Alert, Button, Card, CardBody, CardHeader, Input, Size, Tone},
};

/// Sign in with an API key. The key is checked with `GET /me` and kept in `sessionStorage`
/// for this browser session only.
#[component]
pub fn SignIn() -> View {
    let session = use_context::<Session>();
    let restore_error = use_context::<Signal<Option<ApiError>>>();
    let key = create_signal(String::new());
    let busy = create_signal(false);
    let error = create_signal(restore_error.get_clone().map(|e| e.to_string()));
    let submit = move || {
        if busy.get() {
            return;
        }
        busy.set(true);
        error.set(None);
        sycamore::futures::spawn_local_scoped(async move {
            match api::sign_in(&key.get_clone()).await {
                Ok(auth) => {
                    api::store_key(&auth.key);
                    restore_error.set(None);
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
    view! {
        main(class="signin") {
            Card {
                CardHeader {
                    div {
                        div(class="row") {
                            span(class="brand-logo", aria-hidden="true") {
                                svg(width="20", height="20", viewBox="0 0 24 24", fill="none", stroke="#fff", stroke-width="2.5", stroke-linecap="round") {
                                    path(d="M6 20V12M12 20V5M18 20v-6")
                                }
                            }
                            h1 { "Sign in to tokenmeter" }
                        }
                        p(class="subtitle") { "Use the API key an administrator gave you, or the admin key the service printed at its first start." }
                    }
                }
                CardBody {
                    form(class="stack", novalidate=true, on:submit=move |e: web_sys::SubmitEvent| { e.prevent_default(); submit() }) {
                        Input(id="api-key", label="API key", value=key, kind="password", placeholder="tmk_…",
                              autocomplete="current-password", required=true,
                              help="Kept only in this browser tab until you sign out or close it.")
                        (move || match error.get_clone() {
                            Some(message) => view! { Alert(tone=Tone::Danger, title="Could not sign in.", message=message, test_id="signin-error") },
                            None => view! {},
                        })
                        Button(tone=Tone::Primary, size=Size::Large, kind="submit", full=true, loading=busy, test_id="sign-in", on_click=|| ()) { "Sign in" }
                    }
                    super::guest::TryAsGuest {}
                }
            }
        }
    }
}
