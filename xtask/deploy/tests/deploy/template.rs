//! The template, read as a file: what a reviewer would check by hand, checked on every run.

use serde_yaml::Value;
use tokenmeter_deploy::spec::streaming_operations;

use crate::{root, template};

/// CloudFront's path patterns: `*` matches any run of characters (slashes too), `?` one.
fn matches(pattern: &str, path: &str) -> bool {
    match (pattern.chars().next(), path.chars().next()) {
        (None, None) => true,
        (Some('*'), _) => {
            matches(&pattern[1..], path)
                || (!path.is_empty() && matches(pattern, &path[path.chars().next().unwrap().len_utf8()..]))
        }
        (Some('?'), Some(c)) => matches(&pattern[1..], &path[c.len_utf8()..]),
        (Some(p), Some(c)) if p == c => matches(&pattern[p.len_utf8()..], &path[c.len_utf8()..]),
        _ => false,
    }
}

/// The origin CloudFront sends `path` to: the first cache behaviour that matches, else the
/// default (the web app).
fn origin_of(distribution: &Value, path: &str) -> String {
    let config = &distribution["Properties"]["DistributionConfig"];
    let behaviours = config["CacheBehaviors"].as_sequence().expect("cache behaviours");
    behaviours
        .iter()
        .find(|b| matches(b["PathPattern"].as_str().unwrap(), path))
        .unwrap_or(&config["DefaultCacheBehavior"])["TargetOriginId"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A path of the contract with its parameters filled in, as a browser sends it.
fn concrete(path: &str) -> String {
    path.split('/').map(|s| if s.starts_with('{') { "some-id" } else { s }).collect::<Vec<_>>().join("/")
}

#[test]
fn cloudfront_streams_the_streaming_operations_and_sends_the_rest_to_the_http_api() {
    let template = template();
    let distribution = &template["Resources"]["Distribution"];
    let contract = std::fs::read_to_string(root().join("openapi/openapi.json")).unwrap();
    let streaming = streaming_operations(&contract).unwrap();
    let document: serde_json::Value = serde_json::from_str(&contract).unwrap();
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let streams = streaming.contains(&(method.to_uppercase(), path.clone()));
            let expected = if streams { "stream" } else { "api" };
            assert_eq!(origin_of(distribution, &concrete(path)), expected, "{method} {path}");
            checked += 1;
        }
    }
    assert!(checked >= 15, "checked {checked} operations");
    for (path, origin) in [
        ("/", "web"),
        ("/index.html", "web"),
        ("/assets/tokenmeter_webapp_bg.wasm", "web"),
        ("/admin/users/alice", "web"),
        ("/dashboard", "web"),
        ("/docs", "api"),
        ("/docs/index.html", "api"),
        ("/openapi.json", "api"),
    ] {
        assert_eq!(origin_of(distribution, path), origin, "{path}");
    }
}

#[test]
fn cloudfront_path_patterns_match_as_cloudfront_does() {
    assert!(matches("/invoke/*/stream", "/invoke/alice/stream"));
    assert!(!matches("/invoke/*/stream", "/invoke/alice"));
    assert!(matches("/users*", "/users"));
    assert!(matches("/users*", "/users/alice/limit"));
    assert!(!matches("/me", "/media"));
    assert!(matches("/a?c", "/abc"));
}

/// The saved queries are the seed's, kept as files: each file is one query of the template,
/// word for word, and each query of the template has its file.
#[test]
fn the_saved_queries_are_the_files_in_deploy_queries() {
    let template = template();
    let mut in_template = std::collections::BTreeMap::new();
    for (_, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() == Some("AWS::Logs::QueryDefinition") {
            let name = match &resource["Properties"]["Name"] {
                Value::Tagged(tagged) => tagged.value.as_str().unwrap().to_owned(),
                other => other.as_str().unwrap().to_owned(),
            };
            let short = name.rsplit('/').next().unwrap().to_owned();
            let groups = resource["Properties"]["LogGroupNames"].as_sequence().unwrap();
            assert_eq!(groups, &[Value::from("/aws/bedrock/modelinvocations")], "{name}");
            in_template.insert(short, resource["Properties"]["QueryString"].as_str().unwrap().to_owned());
        }
    }
    let mut files = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(root().join("deploy/queries")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        files.insert(name, std::fs::read_to_string(&path).unwrap());
    }
    assert_eq!(in_template, files);
    for seed in
        ["usage-by-model-and-hour", "most-expensive-requests", "latency-by-model", "hourly-usage", "daily-usage"]
    {
        assert!(files.contains_key(seed), "the seed's query {seed}");
    }
}

/// `deploy` sends the template in the request: CloudFormation takes at most 51,200 bytes so.
#[test]
fn the_template_fits_in_a_create_stack_request() {
    let size = std::fs::metadata(root().join("deploy/tokenmeter.yaml")).unwrap().len();
    assert!(size <= 51_200, "deploy/tokenmeter.yaml is {size} bytes: upload it to the artifacts bucket instead");
}

/// The table the service expects: the key, the two indexes the service queries, TTL on
/// `ttl`, on-demand, point-in-time recovery.
#[test]
fn the_table_has_the_key_indexes_and_ttl_the_service_uses() {
    let template = template();
    let table = &template["Resources"]["Table"]["Properties"];
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true);
    assert_eq!(
        (&table["TimeToLiveSpecification"]["AttributeName"], &table["TimeToLiveSpecification"]["Enabled"]),
        (&Value::from("ttl"), &Value::from(true))
    );
    assert_eq!(table["KeySchema"][0]["AttributeName"], "userId");
    let indexes = table["GlobalSecondaryIndexes"].as_sequence().unwrap();
    let index = |name: &str| indexes.iter().find(|i| i["IndexName"] == name).unwrap_or_else(|| panic!("index {name}"));
    for (name, pk, sk) in [("byOwner", "gsi1pk", "gsi1sk"), ("byTime", "gsi2pk", "gsi2sk")] {
        let keys = &index(name)["KeySchema"];
        assert_eq!(
            (&keys[0]["AttributeName"], &keys[0]["KeyType"]),
            (&Value::from(pk), &Value::from("HASH")),
            "{name}"
        );
        assert_eq!(
            (&keys[1]["AttributeName"], &keys[1]["KeyType"]),
            (&Value::from(sk), &Value::from("RANGE")),
            "{name}"
        );
        assert_eq!(index(name)["Projection"]["ProjectionType"], "ALL", "{name}");
    }
}
