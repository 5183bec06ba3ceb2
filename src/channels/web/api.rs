//! What every web route shares: errors as `{"error": "..."}` with the right status, JSON bodies
//! that must be objects, path and query extractors with the same error shape, and bearer tokens
//! for agents and chat sessions.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::{header, request::Parts, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use super::WebState;
use crate::core::agent::Agent;
use crate::core::error::CoreError;

/// An error as every API route reports it: a status and `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    /// Seconds for `Retry-After` (a refused request past an abuse limit).
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429: past an abuse limit, with how long to wait.
    pub fn too_many(what: &str, retry_after_secs: u64) -> Self {
        Self {
            retry_after: Some(retry_after_secs),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many {what}; try again in {retry_after_secs} s"),
            )
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "missing or invalid bearer token")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.message }))).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        response
    }
}

/// Seconds a client is asked to wait when the database is unavailable: long enough for a pool
/// to reconnect or a lock to clear, short enough that a customer hardly notices.
const UNAVAILABLE_RETRY_SECS: u64 = 2;

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::NotFound(_) => Self::new(StatusCode::NOT_FOUND, e.to_string()),
            CoreError::Conflict(_) => Self::new(StatusCode::CONFLICT, e.to_string()),
            CoreError::Invalid(_) => Self::new(StatusCode::BAD_REQUEST, e.to_string()),
            CoreError::Store(inner) if inner.is_unavailable() => {
                tracing::warn!(error = %inner, "request refused: the database is unavailable");
                Self {
                    retry_after: Some(UNAVAILABLE_RETRY_SECS),
                    ..Self::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!(
                            "the database is unavailable (unreachable or busy); the request \
                             was not completed, try again in {UNAVAILABLE_RETRY_SECS} s"
                        ),
                    )
                }
            }
            CoreError::Store(inner) => {
                tracing::error!(error = %inner, "request failed on the database");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; the request was not completed",
                )
            }
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        CoreError::Store(e).into()
    }
}

/// `axum::Json`, but a body that does not parse is a 400 with `{"error"}` (axum's own is plain text).
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json")
            });
        if !is_json {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "the body must be JSON with Content-Type: application/json",
            ));
        }
        parse_object(&read_body(req, state).await?).map(Json)
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A JSON body that may be left out entirely; when present it must be the documented object.
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = read_body(req, state).await?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        parse_object(&body).map(OptionalJson)
    }
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state)
        .await
        .map_err(|e| ApiError::new(rejection_status(e.status()), e.body_text()))
}

/// The documented bodies are all JSON objects; serde would also take an array for a struct.
fn parse_object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

/// Keeps "too large" as 413; every other body problem is the client's malformed request.
fn rejection_status(status: StatusCode) -> StatusCode {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        status
    } else {
        StatusCode::BAD_REQUEST
    }
}

/// The `{id}` of a chat session route.
pub struct SessionId(pub String);

/// The `{id}` of a ticket route; "42" or "#42". Anything else names no ticket: 404.
pub struct TicketId(pub i64);

async fn path_id<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<String, ApiError> {
    Path::<String>::from_request_parts(parts, state)
        .await
        .map(|Path(id)| id)
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("invalid path: {}", e.body_text()),
            )
        })
}

impl<S: Send + Sync> FromRequestParts<S> for SessionId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        path_id(parts, state).await.map(SessionId)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TicketId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = path_id(parts, state).await?;
        raw.trim_start_matches('#')
            .parse()
            .map(TicketId)
            .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, format!("ticket {raw} not found")))
    }
}

/// The `{id}` of a customer route; anything but a number names no customer: 404.
pub struct CustomerId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for CustomerId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = path_id(parts, state).await?;
        raw.parse()
            .map(CustomerId)
            .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, format!("customer {raw} not found")))
    }
}

/// Query strings, with the same `{"error"}` shape on failure.
pub struct Q<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Q(v))
            .map_err(|e: QueryRejection| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("invalid query: {}", e.body_text()),
                )
            })
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?
        .trim();
    (!token.is_empty()).then_some(token)
}

/// The agent behind the request's bearer token; every agent route takes one.
pub struct AuthAgent(pub Agent);

impl FromRequestParts<WebState> for AuthAgent {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        state
            .desk
            .authenticate(token)
            .await?
            .map(AuthAgent)
            .ok_or_else(ApiError::unauthorized)
    }
}

/// The bearer token of a chat request, checked against the session in the path by the handler.
pub struct SessionToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for SessionToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        bearer(parts)
            .map(|t| SessionToken(t.to_string()))
            .ok_or_else(ApiError::unauthorized)
    }
}
