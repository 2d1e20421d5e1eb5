//! The service's integration tests: one binary, so the app links once.
//!
//! Each HTTP test starts the real server on port 0 with its own store and drives it through
//! the generated client (or raw HTTP where the point is a malformed request). The store is
//! the embedded one, or DynamoDB Local with `TOKENMETER_TEST_STORE=dynamodb` (a fresh table
//! per test). `store_conformance` runs one suite against every store; `dynamodb` covers what
//! only DynamoDB has (table creation, Scan pages, outages).

// Test output: notes on what a test did or skipped are printed for the person running it.
#![allow(clippy::print_stderr)]

mod auth;
mod binary;
mod browser;
mod concurrency;
mod contract;
mod conversations;
mod dynamodb;
mod dynamodb_local;
mod errors;
mod events;
mod fake_bedrock;
mod faults;
mod helpers;
mod holds;
mod idempotency;
mod invoke;
mod lambda;
mod lambda_runtime;
mod lambda_streaming;
mod leases;
mod monitoring;
mod openapi;
mod proxy;
mod quotas;
mod raw_http;
mod restart;
mod shutdown;
mod slow_clients;
mod sse;
mod store_conformance;
mod suites;
mod web;
