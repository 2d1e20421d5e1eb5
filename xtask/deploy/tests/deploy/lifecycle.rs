//! A stage's whole life against moto: deploy creates the stack and every resource of the
//! template that moto can make (checked through the services' own APIs, not only
//! CloudFormation's word); a second deploy changes nothing and says so; a changed web app is
//! the only thing a third deploy uploads; destroy leaves no stack, bucket, table, role,
//! function or log group behind, and Bedrock logging off.

use std::{path::PathBuf, sync::Mutex, time::Duration};

use serde_yaml::Value;
use tokenmeter_deploy::{Aws, DEFAULT_MODEL_ID, DeployRequest, Deployed, Stage, deploy, destroy, logging};

use crate::{moto::Moto, root, template};

/// Resource types of the template that moto 5.2.5's CloudFormation does not make (it skips
/// them; `tests/moto_server.py` answers their attributes with `unemulated:` placeholders).
/// The README lists them; a type the template gains must be checked below or listed here.
const MOTO_CANNOT_MAKE: &[&str] = &[
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Stage",
    "AWS::CloudFront::Distribution",
    "AWS::CloudFront::Function",
    "AWS::CloudFront::OriginAccessControl",
    "AWS::CloudWatch::Alarm",
    "AWS::Lambda::Url",
    "AWS::Logs::QueryDefinition",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::Subscription",
    "AWS::SecretsManager::Secret",
];

/// The lines a command said, kept for assertions and shown when one fails.
#[derive(Default)]
struct Log(Mutex<Vec<String>>);

impl Log {
    fn say(&self) -> impl Fn(&str) + Sync + '_ {
        |line: &str| self.0.lock().unwrap().push(line.to_owned())
    }

    fn take(&self) -> String {
        std::mem::take(&mut *self.0.lock().unwrap()).join("\n")
    }
}

/// What `cargo xtask deploy` would pass: a Lambda package and a built web app (small stand-ins:
/// moto runs no function), and the repository's template and contract.
struct Inputs {
    dir: tempfile::TempDir,
}

