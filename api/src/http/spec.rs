//! The OpenAPI document as served at `/openapi.json` and committed under `openapi/`: poem-openapi's,
//! refined where its derives cannot state what the service enforces, so that the document
//! describes every request the service accepts and every answer it gives (schemathesis holds
//! it to that in `cargo xtask test`):
//!
//! - an event stream's schema is the schema of one event, its `data` JSON of the item's schema
//!   (OpenAPI 3.0 has no `itemSchema`; this is 3.2's shape for `text/event-stream`);
//! - optional properties may be `null` (the service reads `null` as absent, and writes `null`
//!   where the API says so, as `resetsAt` for `total`);
//! - request bodies allow no properties beyond their own (the service refuses unknown fields);
//! - a quota rule's `limit` depends on its `metric`, and a key request's `userId` on its
//!   `role`: both are unions tagged by that property;
//! - model IDs are those of the price list in effect;
//! - an integer's bounds are written as integers (`9007199254740991`, not `…991.0`: a reader
//!   that takes the float steps past it imprecisely);
//! - a prompt (and a conversation's title) is not only whitespace, stated as `not` a blank pattern (a positive `\S` pattern
//!   next to a 200,000-character `maxLength` leaves schemathesis unable to draw a valid prompt).

use serde_json::{Map, Value, json};

use crate::domain::{MAX_TOKENS, PriceList};

/// `document` (poem-openapi's JSON) with the refinements above, as pretty JSON.
pub(super) fn refine(document: &str, prices: &PriceList) -> String {
    let mut doc: Value = serde_json::from_str(document).expect("poem-openapi writes JSON");
    event_streams_as_events(&mut doc);
    optional_properties_nullable(&mut doc);
    quota_rules_by_metric(&mut doc);
    key_requests_by_role(&mut doc);
    closed_request_bodies(&mut doc);
    model_ids(&mut doc, prices);
    prompts_not_blank(&mut doc);
    whole_bounds_as_integers(&mut doc);
    let mut text = serde_json::to_string_pretty(&doc).expect("JSON serializes");
    text.push('\n');
    text
}

fn schemas(doc: &mut Value) -> &mut Map<String, Value> {
    doc["components"]["schemas"].as_object_mut().expect("the document has component schemas")
}

fn operations(doc: &mut Value) -> impl Iterator<Item = &mut Value> {
    let paths = doc["paths"].as_object_mut().expect("the document has paths");
    paths.values_mut().flat_map(|path| path.as_object_mut().into_iter().flat_map(|ops| ops.values_mut()))
}

fn event_streams_as_events(doc: &mut Value) {
    for operation in operations(doc) {
        let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) else { continue };
        for response in responses.values_mut() {
            let stream = response.pointer_mut("/content/text~1event-stream/schema");
            let Some(schema) = stream else { continue };
            if schema["format"] == "event-stream" && schema["type"] == "array" {
                let data = schema["items"].take();
                *schema = json!({
                    "description": "One event: its `data` is JSON of the schema given.",
                    "type": "object",
                    "required": ["data"],
                    "properties": {
                        "event": { "type": "string" },
                        "data": { "type": "string", "contentMediaType": "application/json", "contentSchema": data },
                    },
                });
            }
        }
    }
}

fn optional_properties_nullable(doc: &mut Value) {
    for schema in schemas(doc).values_mut() {
        let required: Vec<String> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else { continue };
        for (name, property) in properties.iter_mut() {
            if required.contains(name) {
                continue;
            }
            // `nullable` beside a `$ref` is ignored in OpenAPI 3.0: wrap the reference.
            if let Some(reference) = property.get("$ref").cloned() {
                let mut wrapped = json!({ "allOf": [{ "$ref": reference }] });
                if let Some(description) = property.get("description") {
                    wrapped["description"] = description.clone();
                }
                *property = wrapped;
            }
            property["nullable"] = json!(true);
        }
    }
}

