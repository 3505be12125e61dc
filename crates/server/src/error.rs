//! Errors as JSON with a stable code, and the body and query extractors that turn every
//! malformed input into one.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use capstan_api::{ErrorBody, ErrorDetails, codes};

/// The largest request body accepted (a large site's snapshot is about 7 MB).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// An error answer. 5xx answers never carry internal messages: the cause goes to the server's
/// log and the client reads `internal`.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable code.
    pub code: &'static str,
    /// For people.
    pub message: String,
    /// Where.
    pub details: Option<ErrorDetails>,
    /// For 429 and 503: seconds to wait before trying again (`Retry-After`).
    pub retry_after: Option<i64>,
}

impl ApiError {
    /// An error with a status, a code and a message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// The same error, telling the client how long to wait.
    pub fn retry_after(mut self, seconds: i64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// Something failed inside: logged here, `internal` outside.
    pub fn internal(what: impl std::fmt::Display) -> Self {
        eprintln!("capstan-server: internal error: {what}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL,
            "internal error",
        )
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, codes::FORBIDDEN, message)
    }

    /// 400 with a code.
    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 with a code.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 401 with a code.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// The same error, pointing at the edit at `index` of a batch.
    pub fn at_index(mut self, index: usize) -> Self {
        self.details.get_or_insert_with(Default::default).index = Some(index);
        self
    }

    /// An error of the core (unknown capability, context, role …), as 404 or 422.
    pub fn from_query(e: capstan_core::QueryError) -> Self {
        ApiError::not_found(e.code(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code.to_string(),
            message: self.message,
            details: self.details,
        };
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(s) = self.retry_after {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(s),
            );
        }
        resp
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::internal(e)
    }
}

/// Refuses with 403 and `why` unless `ok`.
pub fn ensure(ok: bool, why: &str) -> Result<(), ApiError> {
    if ok {
        Ok(())
    } else {
        Err(ApiError::forbidden(why))
    }
}

/// A JSON body read strictly: any failure (not JSON, wrong shape, unknown field, too large) is
/// a 400 `malformed_json` (413 `too_large`) with serde's message, never axum's plain text.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Text::from_request(req, state).await?.0;
        serde_json::from_str(&bytes)
            .map(Body)
            .map_err(|e| ApiError::bad(codes::MALFORMED_JSON, e.to_string()))
    }
}

/// A UTF-8 text body (XML presets, snapshots to validate), at most [`MAX_BODY`] bytes.
pub struct Text(pub String);

impl<S: Send + Sync> FromRequest<S> for Text {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        codes::TOO_LARGE,
                        format!("the body is larger than {MAX_BODY} bytes"),
                    )
                } else {
                    ApiError::bad(codes::MALFORMED_JSON, e.body_text())
                }
            })?;
        String::from_utf8(bytes.to_vec())
            .map(Text)
            .map_err(|_| ApiError::bad(codes::MALFORMED_JSON, "the body is not UTF-8"))
    }
}

/// A query string read strictly (`bad_query` on failure).
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(q)
            .map(Params)
            .map_err(|e| ApiError::bad(codes::BAD_QUERY, e.to_string()))
    }
}

/// A path id (`/roles/{id}`) read strictly (`bad_query` when it is not a positive integer).
pub struct Id(pub u64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|e| ApiError::bad(codes::BAD_QUERY, e.body_text()))?;
        raw.parse::<u64>()
            .ok()
            .filter(|v| *v > 0 && *v <= u64::from(u32::MAX))
            .map(Id)
            .ok_or_else(|| {
                ApiError::bad(
                    codes::BAD_QUERY,
                    format!("`{raw}` is not an id (a positive integer)"),
                )
            })
    }
}

impl ApiError {
    /// The same error with another code.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }
}

/// Runs `f` on the blocking pool (SQLite writes, commits, anything that may take long), so
/// that the async workers keep answering every other request meanwhile.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}