impl Inputs {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // An empty zip: its end-of-central-directory record alone.
        let mut zip = b"PK\x05\x06".to_vec();
        zip.extend([0; 18]);
        std::fs::write(dir.path().join("tokenmeter.zip"), zip).unwrap();
        let web = dir.path().join("web");
        std::fs::create_dir_all(web.join("assets")).unwrap();
        std::fs::write(web.join("index.html"), "<!doctype html><title>tokenmeter</title>").unwrap();
        std::fs::write(web.join("assets/app.js"), "export default 1;").unwrap();
        std::fs::write(web.join("assets/app_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
        Self { dir }
    }

    fn web(&self) -> PathBuf {
        self.dir.path().join("web")
    }

    fn request(&self, stage: &Stage) -> DeployRequest {
        DeployRequest {
            stage: stage.clone(),
            alert_email: Some("ops@example.com".into()),
            invocation_logging: true,
            model_id: DEFAULT_MODEL_ID.into(),
            lambda_zip: self.dir.path().join("tokenmeter.zip"),
            web_dir: self.web(),
            template: root().join("deploy/tokenmeter.yaml"),
            openapi: root().join("openapi/openapi.json"),
        }
    }
}

#[tokio::test]
async fn deploy_makes_the_stage_a_second_deploy_changes_nothing_destroy_removes_it_all() {
    let Some(moto) = Moto::start().await else { return };
    let sdk = moto.sdk();
    let aws = Aws::from_sdk(&sdk, true, Duration::from_millis(50)).unwrap();
    let (stage, inputs, log) = (Stage::parse("it").unwrap(), Inputs::new(), Log::default());

    let first =
        deploy(&aws, &inputs.request(&stage), &log.say()).await.unwrap_or_else(|e| panic!("{e:?}\n{}", log.take()));
    let said = log.take();
    for change in [
        "artifacts bucket created",
        "lambda package uploaded",
        "HTTP API document uploaded",
        "stack created or updated",
        "web app uploaded",
        "bedrock invocation logging turned on",
    ] {
        assert!(first.changes.iter().any(|c| c == change), "{change} missing from {:?}\n{said}", first.changes);
    }
    check_what_moto_made(&sdk, &aws, &first).await;

    let second = deploy(&aws, &inputs.request(&stage), &log.say()).await.unwrap();
    let said = log.take();
    assert_eq!(second.changes, Vec::<String>::new(), "a second deploy changes nothing:\n{said}");
    assert!(said.contains("stack tokenmeter-it: unchanged"), "{said}");
    assert!(said.contains("nothing changed"), "{said}");

    std::fs::write(inputs.web().join("assets/app.js"), "export default 2;").unwrap();
    std::fs::remove_file(inputs.web().join("assets/app_bg.wasm")).unwrap();
    let third = deploy(&aws, &inputs.request(&stage), &log.say()).await.unwrap();
    let said = log.take();
    assert_eq!(third.changes, ["web app uploaded"], "{said}");
    assert!(said.contains("1 uploaded, 1 unchanged, 1 removed"), "{said}");

    let destroyed = destroy(&aws, &stage, &log.say()).await.unwrap_or_else(|e| panic!("{e:?}\n{}", log.take()));
    let said = log.take();
    assert!(said.contains("bedrock invocation logging: turned off"), "{said}");
    assert!(said.contains("stack tokenmeter-it: deleted"), "{said}");
    assert!(destroyed.removed.iter().any(|line| line.starts_with("artifacts bucket")), "{said}");
    check_nothing_is_left(&sdk, &aws).await;

    let again = destroy(&aws, &stage, &log.say()).await.unwrap();
    assert!(again.removed.is_empty() && log.take().contains("nothing to remove"));
}

/// Every resource of the template (but those [`MOTO_CANNOT_MAKE`]) exists, as its service
/// reports it, with the properties the service relies on.
async fn check_what_moto_made(sdk: &aws_config::SdkConfig, aws: &Aws, deployed: &Deployed) {
    let names = &deployed.names;
    let listed = aws.cloudformation.list_stack_resources().stack_name(names.stack()).send().await.unwrap();
    let physical = |logical: &str| {
        listed
            .stack_resource_summaries()
            .iter()
            .find(|r| r.logical_resource_id() == Some(logical))
            .and_then(|r| r.physical_resource_id())
            .unwrap_or_default()
            .to_owned()
    };
    let (dynamodb, iam) = (aws_sdk_dynamodb::Client::new(sdk), aws_sdk_iam::Client::new(sdk));
    let (logs, lambda) = (aws_sdk_cloudwatchlogs::Client::new(sdk), aws_sdk_lambda::Client::new(sdk));
    let template = template();
    let mut not_made = Vec::new();
    for (logical, resource) in template["Resources"].as_mapping().unwrap() {
        let (logical, kind) = (logical.as_str().unwrap(), resource["Type"].as_str().unwrap());
        if MOTO_CANNOT_MAKE.contains(&kind) {
            not_made.push(format!("{logical} ({kind})"));
            continue;
        }
        let id = physical(logical);
        match kind {
            "AWS::DynamoDB::Table" => {
                let table = dynamodb.describe_table().table_name(&id).send().await.unwrap();
                let table = table.table().unwrap();
                assert_eq!(table.key_schema()[0].attribute_name(), "userId");
                let mut indexes: Vec<_> =
                    table.global_secondary_indexes().iter().map(|i| i.index_name().unwrap()).collect();
                indexes.sort();
                assert_eq!(indexes, ["byOwner", "byTime"]);
                assert_eq!(
                    table.billing_mode_summary().and_then(|b| b.billing_mode()).map(|m| m.as_str()),
                    Some("PAY_PER_REQUEST")
                );
            }
            "AWS::S3::Bucket" => {
                aws.s3.head_bucket().bucket(&id).send().await.unwrap_or_else(|e| panic!("bucket {id}: {e:?}"));
            }
            "AWS::IAM::Role" => {
                let role = iam.get_role().role_name(&id).send().await.unwrap();
                let trust = urlencoded_json(role.role().unwrap().assume_role_policy_document().unwrap());
                let service = &trust["Statement"][0]["Principal"]["Service"];
                match logical {
                    "FunctionRole" => assert_eq!(service, "lambda.amazonaws.com"),
                    "InvocationLoggingRole" => {
                        assert_eq!(service, "bedrock.amazonaws.com");
                        assert_eq!(
                            trust["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"],
                            names.account.as_str()
                        );
                    }
                    other => panic!("a role this test does not know: {other}"),
                }
            }
            "AWS::Logs::LogGroup" => {
                let groups = logs.describe_log_groups().log_group_name_prefix(&id).send().await.unwrap();
                let group = groups.log_groups().iter().find(|g| g.log_group_name() == Some(id.as_str()));
                assert_eq!(group.and_then(|g| g.retention_in_days()), Some(30), "{id}");
            }
            "AWS::Lambda::Function" => {
                let function = lambda.get_function().function_name(&id).send().await.unwrap();
                let config = function.configuration().unwrap();
                assert_eq!(
                    (config.runtime().map(|r| r.as_str()), config.handler()),
                    (Some("provided.al2023"), Some("bootstrap"))
                );
                let env = config.environment().and_then(|e| e.variables()).unwrap();
                assert_eq!(env["TOKENMETER_STORE"], "dynamodb");
                assert_eq!(env["TOKENMETER_TABLE"], physical("Table"));
                assert_eq!(env["TOKENMETER_ALERT_SNS_TOPIC_ARN"], physical("AlarmTopic"));
                let mode = if logical == "StreamFunction" { "streaming" } else { "buffered" };
                assert_eq!(env["TOKENMETER_LAMBDA_RESPONSE"], mode, "{logical}");
            }
            "AWS::Lambda::Permission" => {
                let function = resource["Properties"]["FunctionName"].clone();
                let target = if tagged_name(&function) == "StreamFunction" {
                    "tokenmeter-it-stream"
                } else {
                    "tokenmeter-it-api"
                };
                let policy = lambda.get_policy().function_name(target).send().await.unwrap();
                assert!(policy.policy().unwrap().contains("Statement"), "{logical}");
            }
            "AWS::SNS::Topic" => assert!(id.ends_with(":tokenmeter-it-alarms"), "{id}"),
            "AWS::CloudWatch::Dashboard" => assert_eq!(id, "tokenmeter-it-us-east-1"),
            other => {
                panic!("{logical}: a resource type this test does not check and moto is not known to skip: {other}")
            }
        }
    }
    eprintln!(
        "NOTE: moto cannot make {} of the template's resources, left unchecked: {}",
        not_made.len(),
        not_made.join(", ")
    );
    let index = aws.s3.head_object().bucket(names.web_bucket()).key("index.html").send().await.unwrap();
    assert_eq!(index.content_type(), Some("text/html; charset=utf-8"));
    let wasm = aws.s3.head_object().bucket(names.web_bucket()).key("assets/app_bg.wasm").send().await.unwrap();
    assert_eq!(wasm.content_type(), Some("application/wasm"));
    let logging = logging::current(aws).await.unwrap().expect("invocation logging is on");
    let cloudwatch = logging.cloud_watch_config().unwrap();
    assert_eq!(cloudwatch.log_group_name(), "/aws/bedrock/modelinvocations");
    assert_eq!(cloudwatch.role_arn(), deployed.outputs["InvocationLoggingRoleArn"]);
    assert_eq!(logging.s3_config().unwrap().bucket_name(), names.invocation_logs_bucket());
    assert_eq!(logging.text_data_delivery_enabled(), Some(true));
}

/// No stack, bucket, table, role, function or log group of the stage, and no invocation logging.
async fn check_nothing_is_left(sdk: &aws_config::SdkConfig, aws: &Aws) {
    let left = tokenmeter_deploy::stack::describe(aws, "tokenmeter-it").await.unwrap();
    assert!(left.is_none(), "the stack is gone: {left:?}");
    let buckets = aws.s3.list_buckets().send().await.unwrap();
    let buckets: Vec<_> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(buckets, Vec::<&str>::new(), "no bucket is left");
    let tables = aws_sdk_dynamodb::Client::new(sdk).list_tables().send().await.unwrap();
    assert_eq!(tables.table_names(), Vec::<String>::new().as_slice(), "no table is left");
    let roles = aws_sdk_iam::Client::new(sdk).list_roles().send().await.unwrap();
    let roles: Vec<_> = roles.roles().iter().map(|r| r.role_name()).collect();
    assert_eq!(roles, Vec::<&str>::new(), "no role is left");
    let groups = aws_sdk_cloudwatchlogs::Client::new(sdk).describe_log_groups().send().await.unwrap();
    let groups: Vec<_> = groups.log_groups().iter().filter_map(|g| g.log_group_name()).collect();
    assert_eq!(groups, Vec::<&str>::new(), "no log group is left");
    let functions = aws_sdk_lambda::Client::new(sdk).list_functions().send().await.unwrap();
    assert_eq!(functions.functions().len(), 0, "no function is left");
    assert!(logging::current(aws).await.unwrap().is_none(), "invocation logging is off");
}

/// IAM answers policy documents URL-encoded.
fn urlencoded_json(document: &str) -> serde_json::Value {
    let mut decoded = Vec::new();
    let mut bytes = document.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let hex: String = bytes.by_ref().take(2).map(char::from).collect();
                decoded.push(u8::from_str_radix(&hex, 16).unwrap());
            }
            b'+' => decoded.push(b' '),
            other => decoded.push(other),
        }
    }
    let text = String::from_utf8(decoded).unwrap();
    serde_json::from_str(&text).or_else(|_| serde_json::from_str(document)).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The logical ID a `!Ref X` names.
fn tagged_name(value: &Value) -> String {
    match value {
        Value::Tagged(tagged) => tagged.value.as_str().unwrap_or_default().to_owned(),
        other => other.as_str().unwrap_or_default().to_owned(),
    }
}
