//! Implementations of the domain's [`UserStore`](crate::domain::UserStore).

mod dynamodb;
mod embedded;

pub use dynamodb::{DEFAULT_OPERATION_TIMEOUT, DynamoDbStore, sdk_config_loader};
pub use embedded::EmbeddedStore;
