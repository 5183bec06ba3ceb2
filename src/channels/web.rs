//! The web channel: the customer chat API, the agent API and the two pages that use them.
//!
//! Web-chat customers read their conversation straight from the transcript (long polling), so
//! delivering to them is only a matter of the line being committed: [`WebChannel::deliver`]
//! accepts at once.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::{header, request::Parts, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::channels::{CustomerChannel, Delivered, Delivery, DeliveryError};
use crate::clock::rfc3339;
use crate::config::Config;
use crate::core::agent::{new_token, token_hash, Agent};
use crate::core::desk::{Desk, Queue, TicketDetail};
use crate::core::engine::Engine;
use crate::core::error::CoreError;
use crate::core::message::{Author, Inbound, TranscriptLine};
use crate::core::policy;
use crate::core::report;
use crate::core::services::Services;
use crate::core::ticket::{Ticket, TicketSummary};
use crate::store::WebSession;

/// Channel name of web-chat conversations.
pub const WEB: &str = "web";
/// How often a waiting message poll looks at the database even when nothing in this process
/// committed.
const RECHECK: Duration = Duration::from_secs(1);
/// Longest a client may ask a message poll to wait.
const MAX_WAIT_SECS: u64 = 30;

pub struct WebChannel;

#[async_trait]
impl CustomerChannel for WebChannel {
    fn name(&self) -> &str {
        WEB
    }

    async fn deliver(&self, _delivery: &Delivery) -> Result<Delivered, DeliveryError> {
        Ok(Delivered::default())
    }
}

#[derive(Clone)]
pub struct WebState {
    pub services: Arc<Services>,
    pub engine: Engine,
    pub desk: Desk,
}

pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/chat") }))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route(
            "/chat",
            get(|| async { Html(include_str!("../../static/chat.html")) }),
        )
        .route(
            "/agent",
            get(|| async { Html(include_str!("../../static/agent.html")) }),
        )
        .route("/api/chat/sessions", post(create_session))
        .route(
            "/api/chat/sessions/{id}/messages",
            post(post_message).get(get_messages),
        )
        .route("/api/me", get(me))
        .route("/api/tickets", get(list_tickets))
        .route("/api/tickets/{id}", get(ticket_detail))
        .route("/api/tickets/{id}/claim", post(claim))
        .route("/api/tickets/{id}/messages", post(agent_message))
        .route("/api/tickets/{id}/close", post(close))
        .route("/api/report", get(report))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such page or API route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "this route does not take that method",
            )
        })
        .with_state(state)
}

/// An error as every API route reports it: a status and `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "missing or invalid bearer token")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::NotFound(_) => Self::new(StatusCode::NOT_FOUND, e.to_string()),
            CoreError::Conflict(_) => Self::new(StatusCode::CONFLICT, e.to_string()),
            CoreError::Invalid(_) => Self::new(StatusCode::BAD_REQUEST, e.to_string()),
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
pub struct SessionId(String);

/// The `{id}` of a ticket route; "42" or "#42". Anything else names no ticket: 404.
pub struct TicketId(i64);

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
pub struct SessionToken(String);

impl<S: Send + Sync> FromRequestParts<S> for SessionToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        bearer(parts)
            .map(|t| SessionToken(t.to_string()))
            .ok_or_else(ApiError::unauthorized)
    }
}

async fn session(state: &WebState, id: &str, token: &SessionToken) -> Result<WebSession, ApiError> {
    let mut tx = state.services.store.read().await?;
    let session = tx.web_session(id).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("chat session {id} not found"),
        )
    })?;
    if session.token_hash != token_hash(&token.0) {
        return Err(ApiError::unauthorized());
    }
    Ok(session)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NewSession {
    name: Option<String>,
}

