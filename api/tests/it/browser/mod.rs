//! The web app in a real headless Chromium, driven over WebDriver (chromedriver +
//! fantoccini): what an administrator and a user do, end to end, against a real service.
//!
//! Needs the built app (`webapp/dist`), `chromium` + `chromedriver`, and axe-core (npm, in
//! `target/npm`); `cargo xtask test` provides all three. Every view is checked with axe-core
//! at 1280, 768 and 390 px; with `TOKENMETER_SCREENSHOTS=<dir>` set, each is also saved there
//! as a PNG at those widths (`cargo xtask screenshots`).

mod admin;
mod analytics;
mod chat;
mod delivery;
mod driver;
mod quotas;
mod resilience;
mod user;
