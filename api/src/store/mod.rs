//! Implementations of the domain's [`UserStore`](crate::domain::UserStore).

mod dynamodb;
mod embedded;

pub use dynamodb::{DynamoDbStore, sdk_config_loader};
pub use embedded::EmbeddedStore;
