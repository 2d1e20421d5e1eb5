//! Bedrock model-invocation logging: one setting per account and region, which CloudFormation
//! has no resource for. `deploy` points it at the stack's log group (CloudWatch Logs, 30 days)
//! and bucket (S3, versioned, 90 days), through the stack's role that only Bedrock may assume;
//! `destroy` turns it off if it still points there.

use std::time::Duration;

use anyhow::Context;
use aws_sdk_bedrock::types::{CloudWatchConfig, LoggingConfig, S3Config};
use tokio::time::Instant;

use crate::{Aws, Say, artifacts::Change};

pub const LOG_GROUP: &str = "/aws/bedrock/modelinvocations";

/// How long a new role may take to become usable by Bedrock (IAM is eventually consistent).
const ROLE_PATIENCE: Duration = Duration::from_secs(90);

/// Full requests and answers, as text (no images, embeddings, video or audio), to CloudWatch
/// Logs, with bodies too large for a log event and a copy of everything in S3.
pub fn desired(role_arn: &str, bucket: &str) -> anyhow::Result<LoggingConfig> {
    let large = S3Config::builder().bucket_name(bucket).key_prefix("bedrock/large-bodies").build()?;
    let cloudwatch = CloudWatchConfig::builder()
        .log_group_name(LOG_GROUP)
        .role_arn(role_arn)
        .large_data_delivery_s3_config(large)
        .build()?;
    Ok(LoggingConfig::builder()
        .cloud_watch_config(cloudwatch)
        .s3_config(S3Config::builder().bucket_name(bucket).key_prefix("bedrock/invocations").build()?)
        .text_data_delivery_enabled(true)
        .image_data_delivery_enabled(false)
        .embedding_data_delivery_enabled(false)
        .video_data_delivery_enabled(false)
        .build())
}

/// The region's current logging configuration, if logging goes anywhere.
pub async fn current(aws: &Aws) -> anyhow::Result<Option<LoggingConfig>> {
    let answer = aws
        .bedrock
        .get_model_invocation_logging_configuration()
        .send()
        .await
        .context("reading Bedrock's model invocation logging configuration")?;
    // A configuration with no destination is logging turned off.
    Ok(answer.logging_config().filter(|c| c.cloud_watch_config().is_some() || c.s3_config().is_some()).cloned())
}

/// Turns logging on as [`desired`] unless it already is.
pub async fn ensure(aws: &Aws, role_arn: &str, bucket: &str, say: Say<'_>) -> anyhow::Result<Change> {
    let desired = desired(role_arn, bucket)?;
    let current = current(aws).await?;
    if current.as_ref().is_some_and(|c| same(c, &desired)) {
        say("bedrock invocation logging: unchanged");
        return Ok(Change::Unchanged);
    }
    if let Some(other) = current.as_ref().and_then(|c| c.cloud_watch_config()).filter(|c| c.role_arn() != role_arn) {
        say(&format!("bedrock invocation logging: was delivered through {}; now through this stage", other.role_arn()));
    }
    let deadline = Instant::now() + ROLE_PATIENCE;
    loop {
        let put = aws.bedrock.put_model_invocation_logging_configuration().logging_config(desired.clone()).send().await;
        match put {
            Ok(_) => break,
            // Bedrock checks that it can assume the role and write; a role made seconds ago
            // may not be visible to it yet.
            Err(err)
                if Instant::now() < deadline && err.as_service_error().is_some_and(|e| e.is_validation_exception()) =>
            {
                tokio::time::sleep(aws.poll.max(Duration::from_millis(100)) * 2).await;
            }
            Err(err) => return Err(err).context("turning on Bedrock model invocation logging"),
        }
    }
    say(&format!("bedrock invocation logging: on (CloudWatch Logs {LOG_GROUP}, s3://{bucket}/bedrock/)"));
    Ok(Change::Made)
}

/// Turns logging off if it is delivered through `role_arn` (this stage's); answers whether it
/// did.
pub async fn remove_if_ours(aws: &Aws, role_arn: &str) -> anyhow::Result<bool> {
    let ours =
        current(aws).await?.and_then(|c| c.cloud_watch_config().cloned()).is_some_and(|c| c.role_arn() == role_arn);
    if ours {
        aws.bedrock
            .delete_model_invocation_logging_configuration()
            .send()
            .await
            .context("turning off Bedrock model invocation logging")?;
    }
    Ok(ours)
}

/// Whether two configurations deliver the same data to the same places (a field the service
/// leaves out reads as off).
fn same(a: &LoggingConfig, b: &LoggingConfig) -> bool {
    let flags = |c: &LoggingConfig| {
        [
            c.text_data_delivery_enabled(),
            c.image_data_delivery_enabled(),
            c.embedding_data_delivery_enabled(),
            c.video_data_delivery_enabled(),
        ]
        .map(|f| f.unwrap_or(false))
    };
    a.cloud_watch_config() == b.cloud_watch_config() && a.s3_config() == b.s3_config() && flags(a) == flags(b)
}
