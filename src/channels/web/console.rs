//! The agents' side of the web API, used by the console page: the queue, a ticket with its
//! context, and claim, reply, note and close through the desk.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{ApiError, AuthAgent, Json, OptionalJson, TicketId, Q};
use super::chat::line_json;
use super::WebState;
use crate::clock::rfc3339;
use crate::config::Config;
use crate::core::desk::{first_reply_due_at, Filter, Message, Queue, TicketDetail};
use crate::core::policy;
use crate::core::ticket::{normalize_tag, Priority, Ticket, TicketSummary};

/// Where a ticket stands against its first-reply target: "met" (an agent replied), "breached",
/// "due_soon" (past `[sla] remind_at` of it: the console highlights it), "ok", or "none" (no
/// target).
fn sla_state(t: &Ticket, config: &Config, now: i64) -> &'static str {
    if t.breached_at.is_some() {
        return "breached";
    }
    if t.first_reply_at.is_some() {
        return "met";
    }
    let Some(due) = first_reply_due_at(config, t) else {
        return "none";
    };
    if t.status.is_done() {
        return "ok";
    }
    if now >= due {
        return "breached";
    }
    let target = config.sla.first_reply_minutes.of(t.priority) * 60_000;
    let early = (target as f64 * config.sla.remind_at) as i64;
    let remind = config.support_hours.add_support_time(t.created_at, early);
    if config.sla.remind_at > 0.0 && now >= remind {
        "due_soon"
    } else {
        "ok"
    }
}

/// A ticket as agents see it; `claim_due_at` is the service target for claiming it,
/// `first_reply_due_at` the one for the first reply (by priority) and `sla` where it stands.
fn ticket_json(summary: &TicketSummary, config: &Config, now: i64) -> Value {
    let t = &summary.ticket;
    let due = policy::claim_due_at(
        t.created_at,
        &config.support_hours,
        config.queue.claim_target_minutes,
    );
    json!({
        "id": t.id,
        "conversation_id": t.conversation_id,
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
        "priority": t.priority.as_str(),
        "tags": t.tags,
        "first_reply_due_at": first_reply_due_at(config, t).map(rfc3339),
        "first_reply_at": t.first_reply_at.map(rfc3339),
        "breached_at": t.breached_at.map(rfc3339),
        "sla": sla_state(t, config, now),
        "closed_by": t.closed_by,
    })
}

/// An earlier ticket of the customer: what it was about, how it ended and how they rated it.
fn previous_json(t: &Ticket) -> Value {
    json!({
        "id": t.id,
        "status": t.status.as_str(),
        "subject": t.subject,
        "created_at": rfc3339(t.created_at),
        "outcome": crate::core::export::outcome(t),
        "csat": t.csat,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    status: Option<String>,
    tag: Option<String>,
    priority: Option<String>,
}

pub(super) async fn list_tickets(
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
    let mut filter = Filter::default();
    if let Some(tag) = query.tag.as_deref().filter(|t| !t.is_empty()) {
        filter.tag = Some(normalize_tag(tag).ok_or_else(|| {
            ApiError::new(StatusCode::BAD_REQUEST, format!("'{tag}' is not a tag"))
        })?);
    }
    if let Some(p) = query.priority.as_deref().filter(|p| !p.is_empty()) {
        filter.priority = Some(Priority::parse(p).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("unknown priority '{p}': use low, normal, high or urgent"),
            )
        })?);
    }
    let tickets = state.desk.list_filtered(queue, &filter).await?;
    let config = &state.services.config;
    let now = state.services.now();
    let tickets: Vec<Value> = tickets
        .iter()
        .map(|t| ticket_json(t, config, now))
        .collect();
    Ok(Json(json!({ "tickets": tickets })))
}

/// The signed-in agent, so the console knows which tickets are theirs.
pub(super) async fn me(AuthAgent(agent): AuthAgent) -> Json<Value> {
    Json(json!({ "id": agent.id, "name": agent.name }))
}

pub(super) async fn ticket_detail(
    State(state): State<WebState>,
    _agent: AuthAgent,
    TicketId(id): TicketId,
) -> Result<Json<Value>, ApiError> {
    let TicketDetail {
        summary,
        transcript,
        previous_tickets,
    } = state.desk.detail(id).await?;
    let mut body = ticket_json(&summary, &state.services.config, state.services.now());
    body["transcript"] = transcript.iter().map(line_json).collect();
    body["context"] = json!({
        "intents": summary.ticket.intents,
        "previous_tickets": previous_tickets.iter().map(previous_json).collect::<Vec<_>>(),
    });
    Ok(Json(body))
}

pub(super) async fn claim(
    State(state): State<WebState>,
    AuthAgent(agent): AuthAgent,
    TicketId(id): TicketId,
) -> Result<Json<Value>, ApiError> {
    let ticket = state.desk.claim(&agent, id).await?;
    Ok(Json(
        json!({ "id": ticket.id, "status": ticket.status.as_str(), "assignee": agent.name }),
    ))
}

/// `{"text", "internal"}`, `{"text", "anonymous": true}` or `{"snippet": NAME}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AgentMessage {
    text: Option<String>,
    #[serde(default)]
    internal: bool,
    #[serde(default)]
    anonymous: bool,
    snippet: Option<String>,
}

