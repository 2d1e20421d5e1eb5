//! The stack: created, updated only when its template or parameters differ from what it runs,
//! waited for (its events reported as they happen), read, and deleted.

use std::{
    collections::{BTreeMap, HashSet},
    time::Duration,
};

use anyhow::{Context, bail};
use aws_sdk_cloudformation::types::{Capability, Parameter, Stack, StackResourceSummary, Tag};
use tokio::time::Instant;

use crate::{Aws, Say, artifacts::Change};

/// The longest a stack operation may take before `deploy` or `destroy` gives up waiting (a
/// CloudFront distribution alone takes several minutes).
const PATIENCE: Duration = Duration::from_secs(45 * 60);

/// The stack named `name`, if there is one (a deleted stack is none).
pub async fn describe(aws: &Aws, name: &str) -> anyhow::Result<Option<Stack>> {
    match aws.cloudformation.describe_stacks().stack_name(name).send().await {
        Ok(answer) => Ok(answer.stacks().first().cloned().filter(|s| status(s) != "DELETE_COMPLETE")),
        Err(err)
            if err
                .as_service_error()
                .and_then(|e| e.meta().message())
                .is_some_and(|m| m.contains("does not exist")) =>
        {
            Ok(None)
        }
        Err(err) => Err(err).with_context(|| format!("describing the stack {name}")),
    }
}

pub fn status(stack: &Stack) -> &str {
    stack.stack_status().map(|s| s.as_str()).unwrap_or("UNKNOWN")
}

/// A stack's outputs, by key.
pub fn outputs(stack: &Stack) -> BTreeMap<String, String> {
    stack.outputs().iter().filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned()))).collect()
}

/// Creates the stack `name` from `template` with `parameters`, or updates it when either
/// differs from what it was made with; waits until it is done. Answers the stack.
pub async fn create_or_update(
    aws: &Aws,
    name: &str,
    template: &str,
    parameters: &BTreeMap<&str, String>,
    say: Say<'_>,
) -> anyhow::Result<(Stack, Change)> {
    let parameters_sent: Vec<Parameter> = parameters
        .iter()
        .map(|(key, value)| Parameter::builder().parameter_key(*key).parameter_value(value).build())
        .collect();
    let tag = Tag::builder().key("tokenmeter:stack").value(name).build();
    let existing = describe(aws, name).await?;
    if let Some(stack) = &existing
        && status(stack) == "ROLLBACK_COMPLETE"
    {
        // A first creation failed and rolled back: such a stack can only be deleted.
        say(&format!("stack {name}: ROLLBACK_COMPLETE after a failed creation; deleting it to start again"));
        delete(aws, name, say).await?;
    }
    let existing = describe(aws, name).await?;
    let seen = event_ids(aws, name).await?;
    match existing {
        None => {
            say(&format!("stack {name}: creating"));
            aws.cloudformation
                .create_stack()
                .stack_name(name)
                .template_body(template)
                .set_parameters(Some(parameters_sent))
                .capabilities(Capability::CapabilityNamedIam)
                .tags(tag)
                .send()
                .await
                .with_context(|| format!("creating the stack {name}"))?;
        }
        Some(stack) => {
            if status(&stack).ends_with("_IN_PROGRESS") {
                bail!("the stack {name} is busy ({}); wait for it to finish, then run this again", status(&stack));
            }
            if same_as_running(aws, &stack, template, parameters).await? {
                say(&format!("stack {name}: unchanged (same template and parameters, {})", status(&stack)));
                return Ok((stack, Change::Unchanged));
            }
            say(&format!("stack {name}: updating"));
            let update = aws
                .cloudformation
                .update_stack()
                .stack_name(name)
                .template_body(template)
                .set_parameters(Some(parameters_sent))
                .capabilities(Capability::CapabilityNamedIam)
                .tags(tag)
                .send()
                .await;
            if let Err(err) = update {
                let message = err.as_service_error().and_then(|e| e.meta().message()).unwrap_or_default().to_owned();
                if message.contains("No updates are to be performed") {
                    say(&format!("stack {name}: unchanged (CloudFormation found nothing to update)"));
                    return Ok((stack, Change::Unchanged));
                }
                return Err(err).with_context(|| format!("updating the stack {name}"));
            }
        }
    }
    let stack = wait(aws, name, seen, say).await?;
    match stack {
        Some(stack) if matches!(status(&stack), "CREATE_COMPLETE" | "UPDATE_COMPLETE") => Ok((stack, Change::Made)),
        Some(stack) => bail!(
            "the stack {name} ended {}: {}",
            status(&stack),
            stack.stack_status_reason().unwrap_or("see its events")
        ),
        None => bail!("the stack {name} disappeared while being made"),
    }
}

