//! The customer's side of the web chat: a session per visitor (an id and a secret token), posting
//! messages into the inbox, and reading the conversation with long polling.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{ApiError, Json, OptionalJson, SessionId, SessionToken, Q};
use super::identity::{verify, IdentityError};
use super::limits::Limits;
use super::new_chats::{NewChat, NewChats};
use super::reads::{ChatReads, SessionRead};
use super::{WebState, WEB};
use crate::clock::rfc3339;
use crate::core::agent::{new_token, token_hash};
use crate::core::message::{Author, Inbound, TranscriptLine};
use crate::store::WebSession;

/// How often a waiting message poll looks at the database even when nothing in this process
/// committed.
const RECHECK: Duration = Duration::from_secs(1);
/// Longest a client may ask a message poll to wait.
const MAX_WAIT_SECS: u64 = 30;

/// The key of a web customer known by signed identity: the same customer, and the same
/// conversation, whatever session or device they write from.
fn identified_key(user_id: &str) -> String {
    format!("user:{user_id}")
}

fn identity_error(e: IdentityError) -> ApiError {
    let status = match e {
        IdentityError::WrongHash => StatusCode::UNAUTHORIZED,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, e.to_string())
}

/// An authenticated chat session and its customer.
struct Chat {
    session: WebSession,
    /// The customer's key: their signed identity's, or the session id for an anonymous visitor.
    /// Their conversations are kept under it.
    key: String,
    name: Option<String>,
}

/// The session `id` if `token` is its token, with its customer, in one read.
async fn session(
    state: &WebState,
    reads: &ChatReads,
    id: &str,
    token: &SessionToken,
) -> Result<Chat, ApiError> {
    authenticate(id, token, reads.session(&state.services, id).await?)
}

/// The chat of session `id`, as read, if `token` is its token.
fn authenticate(id: &str, token: &SessionToken, read: SessionRead) -> Result<Chat, ApiError> {
    let (session, customer) = read.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("chat session {id} not found"),
        )
    })?;
    if session.token_hash != token_hash(&token.0) {
        return Err(ApiError::unauthorized());
    }
    let (key, name) = match customer {
        Some(c) => (c.key, c.name),
        None => (session.id.clone(), None),
    };
    Ok(Chat { session, key, name })
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct NewSession {
    name: Option<String>,
    /// Signed identity: the site's id for its logged-in customer, and the site's HMAC of it.
    user_id: Option<String>,
    user_hash: Option<String>,
    email: Option<String>,
}

pub(super) async fn create_session(
    State(state): State<WebState>,
    Extension(limits): Extension<Arc<Limits>>,
    Extension(new_chats): Extension<Arc<NewChats>>,
    parts: Parts,
    OptionalJson(body): OptionalJson<NewSession>,
) -> Result<Response, ApiError> {
    let client = limits
        .client_ip(&parts)
        .map_or_else(|| "unknown".to_string(), |ip| ip.to_string());
    limits
        .sessions
        .check(&client, state.services.now())
        .map_err(|secs| ApiError::too_many("new chats from this address", secs))?;
    let user_id = verify(
        state.services.config.web.identity_secret.expose(),
        body.user_id.as_deref(),
        body.user_hash.as_deref(),
    )
    .map_err(identity_error)?;
    let email = body
        .email
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty());
    if let Some(e) = &email {
        if user_id.is_none() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "email is taken only with a signed identity (user_id and user_hash)",
            ));
        }
        if e.chars().count() > 254 || !e.contains('@') || e.chars().any(char::is_control) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "email is not an e-mail address",
            ));
        }
    }
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
    let key = user_id
        .as_deref()
        .map_or_else(|| id.clone(), identified_key);
    let customer = new_chats
        .open(
            &state.engine,
            NewChat {
                key,
                name,
                email,
                session_id: id.clone(),
                token_hash: token_hash(&token),
                now,
            },
        )
        .await?;
    // A returning customer the site vouches for is greeted by the name they are known by.
    let greeting = match (&user_id, &customer.display_name) {
        (Some(_), Some(name)) => Some(state.services.render(
            &state.services.config.templates.welcome_back,
            &[("customer.name", name.clone())],
        )),
        _ => None,
    };
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "session_id": id,
            "token": token,
            "identified": user_id.is_some(),
            "greeting": greeting,
        })),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewMessage {
    text: String,
    client_id: Option<String>,
}

pub(super) async fn post_message(
    State(state): State<WebState>,
    Extension(limits): Extension<Arc<Limits>>,
    Extension(reads): Extension<Arc<ChatReads>>,
    SessionId(id): SessionId,
    token: SessionToken,
    Json(body): Json<NewMessage>,
) -> Result<Response, ApiError> {
    let Chat { session, key, name } = session(&state, &reads, &id, &token).await?;
    // After authentication, so nobody can use up someone else's allowance without their token,
    // and before anything is stored.
    limits
        .messages
        .check(&session.id, state.services.now())
        .map_err(|secs| ApiError::too_many("messages in this chat", secs))?;
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
            customer_key: key.clone(),
            customer_name: name,
            conversation_key: key.clone(),
            reply_to: key,
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
pub(super) struct Poll {
    #[serde(default)]
    after: i64,
    #[serde(default)]
    wait: u64,
}

pub(super) async fn get_messages(
    State(state): State<WebState>,
    Extension(reads): Extension<Arc<ChatReads>>,
    SessionId(id): SessionId,
    token: SessionToken,
    Q(poll): Q<Poll>,
) -> Result<Json<Value>, ApiError> {
    // The session and its chat's new lines in one read; a session without a customer has its
    // lines read below.
    let (read, lines) = match reads.poll(&state.services, WEB, &id, poll.after).await? {
        Some((session, customer, lines)) => (Some((session, customer)), lines),
        None => (None, None),
    };
    let key = authenticate(&id, &token, read)?.key;
    if let Some(lines) = lines.filter(|lines| !lines.is_empty() || poll.wait == 0) {
        return Ok(messages_json(&lines));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(poll.wait.min(MAX_WAIT_SECS));
    // Subscribed before the lines are read again, so a commit in between still wakes the poll.
    let mut changes = state.services.subscribe(WEB, &key);
    loop {
        let lines = reads.lines(&state.services, WEB, &key, poll.after).await?;
        if !lines.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok(messages_json(&lines));
        }
        // A commit in this process that wrote to this chat wakes the poll at once; one made by
        // another instance sharing the database is seen at the next look.
        let look_again = tokio::time::Instant::now() + RECHECK;
        let _ = tokio::time::timeout_at(deadline.min(look_again), changes.changed()).await;
    }
}

fn messages_json(lines: &[TranscriptLine]) -> Json<Value> {
    Json(json!({ "messages": lines.iter().map(line_json).collect::<Vec<_>>() }))
}

pub(super) fn line_json(line: &TranscriptLine) -> Value {
    json!({
        "seq": line.id,
        "from": line.author.as_str(),
        "author": if line.author == Author::Bot { None } else { line.author_name.clone() },
        "text": line.text,
        "at": rfc3339(line.at),
        "choices": line.choices,
    })
}