async fn create_session(
    State(state): State<WebState>,
    OptionalJson(body): OptionalJson<NewSession>,
) -> Result<Response, ApiError> {
    let name = body
        .name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    if name.as_ref().is_some_and(|n| n.chars().count() > 100) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "name is longer than 100 characters",
        ));
    }
    if name
        .as_ref()
        .is_some_and(|n| n.chars().any(char::is_control))
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "name contains control characters",
        ));
    }
    let id = new_token()[..32].to_string();
    let token = new_token();
    let now = state.services.now();
    let mut w = state.services.write().await?;
    let customer = w.tx.upsert_customer(WEB, &id, name.as_deref(), now).await?;
    w.tx.create_web_session(&WebSession {
        id: id.clone(),
        token_hash: token_hash(&token),
        customer_id: customer.id,
        created_at: now,
    })
    .await?;
    w.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "session_id": id, "token": token })),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMessage {
    text: String,
    client_id: Option<String>,
}

async fn post_message(
    State(state): State<WebState>,
    SessionId(id): SessionId,
    token: SessionToken,
    Json(body): Json<NewMessage>,
) -> Result<Response, ApiError> {
    let session = session(&state, &id, &token).await?;
    let name = {
        let mut tx = state.services.store.read().await?;
        tx.customer(session.customer_id)
            .await?
            .and_then(|c| c.display_name)
    };
    // An empty client_id would make every message a repeat of the first: treat it as absent.
    let client_id = body.client_id.filter(|c| !c.trim().is_empty());
    let external_id = match client_id {
        Some(c) if c.len() > 200 => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "client_id is longer than 200 characters",
            ))
        }
        Some(c) => format!("{id}:{c}"),
        None => format!("{id}:{}", new_token()),
    };
    let received = state
        .engine
        .receive(Inbound {
            channel: WEB.into(),
            external_id,
            customer_key: id.clone(),
            customer_name: name,
            conversation_key: id.clone(),
            reply_to: id,
            text: body.text,
            received_at: state.services.now(),
            sender: Default::default(),
        })
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "id": received.inbox_id.to_string() })),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Poll {
    #[serde(default)]
    after: i64,
    #[serde(default)]
    wait: u64,
}

async fn get_messages(
    State(state): State<WebState>,
    SessionId(id): SessionId,
    token: SessionToken,
    Q(poll): Q<Poll>,
) -> Result<Json<Value>, ApiError> {
    session(&state, &id, &token).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(poll.wait.min(MAX_WAIT_SECS));
    let mut changes = state.services.subscribe();
    loop {
        let lines = {
            let mut tx = state.services.store.read().await?;
            tx.lines_for_key(WEB, &id, poll.after).await?
        };
        if !lines.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok(Json(
                json!({ "messages": lines.iter().map(line_json).collect::<Vec<_>>() }),
            ));
        }
        // A commit in this process wakes the poll at once; one made by another instance sharing
        // the database is seen at the next look.
        let look_again = tokio::time::Instant::now() + RECHECK;
        let _ = tokio::time::timeout_at(deadline.min(look_again), changes.changed()).await;
    }
}

fn line_json(line: &TranscriptLine) -> Value {
    json!({
        "seq": line.id,
        "from": line.author.as_str(),
        "author": if line.author == Author::Bot { None } else { line.author_name.clone() },
        "text": line.text,
        "at": rfc3339(line.at),
        "choices": line.choices,
    })
}

/// A ticket as agents see it; `claim_due_at` is the service target for claiming it.
fn ticket_json(summary: &TicketSummary, config: &Config) -> Value {
    let t = &summary.ticket;
    let due = policy::claim_due_at(
        t.created_at,
        &config.support_hours,
        config.queue.claim_target_minutes,
    );
    json!({
        "id": t.id,
        "status": t.status.as_str(),
        "subject": t.subject,
        "customer": summary.customer_name,
        "channel": t.channel,
        "assignee": summary.assignee_name,
        "reason": t.reason,
        "created_at": rfc3339(t.created_at),
        "claimed_at": t.claimed_at.map(rfc3339),
        "claim_due_at": due.map(rfc3339),
        "resolved_at": t.resolved_at.map(rfc3339),
        "csat": t.csat,
    })
}

