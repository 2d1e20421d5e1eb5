//! Routes, the signed-in session, and the frame every page sits in.

use sycamore::prelude::*;
use sycamore_router::{HistoryIntegration, Route, Router, navigate};

use crate::{
    api::{self, ApiError, Auth},
    bundle::{self, Fit},
    pages,
    ui::{Alert, Button, Loading, NavLink, Navbar, Size, Toaster, Toasts, Tone, Variant},
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
    #[to("/admin/tiers")]
    Tiers,
    #[to("/admin/analytics")]
    Analytics,
    #[to("/snippets/<id>")]
    Snippets { id: String },
    #[not_found]
    NotFound,
}

impl Page {
    /// The page's title (the browser tab, the history, what a screen reader announces).
    fn title(&self, admin: bool) -> String {
        let name = match self {
            Page::Home | Page::NotFound => return "tokenmeter".into(),
            Page::SignIn => "Sign in".into(),
            Page::Dashboard => "Dashboard".into(),
            Page::Chat if admin => "Model interaction".into(),
            Page::Chat => "Chat".into(),
            Page::Users => "Users".into(),
            Page::UserDetail { id } => format!("{id} · Users"),
            Page::Tiers => "Tiers".into(),
            Page::Analytics => "Analytics".into(),
            Page::Snippets { id } => format!("API snippets for {id}"),
        };
        format!("{name} · tokenmeter")
    }
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
        bundle::unmark();
        self.auth.set(None);
        navigate("/signin");
    }
}

/// Where every session starts.
pub const HOME: &str = "/dashboard";

fn set_title(title: &str) {
    if let Some(document) = web_sys::window().and_then(|w| w.document()) {
        document.set_title(title);
    }
}

#[component]
pub fn App() -> View {
    let session = Session { auth: create_signal(None) };
    provide_context(session);
    provide_context(Toasts::new());
    // A key kept for this browser session signs in again on reload.
    let restoring = create_signal(api::stored_key().is_some());
    let restore_error = create_signal(None::<ApiError>);
    provide_context(restore_error);
    if let Some(key) = api::stored_key() {
        sycamore::futures::spawn_local_scoped(async move {
            match api::sign_in(&key).await {
                Ok(auth) => session.auth.set(Some(auth)),
                Err(err) => {
                    api::forget_key();
                    restore_error.set(Some(err));
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
                        return view! { main(class="page") { Loading(what="Signing you in…") } };
                    }
                    let page = route.get_clone();
                    match (session.auth.get_clone(), page) {
                        (None, Page::SignIn) => {
                            set_title(&Page::SignIn.title(false));
                            view! { pages::SignIn {} }
                        }
                        (None, _) => {
                            navigate_later("/signin");
                            view! {}
                        }
                        (Some(_), Page::Home | Page::SignIn | Page::NotFound) => {
                            navigate_later(HOME);
                            view! {}
                        }
                        (Some(auth), page) => match bundle::fit(auth.is_admin()) {
                            Fit::Ready => {
                                set_title(&page.title(auth.is_admin()));
                                view! { Frame(page=page) }
                            }
                            Fit::Switching => view! { main(class="page") { Loading(what="Opening the administrator's pages…") } },
                            Fit::Missing => view! {
                                main(class="page") {
                                    Alert(tone=Tone::Danger, title="The administrator's pages are not in this build.",
                                          message="Run cargo xtask build-web, then reload.")
                                }
                            },
                        },
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

/// The navbar and the page. Administrators get Dashboard, Users and Model interaction; a
/// user gets Dashboard, Chat and API snippets. Neither is shown the other's pages.
#[component(inline_props)]
fn Frame(page: Page) -> View {
    let session = use_context::<Session>();
    let Some(auth) = session.get() else { return view! {} };
    // The frame is rebuilt on every navigation, so which link is current is fixed here.
    let on_users = matches!(page, Page::Users | Page::UserDetail { .. });
    let on_dashboard = page == Page::Dashboard;
    let on_snippets = matches!(page, Page::Snippets { .. });
    let on_chat = page == Page::Chat;
    let on_tiers = page == Page::Tiers;
    let on_analytics = page == Page::Analytics;
    let links = match auth.user_id() {
        None => view! {
            NavLink(href="/dashboard", label="Dashboard", active=on_dashboard)
            NavLink(href="/admin/users", label="Users", active=on_users)
            NavLink(href="/admin/analytics", label="Analytics", active=on_analytics)
            NavLink(href="/admin/tiers", label="Tiers", active=on_tiers)
            NavLink(href="/chat", label="Model interaction", active=on_chat)
        },
        Some(id) => {
            let snippets = format!("/snippets/{id}");
            view! {
                NavLink(href="/dashboard", label="Dashboard", active=on_dashboard)
                NavLink(href="/chat", label="Chat", active=on_chat)
                NavLink(href=snippets, label="API snippets", active=on_snippets)
            }
        }
    };
    let dot = if auth.is_admin() { "chip chip-primary chip-dot" } else { "chip chip-success chip-dot" };
    let name = auth.name();
    let end = view! {
        span(class=dot, data-testid="who") { (name) }
        Button(variant=Variant::Light, size=Size::Small, test_id="sign-out", on_click=move || session.sign_out()) { "Sign out" }
    };
    let body = match auth.user_id().map(str::to_owned) {
        None => admin_page(page),
        Some(id) => match page {
            Page::Dashboard => view! { pages::Dashboard(id=id) },
            Page::Chat => view! { pages::Chat(id=id) },
            Page::Users | Page::UserDetail { .. } | Page::Tiers | Page::Analytics => view! { pages::NotAllowed {} },
            // A user's snippets are their own, whichever ID the address names.
            Page::Snippets { .. } => view! { pages::Snippets(id=id) },
            Page::Home | Page::SignIn | Page::NotFound => view! {},
        },
    };
    view! {
        a(class="skip-link", href="#main") { "Skip to the content" }
        Navbar(links=links, end=end)
        main(class="page", id="main", tabindex="-1") { (body) }
    }
}

/// An administrator's view of `page`. Only the full build has the administrator's pages;
/// [`bundle::fit`] never lets an administrator's session render on the user's build.
#[cfg(feature = "admin")]
fn admin_page(page: Page) -> View {
    use pages::admin;
    match page {
        Page::Dashboard => view! { admin::Overview {} },
        Page::Chat => view! { admin::ModelInteraction {} },
        Page::Users => view! { admin::Users {} },
        Page::UserDetail { id } => view! { admin::UserDetail(id=id) },
        Page::Tiers => view! { admin::Tiers {} },
        Page::Analytics => view! { admin::Analytics {} },
        Page::Snippets { id } => view! { pages::Snippets(id=id) },
        Page::Home | Page::SignIn | Page::NotFound => view! {},
    }
}

#[cfg(not(feature = "admin"))]
fn admin_page(_: Page) -> View {
    view! {}
}
