//! Every error the API returns is an RFC 9457 problem document; this is the one place where error
//! kinds become status codes.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use kaiwu_core::ErrorKind;
use serde::Serialize;

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// URI reference identifying the problem type (`urn:kaiwu:problem:<name>`).
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What went wrong in this occurrence.
    pub detail: String,
    /// Individual validation failures, each with a JSON path.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One validation failure.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON path of the offending value.
    pub path: String,
    /// Why it is wrong.
    pub message: String,
}

/// An error on its way to becoming a problem response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    detail: String,
    errors: Vec<FieldError>,
}

impl ApiError {
    /// An error with a status and detail.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    pub(crate) fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub(crate) fn from_kind(kind: ErrorKind, detail: impl Into<String>) -> Self {
        let status = match kind {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, detail)
    }

    pub(crate) fn internal(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, detail)
    }

    pub(crate) fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    pub(crate) fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }

    pub(crate) fn invalid(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }

    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    /// What went wrong.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    fn problem(&self) -> Problem {
        let name = match self.status {
            StatusCode::BAD_REQUEST => "bad-request",
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::NOT_FOUND => "not-found",
            StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
            StatusCode::CONFLICT => "conflict",
            StatusCode::PAYLOAD_TOO_LARGE => "too-large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
            StatusCode::UNPROCESSABLE_ENTITY => "validation",
            StatusCode::TOO_MANY_REQUESTS => "rate-limited",
            StatusCode::NOT_IMPLEMENTED => "not-implemented",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            _ => "internal",
        };
        Problem {
            problem_type: format!("urn:kaiwu:problem:{name}"),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            errors: self.errors.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), detail = %self.detail, "request failed");
        }
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut r = (self.status, body).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        r
    }
}

impl From<kaiwu_registry::Error> for ApiError {
    fn from(e: kaiwu_registry::Error) -> Self {
        match e {
            kaiwu_registry::Error::Model(m) => m.into(),
            e => {
                let kind = e.kind();
                let detail = match kind {
                    // Storage internals are logged, not shown.
                    ErrorKind::Internal => {
                        tracing::error!(error = %e, "registry failure");
                        "internal storage error".to_owned()
                    }
                    _ => e.to_string(),
                };
                Self::from_kind(kind, detail)
            }
        }
    }
}

impl From<kaiwu_model::Error> for ApiError {
    fn from(e: kaiwu_model::Error) -> Self {
        let errors = e
            .violations()
            .into_iter()
            .map(|v| FieldError {
                path: v.path,
                message: v.message,
            })
            .collect();
        Self::from_kind(e.kind(), e.to_string()).with_errors(errors)
    }
}

impl From<kaiwu_ingest::Error> for ApiError {
    fn from(e: kaiwu_ingest::Error) -> Self {
        match e {
            kaiwu_ingest::Error::Invalid(rows) => {
                let detail = format!(
                    "{} telemetry value(s) refused; nothing was stored",
                    rows.len()
                );
                let errors = rows
                    .into_iter()
                    .map(|r| FieldError {
                        path: r.path,
                        message: r.message,
                    })
                    .collect();
                Self::invalid(detail).with_errors(errors)
            }
            kaiwu_ingest::Error::Registry(r) => r.into(),
            e => {
                tracing::error!(error = %e, "telemetry not stored");
                // Not acknowledged: the client may retry.
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "telemetry could not be stored durably; retry",
                )
            }
        }
    }
}

impl From<kaiwu_query::Error> for ApiError {
    fn from(e: kaiwu_query::Error) -> Self {
        let kind = e.kind();
        if kind == ErrorKind::Internal {
            tracing::error!(error = %e, "query failed");
        }
        Self::from_kind(kind, e.to_string())
    }
}

impl From<kaiwu_auth::Error> for ApiError {
    fn from(e: kaiwu_auth::Error) -> Self {
        Self::from_kind(e.kind(), e.to_string())
    }
}

impl From<kaiwu_core::IdError> for ApiError {
    fn from(e: kaiwu_core::IdError) -> Self {
        Self::invalid(e.to_string())
    }
}