fn previous_json(t: &Ticket) -> Value {
    json!({
        "id": t.id,
        "status": t.status.as_str(),
        "subject": t.subject,
        "created_at": rfc3339(t.created_at),
        "csat": t.csat,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
}

async fn list_tickets(
    State(state): State<WebState>,
    _agent: AuthAgent,
    Q(query): Q<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let queue = match query.status.as_deref() {
        None | Some("") => Queue::Active,
        Some("open") => Queue::Open,
        Some("assigned") => Queue::Assigned,
        Some("closed") => Queue::Closed,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("unknown status '{other}': use open, assigned or closed"),
            ))
        }
    };
    let tickets = state.desk.list(queue).await?;
    let config = &state.services.config;
    let tickets: Vec<Value> = tickets.iter().map(|t| ticket_json(t, config)).collect();
    Ok(Json(json!({ "tickets": tickets })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    #[serde(default = "default_report_days")]
    days: u32,
    #[serde(default = "default_report_top")]
    top: usize,
}

fn default_report_days() -> u32 {
    7
}

fn default_report_top() -> usize {
    20
}

/// What `frontline report` prints, for the console: the last `days` days up to now.
async fn report(
    State(state): State<WebState>,
    _agent: AuthAgent,
    Q(query): Q<ReportQuery>,
) -> Result<Json<report::Report>, ApiError> {
    if !(1..=report::MAX_DAYS).contains(&query.days) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("days must be 1 to {}", report::MAX_DAYS),
        ));
    }
    let (from, to) = report::last_days(state.services.now(), query.days);
    let top = query.top.min(200);
    Ok(Json(
        report::build(
            state.services.store.as_ref(),
            &state.services.config,
            from,
            to,
            top,
        )
        .await?,
    ))
}

/// The signed-in agent, so the console knows which tickets are theirs.
async fn me(AuthAgent(agent): AuthAgent) -> Json<Value> {
    Json(json!({ "id": agent.id, "name": agent.name }))
}

async fn ticket_detail(
    State(state): State<WebState>,
    _agent: AuthAgent,
    TicketId(id): TicketId,
) -> Result<Json<Value>, ApiError> {
    let TicketDetail {
        summary,
        transcript,
        previous_tickets,
    } = state.desk.detail(id).await?;
    let mut body = ticket_json(&summary, &state.services.config);
    body["transcript"] = transcript.iter().map(line_json).collect();
    body["context"] = json!({
        "intents": summary.ticket.intents,
        "previous_tickets": previous_tickets.iter().map(previous_json).collect::<Vec<_>>(),
    });
    Ok(Json(body))
}

async fn claim(
    State(state): State<WebState>,
    AuthAgent(agent): AuthAgent,
    TicketId(id): TicketId,
) -> Result<Json<Value>, ApiError> {
    let ticket = state.desk.claim(&agent, id).await?;
    Ok(Json(
        json!({ "id": ticket.id, "status": ticket.status.as_str(), "assignee": agent.name }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentMessage {
    text: String,
    #[serde(default)]
    internal: bool,
}

async fn agent_message(
    State(state): State<WebState>,
    AuthAgent(agent): AuthAgent,
    TicketId(id): TicketId,
    Json(body): Json<AgentMessage>,
) -> Result<Response, ApiError> {
    let line = state
        .desk
        .reply(&agent, id, &body.text, body.internal)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "seq": line.id }))).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CloseBody {
    #[serde(default)]
    reason: String,
}

async fn close(
    State(state): State<WebState>,
    AuthAgent(agent): AuthAgent,
    TicketId(id): TicketId,
    OptionalJson(CloseBody { reason }): OptionalJson<CloseBody>,
) -> Result<Json<Value>, ApiError> {
    let ticket = state.desk.close(&agent, id, &reason).await?;
    Ok(Json(
        json!({ "id": ticket.id, "status": ticket.status.as_str() }),
    ))
}
