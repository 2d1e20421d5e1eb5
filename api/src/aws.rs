//! The AWS SDK configuration every AWS client of the service is built from.

use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_http_client::{
    Builder,
    tls::{self, rustls_provider::CryptoMode},
};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// The standard chain (environment, profiles, web identity, containers) with [`http_client`].
/// `AWS_ENDPOINT_URL_<SERVICE>` variables are honoured by the chain.
pub async fn sdk_config() -> SdkConfig {
    sdk_config_loader().load().await
}

/// The loader behind [`sdk_config`], for clients that add settings of their own (the DynamoDB
/// store's timeouts, tests' endpoints and credentials).
pub fn sdk_config_loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client())
}

/// The HTTP client of every AWS call: rustls with the ring provider (no aws-lc C build).
pub fn http_client() -> SharedHttpClient {
    Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).build_https()
}
