//! Implementations of the domain's [`UserStore`](crate::domain::UserStore).

mod embedded;

pub use embedded::EmbeddedStore;
