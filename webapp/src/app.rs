//! Routes, the signed-in session, and the frame every page sits in.

use sycamore::prelude::*;
use sycamore_router::{HistoryIntegration, Route, Router, navigate};

use crate::{
    api::{self, Auth},
    pages,
    ui::{Button, Loading, NavLink, Navbar, Size, Toaster, Toasts, Variant},
};

/// The app's pages. None collides with an API route, so a reload of any of them reaches the
/// app (the API serves `index.html` for paths it has no route for).
#[derive(Route, Clone, Debug, PartialEq)]
pub enum Page {
    #[to("/")]
    Home,
    #[to("/signin")]
    SignIn,
    #[to("/dashboard")]
    Dashboard,
    #[to("/chat")]
    Chat,
    #[to("/admin/users")]
    Users,
    #[to("/admin/users/<id>")]
    UserDetail { id: String },
    #[to("/snippets/<id>")]
    Snippets { id: String },
    #[not_found]
    NotFound,
}

/// The signed-in session, shared by every page through the context.
#[derive(Clone, Copy)]
pub struct Session {
    pub auth: Signal<Option<Auth>>,
}

impl Session {
    /// The session's auth. Pages are only shown while signed in.
    pub fn get(self) -> Option<Auth> {
        self.auth.get_clone()
    }

    pub fn sign_out(self) {
        api::forget_key();
        self.auth.set(None);
        navigate("/signin");
    }
}

/// Where a session starts: an admin's user list, a user's dashboard.
pub fn home_of(auth: &Auth) -> &'static str {
    if auth.is_admin() { "/admin/users" } else { "/dashboard" }
}

#[component]
pub fn App() -> View {
    let session = Session { auth: create_signal(None) };
    provide_context(session);
    provide_context(Toasts::new());
    // A key kept for this browser session signs in again on reload.
    let restoring = create_signal(api::stored_key().is_some());
    let restore_error = create_signal(None::<String>);
    provide_context(restore_error);
    if let Some(key) = api::stored_key() {
        sycamore::futures::spawn_local_scoped(async move {
            match api::sign_in(&key).await {
                Ok(auth) => session.auth.set(Some(auth)),
                Err(message) => {
                    api::forget_key();
                    restore_error.set(Some(message));
                }
            }
            restoring.set(false);
        });
    }
    view! {
        Router(
            integration=HistoryIntegration::new(),
            view=move |route: ReadSignal<Page>| view! {
                (move || {
                    if restoring.get() {
                        return view! { div(class="page") { Loading(what="Signing you in…") } };
                    }
                    let page = route.get_clone();
                    match (session.auth.get_clone(), page) {
                        (None, Page::SignIn) => view! { pages::SignIn {} },
                        (None, _) => {
                            navigate_later("/signin");
                            view! {}
                        }
                        (Some(auth), Page::Home | Page::SignIn | Page::NotFound) => {
                            navigate_later(home_of(&auth));
                            view! {}
                        }
                        (Some(_), page) => view! { Frame(page=page) },
                    }
                })
                Toaster {}
            },
        )
    }
}

/// Navigates once the current render is done (navigating while rendering would re-enter it).
fn navigate_later(to: &'static str) {
    sycamore::futures::spawn_local(async move { navigate(to) });
}

/// The navbar and the page.
#[component(inline_props)]
fn Frame(page: Page) -> View {
    let session = use_context::<Session>();
    let Some(auth) = session.get() else { return view! {} };
    // The frame is rebuilt on every navigation, so which link is current is fixed here.
    let on_users = matches!(page, Page::Users | Page::UserDetail { .. });
    let on_dashboard = page == Page::Dashboard;
    let on_snippets = matches!(page, Page::Snippets { .. });
    let on_chat = page == Page::Chat;
    let links = if auth.is_admin() {
        view! {
            NavLink(href="/admin/users", label="Users", active=on_users)
        }
    } else {
        let snippets = match &auth.who {
            api::Who::User(id) => format!("/snippets/{id}"),
            api::Who::Admin => String::new(),
        };
        view! {
            NavLink(href="/dashboard", label="Dashboard", active=on_dashboard)
            NavLink(href="/chat", label="Chat", active=on_chat)
            NavLink(href=snippets, label="API snippets", active=on_snippets)
        }
    };
    let dot = if auth.is_admin() { "chip chip-primary chip-dot" } else { "chip chip-success chip-dot" };
    let name = auth.name();
    let end = view! {
        span(class=dot, data-testid="who") { (name) }
        Button(variant=Variant::Light, size=Size::Small, test_id="sign-out", on_click=move || session.sign_out()) { "Sign out" }
    };
    let body = match page {
        Page::Dashboard => match &auth.who {
            api::Who::User(id) => view! { pages::Dashboard(id=id.clone()) },
            api::Who::Admin => view! { pages::Users {} },
        },
        Page::Users | Page::UserDetail { .. } if !auth.is_admin() => view! { pages::NotAllowed {} },
        Page::Chat => match &auth.who {
            api::Who::User(id) => view! { pages::Chat(id=id.clone()) },
            api::Who::Admin => view! { pages::NotAllowed {} },
        },
        Page::Users => view! { pages::Users {} },
        Page::UserDetail { id } => view! { pages::UserDetail(id=id) },
        Page::Snippets { id } => view! { pages::Snippets(id=id) },
        _ => view! {},
    };
    view! {
        Navbar(links=links, end=end)
        main(class="page", id="main") { (body) }
    }
}
