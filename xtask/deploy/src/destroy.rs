//! `destroy`: everything `deploy` made for a stage, and only that.

use crate::{Aws, Names, Say, Stage, artifacts, logging, stack};

/// What a destroy removed, a line each.
#[derive(Debug, Clone)]
pub struct Destroyed {
    pub names: Names,
    pub removed: Vec<String>,
}

/// Removes the stage: Bedrock invocation logging (if it still goes through this stage), the
/// stack's buckets' contents (every version), the stack, and the artifacts bucket.
pub async fn destroy(aws: &Aws, stage: &Stage, say: Say<'_>) -> anyhow::Result<Destroyed> {
    let names = aws.names(stage).await?;
    say(&format!("destroying tokenmeter stage {} in account {}, region {}", names.stage, names.account, names.region));
    let mut removed = Vec::new();
    let mut record = |line: String| {
        say(&line);
        removed.push(line);
    };
    if let Some(running) = stack::describe(aws, &names.stack()).await? {
        let outputs = stack::outputs(&running);
        if let Some(role) = outputs.get("InvocationLoggingRoleArn")
            && logging::remove_if_ours(aws, role).await?
        {
            record("bedrock invocation logging: turned off".to_owned());
        }
        // CloudFormation deletes only empty buckets.
        for bucket in [names.web_bucket(), names.invocation_logs_bucket()] {
            let emptied = artifacts::empty_bucket(aws, &bucket).await?;
            if emptied > 0 {
                record(format!("s3://{bucket}: emptied ({emptied} objects and versions)"));
            }
        }
        let resources = stack::delete(aws, &names.stack(), say).await?;
        // An emulator lists the resources it could not make without a type: not worth a line.
        let (named, unnamed): (Vec<_>, Vec<_>) =
            resources.iter().partition(|r| r.resource_type().is_some_and(|t| !t.is_empty()));
        let unnamed = match unnamed.len() {
            0 => String::new(),
            n => format!(" (and {n} the endpoint did not describe)"),
        };
        record(format!("stack {}: deleted, with its {} resources{unnamed}:", names.stack(), named.len()));
        for resource in named {
            let physical = resource.physical_resource_id().filter(|id| !id.is_empty()).unwrap_or("-");
            record(format!(
                "  {} {} {physical}",
                resource.resource_type().unwrap_or("?"),
                resource.logical_resource_id().unwrap_or("?")
            ));
        }
    }
    let bucket = names.artifacts_bucket();
    if let Some(objects) = artifacts::remove_bucket(aws, &bucket).await? {
        record(format!("artifacts bucket {bucket}: deleted ({objects} objects)"));
    }
    if removed.is_empty() {
        say(&format!("nothing to remove: stage {} has no stack and no artifacts bucket here", names.stage));
    }
    Ok(Destroyed { names, removed })
}
