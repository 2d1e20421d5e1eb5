//! The rules of token accounting, free of HTTP, storage and model-provider details.
//!
//! Everything a request may change goes through [`Tracker`]; values that reach it are
//! already validated ([`UserId`], [`TokenLimit`], [`TokenCount`]), so the store only ever
//! sees well-formed data. The store is a port the domain owns ([`UserStore`]).

mod error;
mod money;
mod pricing;
mod store;
mod time;
mod tracker;
mod user;
mod values;

pub use error::{Error, StoreError};
pub use money::Money;
pub use pricing::{Cost, ModelPricing, PricingTable, TokenUsage};
pub use store::UserStore;
pub use time::{InvalidTimestamp, Timestamp};
pub use tracker::Tracker;
pub use user::User;
pub use values::{MAX_TOKENS, TokenCount, TokenLimit, UserId, ValidationError};
