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

/// Whether AWS credentials can be found without touching the network: environment variables,
/// a profile file, web identity, a container role, or the Lambda runtime. (The EC2 instance
/// metadata service is never probed at start-up; on EC2 set `TOKENMETER_MODEL_PROVIDER=bedrock`.)
pub fn credentials_configured() -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let profile_file = |env: &str, default: &str| {
        std::env::var_os(env)
            .map(std::path::PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(default)))
            .is_some_and(|p| p.is_file())
    };
    (set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY"))
        || set("AWS_PROFILE")
        || set("AWS_WEB_IDENTITY_TOKEN_FILE")
        || set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        || set("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        || set("AWS_LAMBDA_FUNCTION_NAME")
        || profile_file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials")
        || profile_file("AWS_CONFIG_FILE", ".aws/config")
}
