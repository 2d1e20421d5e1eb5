//! The artifacts bucket: what the stack is made from, each object named by its content's
//! SHA-256, so an unchanged package or document is found, not uploaded again, and the stack
//! sees the same parameters (nothing to update).

use anyhow::Context;
use aws_sdk_s3::{
    primitives::ByteStream,
    types::{BucketLocationConstraint, CreateBucketConfiguration, PublicAccessBlockConfiguration},
};
use sha2::{Digest, Sha256};

use crate::{Aws, Say, aws::error_code};

/// Whether a step changed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Made,
    Unchanged,
}

/// Creates `bucket` (private, in the clients' region) unless it exists.
pub async fn ensure_bucket(aws: &Aws, bucket: &str, say: Say<'_>) -> anyhow::Result<Change> {
    match aws.s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => {
            say(&format!("artifacts bucket {bucket}: present"));
            return Ok(Change::Unchanged);
        }
        Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => {}
        Err(err) => return Err(err).with_context(|| format!("cannot reach the bucket {bucket}")),
    }
    let mut create = aws.s3.create_bucket().bucket(bucket);
    // us-east-1 is the one region that takes no location constraint.
    if aws.region != "us-east-1" {
        let location = BucketLocationConstraint::from(aws.region.as_str());
        create = create
            .create_bucket_configuration(CreateBucketConfiguration::builder().location_constraint(location).build());
    }
    create.send().await.with_context(|| format!("creating the bucket {bucket}"))?;
    let private = PublicAccessBlockConfiguration::builder()
        .block_public_acls(true)
        .ignore_public_acls(true)
        .block_public_policy(true)
        .restrict_public_buckets(true)
        .build();
    aws.s3
        .put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(private)
        .send()
        .await
        .with_context(|| format!("making the bucket {bucket} private"))?;
    say(&format!("artifacts bucket {bucket}: created"));
    Ok(Change::Made)
}

/// Uploads `bytes` as `{prefix}{sha256}.{extension}` unless an object of that name exists.
/// Answers the key.
pub async fn upload_by_content(
    aws: &Aws,
    bucket: &str,
    (prefix, extension, what): (&str, &str, &str),
    bytes: Vec<u8>,
    say: Say<'_>,
) -> anyhow::Result<(String, Change)> {
    let digest = Sha256::digest(&bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let key = format!("{prefix}{hex}.{extension}");
    match aws.s3.head_object().bucket(bucket).key(&key).send().await {
        Ok(_) => {
            say(&format!("{what} {key}: unchanged"));
            return Ok((key, Change::Unchanged));
        }
        Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => {}
        Err(err) => return Err(err).with_context(|| format!("looking for s3://{bucket}/{key}")),
    }
    let size = bytes.len();
    aws.s3
        .put_object()
        .bucket(bucket)
        .key(&key)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .with_context(|| format!("uploading s3://{bucket}/{key}"))?;
    say(&format!("{what} {key}: uploaded ({})", human_size(size)));
    Ok((key, Change::Made))
}

pub fn human_size(bytes: usize) -> String {
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} kB", bytes as f64 / 1e3),
        _ => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}

/// Deletes every object, every version and every delete marker in `bucket`; answers how many
/// it deleted. A bucket that does not exist is empty.
pub async fn empty_bucket(aws: &Aws, bucket: &str) -> anyhow::Result<usize> {
    let mut deleted = 0;
    loop {
        let listed = match aws.s3.list_object_versions().bucket(bucket).send().await {
            Ok(listed) => listed,
            Err(err) if error_code(&err) == Some("NoSuchBucket") => return Ok(deleted),
            Err(err) => return Err(err).with_context(|| format!("listing s3://{bucket}")),
        };
        let versions = listed.versions().iter().map(|v| (v.key(), v.version_id()));
        let markers = listed.delete_markers().iter().map(|m| (m.key(), m.version_id()));
        let mut batch = Vec::new();
        for (key, version) in versions.chain(markers) {
            let key = key.context("a listed object has a key")?;
            // Unversioned buckets list each object once, with the version "null".
            let version = version.filter(|v| *v != "null");
            batch.push(
                aws_sdk_s3::types::ObjectIdentifier::builder()
                    .key(key)
                    .set_version_id(version.map(str::to_owned))
                    .build()?,
            );
        }
        if batch.is_empty() {
            return Ok(deleted);
        }
        deleted += batch.len();
        let delete = aws_sdk_s3::types::Delete::builder().set_objects(Some(batch)).quiet(true).build()?;
        let answer = aws
            .s3
            .delete_objects()
            .bucket(bucket)
            .delete(delete)
            .send()
            .await
            .with_context(|| format!("emptying s3://{bucket}"))?;
        if let Some(failed) = answer.errors().first() {
            anyhow::bail!(
                "could not delete s3://{bucket}/{}: {}",
                failed.key().unwrap_or("?"),
                failed.message().unwrap_or("?")
            );
        }
    }
}

/// Empties and deletes `bucket`; answers how many objects it held, or `None` when there was no
/// such bucket.
pub async fn remove_bucket(aws: &Aws, bucket: &str) -> anyhow::Result<Option<usize>> {
    let emptied = empty_bucket(aws, bucket).await?;
    match aws.s3.delete_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(Some(emptied)),
        Err(err) if error_code(&err) == Some("NoSuchBucket") => Ok(None),
        Err(err) => Err(err).with_context(|| format!("deleting the bucket {bucket}")),
    }
}
