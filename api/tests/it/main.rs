//! The service's integration tests: one binary, so the app links once.
//!
//! Each test starts the real server on port 0 with its own embedded store and drives it
//! through the generated client (or raw HTTP where the point is a malformed request).

mod auth;
mod browser;
mod concurrency;
mod contract;
mod errors;
mod events;
mod helpers;
mod openapi;
mod restart;
mod web;
