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
use crate::core::desk::{Queue, TicketDetail};
use crate::core::policy;
use crate::core::ticket::{Ticket, TicketSummary};

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
pub(super) struct ListQuery {
    status: Option<String>,
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
    let tickets = state.desk.list(queue).await?;
    let config = &state.services.config;
    let tickets: Vec<Value> = tickets.iter().map(|t| ticket_json(t, config)).collect();
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
    let mut body = ticket_json(&summary, &state.services.config);
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AgentMessage {
    text: String,
    #[serde(default)]
    internal: bool,
}

pub(super) async fn agent_message(
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