pub(super) async fn agent_message(
    State(state): State<WebState>,
    AuthAgent(agent): AuthAgent,
    TicketId(id): TicketId,
    Json(body): Json<AgentMessage>,
) -> Result<Response, ApiError> {
    let bad = |m: &str| ApiError::new(StatusCode::BAD_REQUEST, m);
    let message = match (body.text, body.snippet) {
        (Some(_), Some(_)) => return Err(bad("send either text or a snippet, not both")),
        (None, None) => return Err(bad("the body needs text or a snippet")),
        (None, Some(name)) if !body.internal && !body.anonymous => Message::Snippet(name),
        (None, Some(_)) => return Err(bad("a snippet is sent as a plain reply")),
        (Some(_), None) if body.internal && body.anonymous => {
            return Err(bad(
                "a note is never shown to the customer: it cannot be anonymous",
            ))
        }
        (Some(text), None) if body.internal => Message::Note(text),
        (Some(text), None) if body.anonymous => Message::Anonymous(text),
        (Some(text), None) => Message::Reply(text),
    };
    let line = state.desk.send(&agent, id, message).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "seq": line.id }))).into_response())
}

/// What the ticket actions answer: the ticket as it now stands.
async fn ticket_now(state: &WebState, id: i64) -> Result<Json<Value>, ApiError> {
    let detail = state.desk.detail(id).await?;
    Ok(Json(ticket_json(
        &detail.summary,
        &state.services.config,
        state.services.now(),
    )))
}

pub(super) async fn release(
    State(state): State<WebState>,
    AuthAgent(agent): AuthAgent,
    TicketId(id): TicketId,
) -> Result<Json<Value>, ApiError> {
    state.desk.release(&agent, id).await?;
    ticket_now(&state, id).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TransferBody {
    /// An agent id or an unambiguous name.
    agent: serde_json::Value,
}

pub(super) async fn transfer(
    State(state): State<WebState>,
    AuthAgent(agent): AuthAgent,
    TicketId(id): TicketId,
    Json(body): Json<TransferBody>,
) -> Result<Json<Value>, ApiError> {
    let to = match body.agent {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "agent must be an agent id or name",
            ))
        }
    };
    state.desk.transfer(&agent, id, &to).await?;
    ticket_now(&state, id).await
}

pub(super) async fn reopen(
    State(state): State<WebState>,
    AuthAgent(agent): AuthAgent,
    TicketId(id): TicketId,
) -> Result<Json<Value>, ApiError> {
    state.desk.reopen(&agent, id).await?;
    ticket_now(&state, id).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PriorityBody {
    priority: String,
}

pub(super) async fn priority(
    State(state): State<WebState>,
    AuthAgent(agent): AuthAgent,
    TicketId(id): TicketId,
    Json(body): Json<PriorityBody>,
) -> Result<Json<Value>, ApiError> {
    state.desk.set_priority(&agent, id, &body.priority).await?;
    ticket_now(&state, id).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TagsBody {
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

pub(super) async fn tags(
    State(state): State<WebState>,
    AuthAgent(agent): AuthAgent,
    TicketId(id): TicketId,
    Json(body): Json<TagsBody>,
) -> Result<Json<Value>, ApiError> {
    state.desk.tag(&agent, id, &body.add, &body.remove).await?;
    ticket_now(&state, id).await
}

pub(super) async fn block(
    State(state): State<WebState>,
    AuthAgent(agent): AuthAgent,
    TicketId(id): TicketId,
) -> Result<Json<Value>, ApiError> {
    state.desk.set_blocked(&agent, id, true).await?;
    ticket_now(&state, id).await
}

pub(super) async fn unblock(
    State(state): State<WebState>,
    AuthAgent(agent): AuthAgent,
    TicketId(id): TicketId,
) -> Result<Json<Value>, ApiError> {
    state.desk.set_blocked(&agent, id, false).await?;
    ticket_now(&state, id).await
}

/// Blocked customers.
pub(super) async fn blocks(
    State(state): State<WebState>,
    _agent: AuthAgent,
) -> Result<Json<Value>, ApiError> {
    let blocked: Vec<Value> = state
        .desk
        .blocked()
        .await?
        .iter()
        .map(|c| {
            json!({
                "customer_id": c.id,
                "channel": c.channel,
                "name": c.display_name,
                "blocked_at": c.blocked_at.map(rfc3339),
            })
        })
        .collect();
    Ok(Json(json!({ "blocks": blocked })))
}

/// The snippets agents may send, read afresh (a broken one is a 400 naming FILE:LINE).
pub(super) async fn snippets(
    State(state): State<WebState>,
    _agent: AuthAgent,
) -> Result<Json<Value>, ApiError> {
    let snippets: Vec<Value> = state
        .desk
        .snippets()?
        .into_iter()
        .map(|s| json!({ "name": s.name, "text": s.text }))
        .collect();
    Ok(Json(json!({ "snippets": snippets })))
}

/// A conversation's transcript, notes included, for agents (the report links here).
pub(super) async fn conversation(
    State(state): State<WebState>,
    _agent: AuthAgent,
    ConversationId(id): ConversationId,
) -> Result<Json<Value>, ApiError> {
    let (conv, lines) = state.desk.conversation(id).await?;
    Ok(Json(json!({
        "id": conv.id,
        "channel": conv.channel,
        "state": conv.state.as_str(),
        "ticket_id": conv.ticket_id,
        "created_at": rfc3339(conv.created_at),
        "transcript": lines.iter().map(line_json).collect::<Vec<_>>(),
    })))
}

/// The `{id}` of a conversation route; anything but a number names no conversation: 404.
pub(super) struct ConversationId(i64);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ConversationId {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let TicketId(id) = TicketId::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "conversation not found"))?;
        Ok(ConversationId(id))
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct CloseBody {
    #[serde(default)]
    reason: String,
}

pub(super) async fn close(
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
