//! `deploy`: the stage's artifacts, its stack, its web app and its Bedrock invocation logging,
//! each step changing only what differs.

use std::{collections::BTreeMap, path::PathBuf};

use anyhow::Context;

use crate::{
    Aws, Names, Say, Stage,
    artifacts::{self, Change},
    logging, spec, stack, web,
};

/// What to deploy, and where it comes from.
#[derive(Debug, Clone)]
pub struct DeployRequest {
    pub stage: Stage,
    /// Mailed by the alarms (after confirming the subscription).
    pub alert_email: Option<String>,
    /// Off for a second stage in a region where another stage already logs invocations.
    pub invocation_logging: bool,
    /// The model or inference profile the service calls.
    pub model_id: String,
    /// The zip that `cargo xtask build lambda` makes.
    pub lambda_zip: PathBuf,
    /// The built web app (`webapp/dist`).
    pub web_dir: PathBuf,
    /// `deploy/tokenmeter.yaml`.
    pub template: PathBuf,
    /// `openapi/openapi.json`.
    pub openapi: PathBuf,
}

/// What a deployment changed and where it is.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub names: Names,
    /// What each step changed, in order; empty when nothing did.
    pub changes: Vec<String>,
    pub outputs: BTreeMap<String, String>,
}

impl Deployed {
    /// Where the operator goes next: the URLs and the admin key.
    pub fn summary(&self) -> Vec<String> {
        let output = |key: &str| self.outputs.get(key).map(String::as_str).unwrap_or("(not in the stack's outputs)");
        let region = &self.names.region;
        let secret = output("AdminKeySecret");
        vec![
            format!("web app:   {}", output("WebUrl")),
            format!("API:       {} (the same origin; docs at /docs)", output("WebUrl")),
            format!("           HTTP API {}, streaming Function URL {}", output("HttpApiUrl"), output("StreamUrl")),
            format!("admin key: in AWS Secrets Manager, secret {secret}"),
            format!(
                "           aws secretsmanager get-secret-value --region {region} --secret-id {secret} \
                 --query SecretString --output text"
            ),
            format!(
                "dashboard: https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards/dashboard/{}",
                output("DashboardName")
            ),
        ]
    }
}

/// The default model: Claude Sonnet 4.5 through its US cross-region inference profile (the
/// service's own default, `TOKENMETER_MODEL_ID`).
pub const DEFAULT_MODEL_ID: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";

/// The foundation model behind an inference profile (`us.anthropic.…` → `anthropic.…`).
fn base_model(model_id: &str) -> &str {
    match model_id.split_once('.') {
        Some(("us" | "eu" | "apac" | "jp" | "au" | "ca" | "us-gov" | "global", rest)) => rest,
        _ => model_id,
    }
}

/// Deploys `request` with `aws`, saying each step as it goes.
pub async fn deploy(aws: &Aws, request: &DeployRequest, say: Say<'_>) -> anyhow::Result<Deployed> {
    let names = aws.names(&request.stage).await?;
    say(&format!("deploying tokenmeter stage {} to account {}, region {}", names.stage, names.account, names.region));
    let read = |path: &PathBuf| std::fs::read(path).with_context(|| format!("reading {}", path.display()));
    let template = String::from_utf8(read(&request.template)?).context("the template is not UTF-8")?;
    let contract = String::from_utf8(read(&request.openapi)?).context("openapi.json is not UTF-8")?;
    let package = read(&request.lambda_zip).context("build the Lambda package first: cargo xtask build lambda")?;
    let document = spec::http_api_document(&contract, &names.stack(), &names.api_function_arn(), &names.region)?;

    let mut changes = Vec::new();
    let mut note = |change: Change, what: &str| {
        if change == Change::Made {
            changes.push(what.to_owned());
        }
    };
    let bucket = names.artifacts_bucket();
    note(artifacts::ensure_bucket(aws, &bucket, say).await?, "artifacts bucket created");
    let (code_key, change) =
        artifacts::upload_by_content(aws, &bucket, ("lambda/", "zip", "lambda package"), package, say).await?;
    note(change, "lambda package uploaded");
    let (spec_key, change) =
        artifacts::upload_by_content(aws, &bucket, ("api/", "json", "HTTP API document"), document.into_bytes(), say)
            .await?;
    note(change, "HTTP API document uploaded");

    let parameters = BTreeMap::from([
        ("Stage", names.stage.to_string()),
        ("ArtifactsBucket", bucket.clone()),
        ("CodeKey", code_key),
        ("ApiSpecKey", spec_key),
        ("ModelId", request.model_id.clone()),
        ("BaseModelId", base_model(&request.model_id).to_owned()),
        ("AlertEmail", request.alert_email.clone().unwrap_or_default()),
        ("InvocationLogging", if request.invocation_logging { "on" } else { "off" }.to_owned()),
    ]);
    let (stack, change) = stack::create_or_update(aws, &names.stack(), &template, &parameters, say).await?;
    note(change, "stack created or updated");
    let outputs = stack::outputs(&stack);

    let web_bucket = outputs.get("WebBucket").context("the stack has no WebBucket output")?;
    note(web::sync(aws, &request.web_dir, web_bucket, say).await?, "web app uploaded");

    if request.invocation_logging {
        let role =
            outputs.get("InvocationLoggingRoleArn").context("the stack has no InvocationLoggingRoleArn output")?;
        let logs = outputs.get("InvocationLogsBucket").context("the stack has no InvocationLogsBucket output")?;
        note(logging::ensure(aws, role, logs, say).await?, "bedrock invocation logging turned on");
    } else {
        say("bedrock invocation logging: left as it is (--no-invocation-logging)");
    }
    match changes.len() {
        0 => say("nothing changed: the stage is as deployed"),
        n => say(&format!("{n} change(s): {}", changes.join(", "))),
    }
    Ok(Deployed { names, changes, outputs })
}

#[cfg(test)]
mod tests {
    use super::base_model;

    #[test]
    fn inference_profiles_name_their_foundation_model() {
        assert_eq!(
            base_model("us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
            "anthropic.claude-sonnet-4-5-20250929-v1:0"
        );
        assert_eq!(
            base_model("global.anthropic.claude-sonnet-4-5-20250929-v1:0"),
            "anthropic.claude-sonnet-4-5-20250929-v1:0"
        );
        assert_eq!(
            base_model("anthropic.claude-sonnet-4-5-20250929-v1:0"),
            "anthropic.claude-sonnet-4-5-20250929-v1:0"
        );
    }
}
