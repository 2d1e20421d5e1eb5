//! The HTTP API's OpenAPI document: `openapi/openapi.json` (the service's committed contract)
//! turned into what API Gateway imports, with utoipa's typed OpenAPI model:
//!
//! - **a routing table**: the paths and their operations (`operationId`, summary, parameters).
//!   Request and response schemas stay out: an HTTP API validates no request and reads no
//!   schema (it only reports them as ignored), and utoipa's model cannot hold some of what
//!   poem-openapi writes (a description-only `allOf` member, `format` on an array). The whole
//!   contract stays where clients read it, at `/openapi.json`;
//! - **servers**: the deployment's own origin (the web app and the API share it);
//! - **security**: none at API Gateway. Every request reaches the function, which checks the
//!   API key itself (`Authorization: Bearer` or `X-API-Key`) and answers 401/403 in the
//!   service's error shape; an HTTP API can only enforce such schemes with a Lambda
//!   authorizer, a second invocation per request for a check the service already makes;
//! - **integrations**: every operation, and a `$default` route for the rest (unknown routes
//!   get the service's own JSON 404, `/docs`), go to the API function as Lambda proxy
//!   integrations (payload format 2.0).
//!
//! utoipa models OpenAPI 3.1 and API Gateway imports 3.0 only. What goes through the model
//! means the same in both (the test `spec::tests::the_routing_table_survives_the_typed_model`
//! checks it round-trips unchanged), so the version is relabelled on the way in and out.

use anyhow::{Context, bail};
use serde_json::{Value, json};
use utoipa::openapi::{
    OpenApi, PathItem,
    extensions::{Extensions, ExtensionsBuilder},
    path::Operation,
    server::ServerBuilder,
};

/// The version API Gateway is given.
const IMPORTED_VERSION: &str = "3.0.1";

/// Reads the routing table of a committed OpenAPI 3.0 document into utoipa's model.
pub fn parse(contract: &str) -> anyhow::Result<OpenApi> {
    let mut document: Value = serde_json::from_str(contract).context("openapi.json is not JSON")?;
    match document.get("openapi").and_then(Value::as_str) {
        Some(version) if version.starts_with("3.0.") => document["openapi"] = json!("3.1.0"),
        other => bail!("expected an OpenAPI 3.0 document, found version {other:?}"),
    }
    routing_table(&mut document);
    serde_path_to_error::deserialize(document).map_err(|err| {
        anyhow::anyhow!("openapi.json does not fit utoipa's OpenAPI model at {}: {}", err.path(), err.inner())
    })
}

/// Leaves out of `document` what an HTTP API does not read: its components (schemas,
/// security schemes), request bodies, and responses' content and headers. A response that
/// poem-openapi left without a description (OpenAPI requires one) gets "Success".
fn routing_table(document: &mut Value) {
    if let Some(root) = document.as_object_mut() {
        root.remove("components");
    }
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for operation in paths.values_mut().filter_map(Value::as_object_mut).flat_map(|item| item.values_mut()) {
        let Some(operation) = operation.as_object_mut() else { continue };
        operation.remove("requestBody");
        for response in
            operation.get_mut("responses").and_then(Value::as_object_mut).into_iter().flat_map(|r| r.values_mut())
        {
            if let Some(response) = response.as_object_mut() {
                response.retain(|key, _| key == "description");
                if response.get("description").and_then(Value::as_str).is_none_or(str::is_empty) {
                    response.insert("description".to_owned(), json!("Success"));
                }
            }
        }
    }
}

/// Writes `document` as the OpenAPI 3.0 JSON API Gateway imports.
pub fn to_json(document: &OpenApi) -> anyhow::Result<String> {
    let mut json = serde_json::to_value(document)?;
    json["openapi"] = json!(IMPORTED_VERSION);
    Ok(serde_json::to_string_pretty(&json)? + "\n")
}

/// The HTTP API's document for a stage: `contract` with a title, servers, no gateway-enforced
/// security, and every route integrated with `function_arn` in `region`.
pub fn http_api_document(contract: &str, title: &str, function_arn: &str, region: &str) -> anyhow::Result<String> {
    let mut document = parse(contract)?;
    document.info.title = title.to_owned();
    document.servers = Some(vec![
        ServerBuilder::new()
            .url("/")
            .description(Some("This deployment's own origin: the web app's CloudFront address serves the API too"))
            .build(),
    ]);
    document.security = None;
    let integration = integration(function_arn, region);
    for item in document.paths.paths.values_mut() {
        for operation in operations(item) {
            operation.security = None;
            extend(&mut operation.extensions, "x-amazon-apigateway-integration", integration.clone());
        }
    }
    let mut default_route = PathItem::default();
    let any_method = json!({ "isDefaultRoute": true, "x-amazon-apigateway-integration": integration });
    extend(&mut default_route.extensions, "x-amazon-apigateway-any-method", any_method);
    document.paths.paths.insert("/$default".to_owned(), default_route);
    extend(&mut document.extensions, "x-amazon-apigateway-importexport-version", json!("1.0"));
    to_json(&document)
}

