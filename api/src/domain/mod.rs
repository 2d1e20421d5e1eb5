//! The rules of token accounting, free of HTTP, storage and model-provider details.
//!
//! Everything a request may change goes through [`Tracker`]; values that reach it are
//! already validated ([`UserId`], [`TokenLimit`], [`TokenCount`]), so the store only ever
//! sees well-formed data. Every operation takes the caller's [`Principal`] and checks it
//! first. The stores are ports the domain owns ([`UserStore`], [`KeyStore`]).

mod access;
mod error;
mod holds;
mod invoke;
mod keys;
pub mod live;
mod model;
mod money;
mod pricing;
mod store;
mod time;
mod tracker;
mod user;
mod values;

pub use access::Principal;
pub use error::{Error, StoreError};
pub use holds::{Hold, HoldId, Plan, Shortfall, plan};
pub use invoke::{Invocation, Invocations, InvokeSettings, Prompt, StreamItem};
pub use keys::{ApiKey, IssuedKey, KeyId, Keys, Role, StartupAdminKey};
pub use model::{ModelError, ModelEvent, ModelProvider, ModelReply, ModelRequest, ModelStream, Speaker, Turn};
pub use money::Money;
pub use pricing::{Cost, ModelPricing, PricingTable, TokenUsage};
pub use store::{KeyStore, UserStore};
pub use time::{InvalidTimestamp, Timestamp};
pub use tracker::Tracker;
pub use user::User;
pub use values::{MAX_TOKENS, TokenCount, TokenLimit, UserId, ValidationError};

/// Every domain service the service exposes, built once at start-up.
#[derive(Clone)]
pub struct Services {
    pub tracker: Tracker,
    pub invocations: Invocations,
}

impl Services {
    /// The services on one store, sharing its announcements of changes (live views see a
    /// model call's charge as soon as a limit change).
    pub fn new(
        users: std::sync::Arc<dyn UserStore>,
        keys: Keys,
        provider: std::sync::Arc<dyn ModelProvider>,
        settings: InvokeSettings,
    ) -> Self {
        let tracker = Tracker::new(users.clone(), keys);
        let invocations = Invocations::new(users, provider, settings, tracker.changes().clone());
        Self { tracker, invocations }
    }
}
