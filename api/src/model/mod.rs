//! Model providers: implementations of the domain's
//! [`ModelProvider`](crate::domain::ModelProvider).

mod bedrock;
mod echo;

pub use bedrock::{BedrockProvider, BedrockSettings};
pub use echo::EchoProvider;