/// Replaces the schema `name` by a union of `variants` tagged by `tag`: each a copy of the
/// schema, inline (so generated clients get one enum with a variant per value), with `tag` fixed
/// to its value, no other properties, and its own changes.
fn tagged_union(doc: &mut Value, name: &str, tag: &str, variants: &[(&str, Value)]) {
    let schemas = schemas(doc);
    let Some(base) = schemas.get(name).cloned() else { return };
    let one_of: Vec<Value> = variants
        .iter()
        .map(|(value, changes)| {
            let mut variant = base.clone();
            variant.as_object_mut().map(|v| v.remove("title"));
            variant["properties"][tag] = json!({ "type": "string", "enum": [value] });
            variant["additionalProperties"] = json!(false);
            for (property, schema) in changes["properties"].as_object().into_iter().flatten() {
                variant["properties"][property] = schema.clone();
            }
            for property in changes["drop"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                variant["properties"].as_object_mut().map(|p| p.remove(property));
            }
            if !changes["required"].is_null() {
                variant["required"] = changes["required"].clone();
            }
            // What a variant requires is not optional there.
            for property in variant["required"].clone().as_array().into_iter().flatten().filter_map(Value::as_str) {
                variant["properties"][property].as_object_mut().map(|p| p.remove("nullable"));
            }
            variant
        })
        .collect();
    let description = base.get("description").cloned().unwrap_or(json!(""));
    schemas.insert(name.to_owned(), json!({ "description": description, "oneOf": one_of }));
}

fn quota_rules_by_metric(doc: &mut Value) {
    let count = |what: &str| {
        json!({ "properties": { "limit": {
            "type": "integer", "minimum": 1, "maximum": MAX_TOKENS,
            "description": format!("The most {what} in the period."),
        }}})
    };
    let cost = json!({ "properties": { "limit": {
        "type": "number", "minimum": 0.000001, "maximum": 1_000_000_000, "multipleOf": 0.000001,
        "description": "The most US dollars in the period: at most 6 decimals.",
    }}});
    let variants = [("tokens", count("tokens")), ("requests", count("requests (model calls)")), ("cost", cost)];
    tagged_union(doc, "QuotaRule", "metric", &variants);
}

fn key_requests_by_role(doc: &mut Value) {
    let variants = [
        ("admin", json!({ "drop": ["userId"], "required": ["role"] })),
        ("user", json!({ "required": ["role", "userId"] })),
    ];
    tagged_union(doc, "IssueKeyRequest", "role", &variants);
}

/// Every schema a request body names, and the schemas those name, refuse other properties.
fn closed_request_bodies(doc: &mut Value) {
    let mut pending: Vec<String> = operations(doc)
        .filter_map(|op| op.pointer("/requestBody/content/application~1json/schema/$ref")?.as_str().map(str::to_owned))
        .collect();
    let mut closed = Vec::new();
    let schemas = schemas(doc);
    while let Some(reference) = pending.pop() {
        let name = reference.trim_start_matches("#/components/schemas/").to_owned();
        if closed.contains(&name) {
            continue;
        }
        let Some(schema) = schemas.get_mut(&name) else { continue };
        let text = schema.to_string();
        for part in text.split("\"#/components/schemas/").skip(1) {
            if let Some(end) = part.find('"') {
                pending.push(part[..end].to_owned());
            }
        }
        if schema.get("type").is_some_and(|t| t == "object") {
            schema["additionalProperties"] = json!(false);
        }
        closed.push(name);
    }
}

fn model_ids(doc: &mut Value, prices: &PriceList) {
    let ids = prices.callable_ids();
    let mut scopes: Vec<String> = prices.families().into_iter().map(str::to_owned).collect();
    scopes.extend(ids.iter().cloned());
    let schemas = schemas(doc);
    if let Some(schema) = schemas.get_mut("ModelId") {
        schema["enum"] = json!(ids);
    }
    if let Some(schema) = schemas.get_mut("ModelScope") {
        schema["enum"] = json!(scopes);
    }
}

fn prompts_not_blank(doc: &mut Value) {
    for name in ["PromptText", "ConversationTitle"] {
        if let Some(schema) = schemas(doc).get_mut(name) {
            schema["not"] = json!({ "pattern": "^\\s*$" });
        }
    }
}

fn whole_bounds_as_integers(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let integer = map.get("type").is_some_and(|t| t == "integer");
            for (key, inner) in map.iter_mut() {
                let bound = matches!(key.as_str(), "minimum" | "maximum");
                match inner.as_f64() {
                    Some(n) if integer && bound && n.fract() == 0.0 && n.abs() < 2f64.powi(63) => {
                        *inner = json!(n as i64);
                    }
                    _ => whole_bounds_as_integers(inner),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_bounds_as_integers),
        _ => {}
    }
}
