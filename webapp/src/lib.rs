//! tokenmeter's web app: Sycamore (WASM), talking to the API only through
//! `tokenmeter-client`.
//!
//! - [`ui`]: the component library (HeroUI's anatomy and tokens).
//! - [`api`]: the session, typed errors and live views (SSE with polling fallback, kept figures).
//! - [`pages`]: the views, composed from `ui`.
//! - [`app`]: routes, the signed-in session and the page frame.
//! - [`bundle`]: which of the two builds (the user's; the full one, with the administrator's
//!   pages) a page runs.
//! - [`timer`]: browser timers.

pub mod api;
pub mod app;
pub mod bundle;
pub mod format;
pub mod pages;
pub mod timer;
pub mod ui;

use wasm_bindgen::prelude::wasm_bindgen;

/// Starts the app when the page loads the module.
#[wasm_bindgen(start)]
pub fn start() {
    if let Some(boot) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("boot")) {
        boot.remove();
    }
    sycamore::render(app::App);
}
