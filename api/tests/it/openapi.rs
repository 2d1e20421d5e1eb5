//! The committed spec is the contract the client is generated from: it must match the code.

use std::path::PathBuf;

fn committed_spec_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json")
}

fn generated_spec() -> String {
    tokenmeter_api::server::openapi_json().expect("spec")
}

#[test]
fn committed_spec_matches_the_code() {
    let generated = generated_spec();
    let path = committed_spec_path();
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if generated != committed {
        if crate::helpers::test_env("UPDATE_EXPECT").is_some() {
            std::fs::write(&path, &generated).unwrap();
            return;
        }
        panic!(
            "openapi/openapi.json is out of date with the code: run `cargo xtask openapi` and commit the result \
             (the client is generated from that file)"
        );
    }
}

#[test]
fn every_operation_has_an_id_a_summary_and_a_description() {
    let spec: serde_json::Value = serde_json::from_str(&generated_spec()).unwrap();
    let mut ids = std::collections::HashSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
            for key in ["summary", "description"] {
                let text = op[key].as_str().unwrap_or_default();
                assert!(!text.trim().is_empty(), "{method} {path} has no {key}");
            }
        }
    }
    assert!(ids.len() >= 7, "expected every route in the spec, found {ids:?}");
}

/// What the refinements in `http/spec.rs` promise: each event stream's schema is one event's,
/// and the document has no `null` where a schema belongs.
#[test]
fn event_streams_describe_one_event_and_no_schema_is_null() {
    fn no_nulls(value: &serde_json::Value, at: &str) {
        match value {
            serde_json::Value::Null => panic!("null at {at}"),
            serde_json::Value::Object(map) => map.iter().for_each(|(k, v)| no_nulls(v, &format!("{at}/{k}"))),
            serde_json::Value::Array(items) => {
                items.iter().enumerate().for_each(|(i, v)| no_nulls(v, &format!("{at}/{i}")))
            }
            _ => {}
        }
    }
    let spec: serde_json::Value = serde_json::from_str(&generated_spec()).unwrap();
    no_nulls(&spec, "");
    let mut streams = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for op in item.as_object().unwrap().values() {
            if let Some(schema) = op.pointer("/responses/200/content/text~1event-stream/schema") {
                assert_ne!(schema["type"], "array", "{path}: an event stream's schema is one event's");
                streams += 1;
            }
        }
    }
    assert_eq!(streams, 3, "the user, list and model streams");
}
