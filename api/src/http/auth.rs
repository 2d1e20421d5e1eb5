//! `Caller`: the authenticated principal of a request, from `Authorization: Bearer <key>` or
//! `X-API-Key: <key>`. Taking a `Caller` argument is what makes an operation non-public: the
//! OpenAPI document lists both schemes on it, and a request without a valid key never
//! reaches the handler.

use poem::{Request, RequestBody, http::HeaderMap};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    registry::{MetaSecurityScheme, Registry},
};

use super::error::{AnyCode, ApiError};
use crate::domain::{Keys, Principal};

pub(super) struct Caller(pub Principal);

const BEARER: &str = "BearerAuth";
const API_KEY: &str = "ApiKeyAuth";

fn register_schemes(registry: &mut Registry) {
    let scheme = |ty, description| MetaSecurityScheme {
        ty,
        description: Some(description),
        name: None,
        key_in: None,
        scheme: None,
        bearer_format: None,
        flows: None,
        openid_connect_url: None,
    };
    registry.create_security_scheme(
        BEARER,
        MetaSecurityScheme {
            scheme: Some("bearer"),
            bearer_format: Some("tmk_<id>_<secret>"),
            ..scheme("http", "An API key as a bearer token: `Authorization: Bearer tmk_…`.")
        },
    );
    registry.create_security_scheme(
        API_KEY,
        MetaSecurityScheme {
            name: Some("X-API-Key"),
            key_in: Some("header"),
            ..scheme("apiKey", "The same API key in the `X-API-Key` header.")
        },
    );
}

async fn authenticate(request: &Request) -> poem::Result<Principal> {
    let keys = request.data::<Keys>().ok_or_else(ApiError::<AnyCode>::internal)?;
    let token = presented_key(request.headers())?;
    Ok(keys.authenticate(token).await.map_err(ApiError::<AnyCode>::from)?)
}

impl<'a> ApiExtractor<'a> for Caller {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        register_schemes(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![BEARER, API_KEY]
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        authenticate(request).await.map(Caller)
    }
}

/// The caller of an operation that may also be public: `None` when the request presents no
/// key (a key that is presented must be valid). The document lists the schemes as for
/// [`Caller`]; the operation says when it is public.
pub(super) struct MaybeCaller(pub Option<Principal>);

impl<'a> ApiExtractor<'a> for MaybeCaller {
    const TYPES: &'static [ApiExtractorType] = Caller::TYPES;
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        Caller::register(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        Caller::security_schemes()
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let headers = request.headers();
        if !headers.contains_key(poem::http::header::AUTHORIZATION) && !headers.contains_key("x-api-key") {
            return Ok(MaybeCaller(None));
        }
        authenticate(request).await.map(|principal| MaybeCaller(Some(principal)))
    }
}

/// The key a request presents: `Authorization: Bearer …` first, then `X-API-Key`.
fn presented_key(headers: &HeaderMap) -> Result<&str, ApiError<AnyCode>> {
    if let Some(value) = headers.get(poem::http::header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| ApiError::unauthorized("the Authorization header is not text"))?;
        return match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
                Ok(token.trim())
            }
            _ => Err(ApiError::unauthorized("the Authorization header must read `Bearer <API key>`")),
        };
    }
    match headers.get("x-api-key").map(|v| v.to_str()) {
        Some(Ok(token)) if !token.trim().is_empty() => Ok(token.trim()),
        Some(_) => Err(ApiError::unauthorized("the X-API-Key header is empty or not text")),
        None => Err(ApiError::unauthorized(
            "no API key was sent; send `Authorization: Bearer <API key>` or `X-API-Key: <API key>`",
        )),
    }
}
