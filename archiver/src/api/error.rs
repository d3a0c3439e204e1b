//! Every way a request can fail, and the status each maps to. Client errors
//! say exactly what was wrong; server errors are logged in full and answered
//! with a short, fixed text so nothing internal leaks.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use crate::index::IndexError;
use crate::pipeline::PlaceError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// No usable credential; the header names the scheme and realm.
    #[error("{reason}")]
    Unauthorized { reason: String, realm: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("request body exceeds {size_bytes_max} bytes")]
    PayloadTooLarge { size_bytes_max: u64 },
    #[error("Message with duplicate UUID not stored: {uuid}")]
    Duplicate { uuid: Uuid },
    #[error("this archive is read-only")]
    ReadOnly,
    #[error("request timed out")]
    Timeout,
    /// The client sent its body slower than the minimum rate.
    #[error("{0}")]
    TooSlow(String),
    /// The answer would exceed the response size bound; the message says
    /// which smaller answer to ask for instead.
    #[error("the response would exceed {size_bytes_max} bytes; ask for BSON (the default) or the raw_file download")]
    ResponseTooLarge { size_bytes_max: u64 },
    #[error("too many requests in progress; retry shortly")]
    Busy,
    #[error("index: {0}")]
    Index(#[from] IndexError),
    #[error("object store: {0}")]
    Store(#[from] StoreError),
    #[error("upload: {0}")]
    Upload(#[from] PlaceError),
    /// An inconsistency in the archive itself (a row whose object is gone,
    /// an object that does not decode).
    #[error("archive inconsistency: {0}")]
    Inconsistent(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Duplicate { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            // Upstream's answer for writes to a read-only archive.
            ApiError::ReadOnly => StatusCode::NOT_IMPLEMENTED,
            ApiError::Timeout | ApiError::TooSlow(_) => StatusCode::REQUEST_TIMEOUT,
            // No acceptable representation within the bound (RFC 9110 §15.5.7).
            ApiError::ResponseTooLarge { .. } => StatusCode::NOT_ACCEPTABLE,
            ApiError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            // Too broad a search: the client must narrow it, not retry it.
            ApiError::Index(IndexError::SearchTimedOut) => StatusCode::BAD_REQUEST,
            ApiError::Index(e) if e.is_transient() => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(e) if e.is_transient() => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Upload(e) if e.is_transient() => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Index(_) | ApiError::Store(_) | ApiError::Upload(_) | ApiError::Inconsistent(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::BadRequest(message.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let expected = matches!(self, ApiError::ReadOnly | ApiError::Busy);
        let text = if status.is_server_error() && !expected {
            tracing::error!(error = %self, "request failed");
            match status {
                StatusCode::SERVICE_UNAVAILABLE => "the archive's storage is unavailable; retry later\n".to_owned(),
                _ => "internal error; see the server log\n".to_owned(),
            }
        } else {
            format!("{self}\n")
        };
        let mut response = (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response();
        if let ApiError::Unauthorized { realm, .. } = &self
            && let Ok(value) = HeaderValue::from_str(&format!("Bearer realm=\"{realm}\""))
        {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}