/// A Lambda proxy integration with the function, payload format 2.0, API Gateway's 30 s limit.
fn integration(function_arn: &str, region: &str) -> Value {
    json!({
        "type": "aws_proxy",
        "httpMethod": "POST",
        "uri": format!("arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{function_arn}/invocations"),
        "payloadFormatVersion": "2.0",
        "connectionType": "INTERNET",
        "timeoutInMillis": 30000
    })
}

/// Every operation of a path.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.options, &mut item.head, &mut item.patch]
        .into_iter()
        .flatten()
        .chain(item.additional_operations.values_mut())
}

fn extend(extensions: &mut Option<Extensions>, name: &str, value: Value) {
    let added = ExtensionsBuilder::new().add(name, value).build();
    match extensions {
        Some(existing) => existing.merge(added),
        None => *extensions = Some(added),
    }
}

/// The paths and methods of the operations whose success is a `text/event-stream`: the ones
/// that must reach the streaming Function URL.
pub fn streaming_operations(contract: &str) -> anyhow::Result<Vec<(String, String)>> {
    let document: Value = serde_json::from_str(contract)?;
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().context("no paths")? {
        for (method, operation) in item.as_object().context("a path item is an object")? {
            let content = &operation["responses"]["200"]["content"];
            if content.get("text/event-stream").is_some() {
                found.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTRACT: &str = include_str!("../../../openapi/openapi.json");
    const ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:tokenmeter-dev-api";

    fn document() -> Value {
        serde_json::from_str(&http_api_document(CONTRACT, "tokenmeter-dev", ARN, "eu-west-1").unwrap()).unwrap()
    }

    /// Read into utoipa's model and written back, the routing table is unchanged: nothing of
    /// it is lost or changed on the way to API Gateway.
    #[test]
    fn the_routing_table_survives_the_typed_model() {
        let mut table: Value = serde_json::from_str(CONTRACT).unwrap();
        routing_table(&mut table);
        let mut round_trip: Value = serde_json::from_str(&to_json(&parse(CONTRACT).unwrap()).unwrap()).unwrap();
        round_trip["openapi"] = table["openapi"].clone();
        let (expected, found) =
            (serde_json::to_string_pretty(&table).unwrap(), serde_json::to_string_pretty(&round_trip).unwrap());
        let difference = expected.lines().zip(found.lines()).position(|(a, b)| a != b);
        assert!(
            expected == found,
            "differs from line {difference:?}:\n{}",
            found.lines().skip(difference.unwrap_or(0).saturating_sub(5)).take(10).collect::<Vec<_>>().join("\n")
        );
        assert!(table["paths"]["/users/{userId}"]["get"]["parameters"].is_array(), "parameters are kept");
        assert!(table["paths"]["/users/{userId}"]["get"]["responses"]["200"]["description"].is_string());
    }

    #[test]
    fn every_operation_goes_to_the_api_function_and_the_rest_to_default() {
        let document = document();
        let contract: Value = serde_json::from_str(CONTRACT).unwrap();
        let uri = format!("arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/{ARN}/invocations");
        let mut operations = 0;
        for (path, item) in contract["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                let integration = &document["paths"][path][method]["x-amazon-apigateway-integration"];
                assert_eq!(integration["type"], "aws_proxy", "{method} {path}");
                assert_eq!(integration["uri"], uri.as_str());
                assert_eq!(integration["payloadFormatVersion"], "2.0");
                assert!(document["paths"][path][method].get("security").is_none(), "{method} {path}");
                assert_eq!(document["paths"][path][method]["operationId"], item[method]["operationId"]);
                operations += 1;
            }
        }
        assert!(operations >= 15, "the contract has its operations ({operations})");
        let default_route = &document["paths"]["/$default"]["x-amazon-apigateway-any-method"];
        assert_eq!(default_route["isDefaultRoute"], true);
        assert_eq!(default_route["x-amazon-apigateway-integration"]["uri"], uri.as_str());
    }

    #[test]
    fn the_document_is_openapi_3_0_for_api_gateway() {
        let document = document();
        assert_eq!(document["openapi"], IMPORTED_VERSION);
        assert_eq!(document["info"]["title"], "tokenmeter-dev");
        assert_eq!(document["servers"][0]["url"], "/");
        assert_eq!(document["x-amazon-apigateway-importexport-version"], "1.0");
        assert!(document.get("components").is_none(), "no schemas, no scheme API Gateway would enforce");
    }

    #[test]
    fn documents_that_are_not_openapi_3_0_are_refused() {
        let Err(err) = parse(r#"{"openapi": "3.1.0", "info": {"title": "x", "version": "1"}, "paths": {}}"#) else {
            panic!("a 3.1 document was taken")
        };
        assert!(err.to_string().contains("expected an OpenAPI 3.0 document"), "{err}");
    }

    #[test]
    fn the_live_views_and_the_streamed_invoke_are_streaming_operations() {
        let found = streaming_operations(CONTRACT).unwrap();
        for (method, path) in
            [("GET", "/events/users"), ("GET", "/users/{userId}/events"), ("POST", "/invoke/{userId}/stream")]
        {
            assert!(found.contains(&(method.to_owned(), path.to_owned())), "{method} {path} streams: {found:?}");
        }
        assert!(!found.iter().any(|(_, path)| path == "/users/{userId}"), "a plain read is not: {found:?}");
    }
}
