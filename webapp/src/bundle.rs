//! Which of the app's two builds a page runs. The user's build (a cold load, the sign-in page, a
//! user's dashboard, chat and snippets) leaves the administrator's pages out; the full build
//! (the crate's `admin` feature) has them. `index.html` loads the full build while this
//! browser session is marked as an administrator's; the mark is set here when an
//! administrator signs in to the user's build (the page then reloads into the full one) and
//! cleared when a user signs in or anyone signs out.

use crate::api;

/// The session-storage entry `index.html` reads (`"admin"` or absent).
const BUILD_KEY: &str = "tokenmeter.build";

/// Whether this is the full build, with the administrator's pages.
pub const FULL: bool = cfg!(feature = "admin");

/// What the page does for the signed-in role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fit {
    /// This build has the role's pages.
    Ready,
    /// The page is reloading into the full build.
    Switching,
    /// An administrator on the user's build though the session is marked for the full one:
    /// the full build is missing (`index.html` fell back to the user's).
    Missing,
}

/// Marks the session for the role that signed in and answers whether this build can show
/// its pages, reloading into the full build when it cannot.
pub fn fit(admin: bool) -> Fit {
    let marked = api::storage().and_then(|s| s.get_item(BUILD_KEY).ok()).flatten().is_some();
    match (admin, FULL) {
        (false, _) => {
            unmark();
            Fit::Ready
        }
        (true, true) => {
            if !marked {
                mark();
            }
            Fit::Ready
        }
        (true, false) if marked => Fit::Missing,
        (true, false) => {
            mark();
            if let Some(window) = web_sys::window() {
                let _ = window.location().reload();
            }
            Fit::Switching
        }
    }
}

fn mark() {
    if let Some(s) = api::storage() {
        let _ = s.set_item(BUILD_KEY, "admin");
    }
}

/// The next load of the page runs the user's build.
pub fn unmark() {
    if let Some(s) = api::storage() {
        let _ = s.remove_item(BUILD_KEY);
    }
}
