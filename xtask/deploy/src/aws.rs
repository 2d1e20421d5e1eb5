//! The AWS clients `deploy` and `destroy` use, from the standard chain (credentials, profile,
//! region) on the workspace's lean HTTPS client: rustls with ring, no aws-lc C build.

use std::time::Duration;

use anyhow::Context;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::{
    Builder,
    tls::{self, rustls_provider::CryptoMode},
};

use crate::{Names, Stage};

/// The clients of one account and region.
#[derive(Clone)]
pub struct Aws {
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub s3: aws_sdk_s3::Client,
    pub bedrock: aws_sdk_bedrock::Client,
    pub sts: aws_sdk_sts::Client,
    pub region: String,
    /// How often a wait (for the stack) asks again: seconds on AWS, less against an emulator.
    pub poll: Duration,
}

impl Aws {
    /// The standard chain, in `region` when given. With `endpoint` (an emulator, e.g. moto)
    /// every client goes there, and S3 uses path-style addresses.
    pub async fn load(region: Option<String>, endpoint: Option<String>) -> anyhow::Result<Self> {
        let https = Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(https);
        if let Some(region) = region {
            loader = loader.region(Region::new(region));
        }
        if let Some(endpoint) = &endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        let sdk = loader.load().await;
        let poll = if endpoint.is_some() { Duration::from_millis(200) } else { Duration::from_secs(5) };
        Self::from_sdk(&sdk, endpoint.is_some(), poll)
    }

    /// Clients from an SDK configuration (tests build theirs); `path_style` for emulators.
    pub fn from_sdk(sdk: &SdkConfig, path_style: bool, poll: Duration) -> anyhow::Result<Self> {
        let region = sdk.region().context("no AWS region: pass --region or set AWS_REGION")?.to_string();
        let s3 = aws_sdk_s3::config::Builder::from(sdk).force_path_style(path_style).build();
        Ok(Self {
            cloudformation: aws_sdk_cloudformation::Client::new(sdk),
            s3: aws_sdk_s3::Client::from_conf(s3),
            bedrock: aws_sdk_bedrock::Client::new(sdk),
            sts: aws_sdk_sts::Client::new(sdk),
            region,
            poll,
        })
    }

    /// The names of `stage` in the account the credentials belong to.
    pub async fn names(&self, stage: &Stage) -> anyhow::Result<Names> {
        let caller = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .context("no usable AWS credentials (the standard chain: environment, profile, SSO, role)")?;
        let account = caller.account().context("STS did not say which account")?.to_owned();
        let partition = caller.arn().and_then(|arn| arn.split(':').nth(1)).unwrap_or("aws").to_owned();
        Ok(Names { stage: stage.clone(), account, region: self.region.clone(), partition })
    }
}

/// The service's error code of a failed call (`NoSuchBucket`, `ValidationError`, …), if it
/// answered with one.
pub fn error_code<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>) -> Option<&str>
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    err.as_service_error().and_then(|e| e.code())
}
