//! What the API's routes are (read from its own spec), so that requests no operation answered
//! still get our error shape: an unknown path 404 `route_not_found`, a known path with another
//! method 405 `method_not_allowed` with `Allow`, a malformed parameter 400 naming it.

use std::sync::Arc;

use poem::http::StatusCode;
use poem_openapi::error::{ParseParamError, ParsePathError};

use super::error::{AnyCode, ApiError, Failure};

/// A path template of the spec (`/users/{userId}/usage`), the methods it accepts and the
/// operation each names.
#[derive(Debug, Clone)]
struct Template {
    segments: Vec<Option<String>>,
    methods: Vec<String>,
    operations: Vec<String>,
}

/// The API's routes.
#[derive(Debug, Clone)]
pub(super) struct Routes(Arc<Vec<Template>>);

impl Routes {
    /// The routes of an OpenAPI document.
    pub(super) fn of(spec: &str) -> Self {
        let spec: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
        let paths = spec.get("paths").and_then(|p| p.as_object()).cloned().unwrap_or_default();
        let templates = paths
            .into_iter()
            .map(|(path, operations)| Template {
                segments: path
                    .trim_start_matches('/')
                    .split('/')
                    .map(|segment| (!segment.starts_with('{')).then(|| segment.to_owned()))
                    .collect(),
                methods: operations
                    .as_object()
                    .map(|ops| ops.keys().map(|m| m.to_ascii_uppercase()).collect())
                    .unwrap_or_default(),
                operations: operations
                    .as_object()
                    .map(|ops| {
                        ops.values().map(|op| op["operationId"].as_str().unwrap_or("other").to_owned()).collect()
                    })
                    .unwrap_or_default(),
            })
            .collect();
        Self(Arc::new(templates))
    }

    /// The templates matching `path`.
    fn matching(&self, path: &str) -> Vec<&Template> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        self.0
            .iter()
            .filter(|t| {
                t.segments.len() == segments.len()
                    && t.segments.iter().zip(&segments).all(|(want, got)| want.as_deref().is_none_or(|w| w == *got))
            })
            .collect()
    }

    /// The operation `method` on `path` names, if any: answers an operation refused before
    /// its handler ran (its error carries no operation ID) are still counted under it.
    pub(super) fn operation(&self, method: &str, path: &str) -> Option<&str> {
        // A literal segment beats a parameter (`/events/users` is not `/events/{x}`).
        let mut found = self.matching(path);
        found.sort_by_key(|t| t.segments.iter().filter(|s| s.is_none()).count());
        found.into_iter().find_map(|t| {
            let i = t.methods.iter().position(|m| m.eq_ignore_ascii_case(method))?;
            Some(t.operations[i].as_str())
        })
    }

    /// The methods the route matching `path` accepts, if one does.
    fn allowed(&self, path: &str) -> Option<Vec<&str>> {
        let mut allowed: Vec<&str> =
            self.matching(path).into_iter().flat_map(|t| t.methods.iter().map(String::as_str)).collect();
        allowed.sort_unstable();
        allowed.dedup();
        (!allowed.is_empty()).then_some(allowed)
    }

    /// Our answer to an error raised outside the operations (routing, extractors, the stack).
    pub(super) fn unanswered(&self, err: &poem::Error, method: &str, path: &str) -> ApiError<AnyCode> {
        if let Some(ours) = err.downcast_ref::<Failure>() {
            return ours.0.clone();
        }
        if let Some(param) = err.downcast_ref::<ParseParamError>() {
            return ApiError::invalid_field(param.name, &param.reason);
        }
        if let Some(param) = err.downcast_ref::<ParsePathError>() {
            return ApiError::invalid_field(param.name, &param.reason);
        }
        match err.status() {
            StatusCode::NOT_FOUND => ApiError::route_not_found(method, path),
            StatusCode::METHOD_NOT_ALLOWED => {
                let allowed = self.allowed(path).unwrap_or_default();
                ApiError::method_not_allowed(method, path, &allowed)
            }
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::payload_too_large(),
            StatusCode::UNAUTHORIZED => ApiError::unauthorized("send `Authorization: Bearer <API key>`"),
            status if status.is_client_error() => {
                ApiError::new(crate::domain::ErrorCode::InvalidRequest, format!("The request was rejected: {err}."))
            }
            _ => ApiError::internal(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_methods_come_from_the_spec() {
        let routes = Routes::of(
            r#"{"paths": {"/users": {"get": {}, "post": {}}, "/users/{userId}": {"get": {}, "delete": {}},
                          "/users/{userId}/usage": {"post": {}}}}"#,
        );
        assert_eq!(routes.allowed("/users"), Some(vec!["GET", "POST"]));
        assert_eq!(routes.allowed("/users/alice"), Some(vec!["DELETE", "GET"]));
        assert_eq!(routes.allowed("/users/alice/usage"), Some(vec!["POST"]));
        assert_eq!(routes.allowed("/nope"), None);
    }

    #[test]
    fn operations_are_found_by_method_and_path_literals_first() {
        let routes = Routes::of(
            r#"{"paths": {"/users/{userId}": {"get": {"operationId": "getUser"}},
                          "/users/me": {"get": {"operationId": "me"}}}}"#,
        );
        assert_eq!(routes.operation("GET", "/users/alice"), Some("getUser"));
        assert_eq!(routes.operation("GET", "/users/me"), Some("me"));
        assert_eq!(routes.operation("POST", "/users/alice"), None);
    }
}