/// Whether the running stack was made from exactly `template` and these parameter values.
async fn same_as_running(
    aws: &Aws,
    stack: &Stack,
    template: &str,
    parameters: &BTreeMap<&str, String>,
) -> anyhow::Result<bool> {
    let running = stack.parameters().iter().filter_map(|p| Some((p.parameter_key()?, p.parameter_value()?)));
    let running: BTreeMap<&str, &str> = running.collect();
    if parameters.iter().any(|(key, value)| running.get(key) != Some(&value.as_str())) {
        return Ok(false);
    }
    let name = stack.stack_name().unwrap_or_default();
    let body = aws.cloudformation.get_template().stack_name(name).send().await?;
    Ok(body.template_body() == Some(template))
}

/// Deletes the stack `name` and waits until it is gone. Answers the resources it held.
pub async fn delete(aws: &Aws, name: &str, say: Say<'_>) -> anyhow::Result<Vec<StackResourceSummary>> {
    let mut resources = Vec::new();
    let mut pages = aws.cloudformation.list_stack_resources().stack_name(name).into_paginator().send();
    while let Some(page) = pages.next().await {
        resources.extend(
            page.with_context(|| format!("listing the resources of {name}"))?.stack_resource_summaries().to_vec(),
        );
    }
    let seen = event_ids(aws, name).await?;
    aws.cloudformation
        .delete_stack()
        .stack_name(name)
        .send()
        .await
        .with_context(|| format!("deleting the stack {name}"))?;
    say(&format!("stack {name}: deleting"));
    match wait(aws, name, seen, say).await? {
        None => Ok(resources),
        Some(stack) => bail!(
            "the stack {name} ended {}: {}",
            status(&stack),
            stack.stack_status_reason().unwrap_or("see its events")
        ),
    }
}

/// The IDs of the stack's latest events (none for a stack that does not exist): what a wait
/// has already seen.
async fn event_ids(aws: &Aws, name: &str) -> anyhow::Result<HashSet<String>> {
    let Some(stack) = describe(aws, name).await? else { return Ok(HashSet::new()) };
    let events = aws.cloudformation.describe_stack_events().stack_name(stack.stack_id().unwrap_or(name)).send().await?;
    Ok(events.stack_events().iter().filter_map(|e| e.event_id().map(str::to_owned)).collect())
}

/// Waits until the stack is no longer in progress, reporting the events not `seen` yet.
/// Answers the stack, or `None` once it is deleted.
async fn wait(aws: &Aws, name: &str, mut seen: HashSet<String>, say: Say<'_>) -> anyhow::Result<Option<Stack>> {
    let deadline = Instant::now() + PATIENCE;
    let mut id = None;
    loop {
        let stack = describe(aws, name).await?;
        if let Some(stack) = &stack {
            id = stack.stack_id().map(str::to_owned);
        }
        if let Some(id) = &id {
            report_events(aws, id, &mut seen, say).await?;
        }
        match &stack {
            Some(stack) if status(stack).ends_with("_IN_PROGRESS") => {}
            _ => return Ok(stack),
        }
        if Instant::now() > deadline {
            bail!("the stack {name} is still {} after {PATIENCE:?}", stack.as_ref().map(status).unwrap_or_default());
        }
        tokio::time::sleep(aws.poll).await;
    }
}

/// Says each event of the stack not `seen` yet, oldest first: a resource's status, and why
/// it failed.
async fn report_events(aws: &Aws, stack_id: &str, seen: &mut HashSet<String>, say: Say<'_>) -> anyhow::Result<()> {
    let events = aws.cloudformation.describe_stack_events().stack_name(stack_id).send().await?;
    let mut new: Vec<_> =
        events.stack_events().iter().filter(|e| seen.insert(e.event_id().unwrap_or_default().to_owned())).collect();
    new.reverse();
    for event in new {
        let reason = event.resource_status_reason().map(|r| format!(": {r}")).unwrap_or_default();
        say(&format!(
            "  {} {} {}{reason}",
            event.logical_resource_id().unwrap_or("?"),
            event.resource_type().unwrap_or("?"),
            event.resource_status().map(|s| s.as_str()).unwrap_or("?"),
        ));
    }
    Ok(())
}
