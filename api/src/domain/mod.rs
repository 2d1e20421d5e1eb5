//! The rules of token accounting, free of HTTP, storage and model-provider details.
//!
//! Everything a request may change goes through [`Tracker`]; values that reach it are
//! already validated ([`UserId`], [`TokenLimit`], [`TokenCount`]), so the store only ever
//! sees well-formed data. Every operation takes the caller's [`Principal`] and checks it
//! first. The stores are ports the domain owns ([`UserStore`], [`KeyStore`]).

mod access;
mod error;
mod keys;
pub mod live;
mod money;
mod pricing;
mod store;
mod time;
mod tracker;
mod user;
mod values;

pub use access::Principal;
pub use error::{Error, StoreError};
pub use keys::{ApiKey, IssuedKey, KeyId, Keys, Role, StartupAdminKey};
pub use money::Money;
pub use pricing::{Cost, ModelPricing, PricingTable, TokenUsage};
pub use store::{KeyStore, UserStore};
pub use time::Timestamp;
pub use tracker::Tracker;
pub use user::User;
pub use values::{MAX_TOKENS, TokenCount, TokenLimit, UserId, ValidationError};
