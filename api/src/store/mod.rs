//! Implementations of the domain's store ports ([`AccountStore`](crate::domain::AccountStore),
//! [`KeyStore`](crate::domain::KeyStore), [`TierStore`](crate::domain::TierStore),
//! [`EventStore`](crate::domain::EventStore)): the embedded redb store, and DynamoDB; and the
//! fail-open [`Outbox`](crate::domain::Outbox) in a local file.

mod alert_codec;
mod codec;
mod conversation_records;
mod dynamodb;
mod embedded;
mod outbox;

pub use dynamodb::{DEFAULT_OPERATION_TIMEOUT, DynamoDbStore, sdk_config_loader};
pub use embedded::EmbeddedStore;
pub use outbox::FileOutbox;
