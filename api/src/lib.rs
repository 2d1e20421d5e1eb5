//! tokenmeter's service: token accounting and enforcement for LLM usage.
//!
//! - [`domain`]: the rules (validation, usage, cost), and the store port they own.
//! - [`store`]: the store implementations.
//! - [`model`], [`notify`]: model providers, and where alert notifications go.
//! - [`http`]: the poem + poem-openapi surface.
//! - [`server`]: wiring: configuration to a running service, locally or on AWS Lambda.

pub mod aws;
pub mod config;
pub mod domain;
pub mod http;
pub mod model;
pub mod notify;
#[cfg(feature = "report")]
pub mod report;

pub mod server;
pub mod store;
