//! Extractors that read requests into typed values or the API's JSON errors, so a malformed
//! request never gets a plain-text answer and never reaches a store that would refuse it.
//!
//! Bodies: JSON only (415 otherwise), at most [`BODY_LIMIT`] bytes (413), well-formed (400), no
//! NUL character in any string or key (422 naming the field: PostgreSQL cannot store one), and of
//! the route's shape (422 naming the field; request types refuse unknown fields). Paths: an id or
//! name that does not parse is 404. Query strings are checked for NUL by
//! [`super::middleware::refuse_nul`] before any extractor runs.

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ApiError;

/// Largest request body accepted, in bytes (a 413 beyond it).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// `Json<T>` with the API's error shape and rules.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as JSON with Content-Type: application/json".into(),
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(body_error)?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON body that may be absent (an empty body gives `None`), for routes whose body is
/// optional such as `POST /v1/users/{id}/lock`. A body that is there follows [`ApiJson`]'s rules.
pub struct OptionalJson<T>(pub Option<T>);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = is_json(req.headers()) || !req.headers().contains_key(CONTENT_TYPE);
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(body_error)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        if !json {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as JSON with Content-Type: application/json".into(),
            ));
        }
        parse_json(&bytes).map(|value| OptionalJson(Some(value)))
    }
}

/// `application/json`, or any `application/…+json`.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|subtype| subtype.ends_with("+json"))
}

fn body_error(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge { limit: BODY_LIMIT }
    } else {
        ApiError::Malformed(format!("cannot read the body: {}", rejection.body_text()))
    }
}

/// Reads a JSON body into `T`: 400 when it is not JSON, 422 naming the field when a string or key
/// holds a NUL character or the shape is not `T`'s (an unknown field included).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::Malformed(format!("the body is not valid JSON: {e}")))?;
    if let Some(field) = nul_at(&value, "") {
        return Err(ApiError::invalid(
            field,
            "must not contain NUL (U+0000) characters",
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        ApiError::invalid(field_of(&path, &message), message)
    })
}

/// The path (`settings[0].kind`) of the first string or key holding a NUL character.
fn nul_at(value: &Value, path: &str) -> Option<String> {
    let name = |path: &str| {
        if path.is_empty() {
            "body".to_string()
        } else {
            path.to_string()
        }
    };
    match value {
        Value::String(s) if s.contains('\0') => Some(name(path)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_at(item, &format!("{path}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let here = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if key.contains('\0') {
                return Some(name(path));
            }
            nul_at(item, &here)
        }),
        _ => None,
    }
}

/// The field a deserialisation error is about: serde reports a missing or unknown field at its
/// parent's path and names it in the message ("unknown field `x`, expected …").
fn field_of(path: &str, message: &str) -> String {
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.split(prefix).nth(1))
        .and_then(|rest| rest.split('`').next());
    let parent = if path == "." { "" } else { path };
    // The path may already end at the named field (an unknown one is reported where it is).
    if let Some(name) = named
        && (parent == name || parent.ends_with(&format!(".{name}")))
    {
        return parent.to_string();
    }
    match (named, parent) {
        (Some(name), "") => name.to_string(),
        (Some(name), parent) => format!("{parent}.{name}"),
        (None, "") => "body".to_string(),
        (None, parent) => parent.to_string(),
    }
}

/// `Query<T>` with the API's error shape.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(ApiQuery(value))
    }
}

/// `Path<T>` with the API's error shape: a path segment that does not parse (an id that is not
/// a UUID) names nothing that exists, so it is 404.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(value) = axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("resource"))?;
        Ok(ApiPath(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        kind: String,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        #[serde(default)]
        items: Vec<Inner>,
    }

    fn field(json: &str) -> String {
        match parse_json::<Body>(json.as_bytes()).unwrap_err() {
            ApiError::Invalid { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_nul_character_anywhere_is_refused_naming_its_field() {
        assert_eq!(field(r#"{"name": "a\u0000b"}"#), "name");
        assert_eq!(
            field(r#"{"name": "a", "items": [{"kind": "x"}, {"kind": "\u0000"}]}"#),
            "items[1].kind"
        );
        assert_eq!(field(r#"{"name": "a", "x\u0000": 1}"#), "body");
        // A backslash followed by the text u0000 is not a NUL.
        assert!(parse_json::<Body>(br#"{"name": "a\\u0000b"}"#).is_ok());
    }

    #[test]
    fn unknown_and_missing_fields_are_named() {
        assert_eq!(field(r#"{"name": "a", "nmae": "b"}"#), "nmae");
        assert_eq!(
            field(r#"{"name": "a", "items": [{"kind": "x", "extra": 1}]}"#),
            "items[0].extra"
        );
        assert_eq!(field(r#"{}"#), "name");
        assert_eq!(field(r#"{"name": 3}"#), "name");
        assert_eq!(field(r#""just text""#), "body");
    }

    #[test]
    fn a_body_that_is_not_json_is_malformed() {
        assert!(matches!(
            parse_json::<Body>(b"{\"name\": "),
            Err(ApiError::Malformed(_))
        ));
    }

    #[test]
    fn json_content_types_are_recognised() {
        let headers = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, value.parse().unwrap());
            headers
        };
        assert!(is_json(&headers("application/json")));
        assert!(is_json(&headers("Application/JSON; charset=utf-8")));
        assert!(is_json(&headers("application/merge-patch+json")));
        assert!(!is_json(&headers("text/plain")));
        assert!(!is_json(&headers("application/jsonp")));
        assert!(!is_json(&HeaderMap::new()));
    }
}
