//! Request body and query extractors that answer every failure with a problem document: syntax
//! errors 400, shape and validation errors 422 with the JSON path, oversized bodies 413, non-JSON
//! content types 415. The body limit is enforced while reading, before anything is parsed.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;

use crate::ApiError;
use crate::error::FieldError;

/// A JSON request body deserialized into `T`.
#[derive(Debug)]
pub(crate) struct Body<T>(pub(crate) T);

/// A JSON request body kept as bytes, for documents parsed by their own validator.
#[derive(Debug)]
pub(crate) struct RawJson(pub(crate) Bytes);

/// Query parameters deserialized into `T`.
#[derive(Debug)]
pub(crate) struct Q<T>(pub(crate) T);

/// A body of any content type, size-limited like the others.
#[derive(Debug)]
pub(crate) struct RawBody {
    /// The media type, lowercased, without parameters (`text/csv`); empty when absent.
    pub(crate) content_type: String,
    pub(crate) bytes: Bytes,
}

async fn limited_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rej| {
        if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body is larger than this server accepts",
            )
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("cannot read request body: {rej}"),
            )
        }
    })
}

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let bytes = limited_bytes(req, state).await?;
        Ok(RawBody {
            content_type,
            bytes,
        })
    }
}

async fn json_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or("").trim();
        let json = essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json"));
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("expected a JSON body (application/json), got `{essence}`"),
            ));
        }
    }
    limited_bytes(req, state).await
}

/// Syntax is checked on its own first, so a truncated body is a 400 even when the streaming
/// parse would meet a shape error (say, an unknown first key) before the truncation.
pub(crate) fn check_syntax(bytes: &[u8]) -> Result<(), ApiError> {
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
        .map(|_| ())
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")))
}

/// Parse JSON with the path of the first offending value.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    check_syntax(bytes)?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::new(StatusCode::BAD_REQUEST, format!("malformed JSON: {inner}"))
        } else {
            shape_error(path, inner.to_string())
        }
    })?;
    de.end()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")))?;
    Ok(v)
}

/// Deserialize an already parsed document (e.g. one item of a parsed array), with the path of
/// the first offending value.
pub(crate) fn from_value<T: DeserializeOwned>(v: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(v)
        .map_err(|e| shape_error(e.path().to_string(), e.into_inner().to_string()))
}

fn shape_error(path: String, message: String) -> ApiError {
    ApiError::invalid(format!("invalid value at `{path}`: {message}"))
        .with_errors(vec![FieldError { path, message }])
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = json_bytes(req, state).await?;
        parse(&bytes).map(Body)
    }
}

impl<S: Send + Sync> FromRequest<S> for RawJson {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = json_bytes(req, state).await?;
        check_syntax(&bytes)?;
        Ok(RawJson(bytes))
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Q(v))
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        a: u8,
        b: Option<Vec<String>>,
    }

    #[test]
    fn errors_are_classified() {
        assert!(parse::<T>(br#"{"a":1}"#).is_ok());
        assert_eq!(
            parse::<T>(b"{").unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            parse::<T>(br#"{"a":1} x"#).unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
        let e = parse::<T>(br#"{"a":1,"b":[1]}"#).unwrap_err();
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(format!("{e:?}").contains("b[0]"), "{e:?}");
        assert_eq!(
            parse::<T>(br#"{"a":1,"z":0}"#).unwrap_err().status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            parse::<T>(br#"{"a":300}"#).unwrap_err().status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
}
