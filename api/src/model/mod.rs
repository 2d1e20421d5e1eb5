//! Model providers: implementations of the domain's
//! [`ModelProvider`](crate::domain::ModelProvider).

mod bedrock;
mod echo;

pub use bedrock::{BedrockProvider, BedrockSettings};
pub use echo::EchoProvider;

use crate::domain::PriceList;

/// The Bedrock prices the service ships with (`prices.json`: USD per million tokens, and what
/// each inference-profile prefix adds); `TOKENMETER_PRICES` names a file that replaces them.
pub fn default_prices() -> PriceList {
    PriceList::from_json(include_str!("prices.json")).expect("the shipped price list is valid")
}
