//! Customers' data rights through the agent API, for admin agents (`frontline agents add NAME
//! --admin`): export everything stored about a customer, or erase it. Other agents get 403.

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{json, Value};

use super::api::{ApiError, AuthAgent, CustomerId, Json};
use super::WebState;
use crate::core::privacy;

async fn require_admin(state: &WebState, agent: &AuthAgent) -> Result<(), ApiError> {
    let mut tx = state.services.store.read().await?;
    if tx.agent_is_admin(agent.0.id).await? {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "only admin agents may export or erase customers' data",
        ))
    }
}

/// `GET /api/customers/{id}/export`
pub(super) async fn export(
    State(state): State<WebState>,
    agent: AuthAgent,
    CustomerId(id): CustomerId,
) -> Result<Json<Value>, ApiError> {
    require_admin(&state, &agent).await?;
    let document = privacy::export(&state.services, id).await?;
    tracing::info!(agent = agent.0.id, customer = id, "customer data exported");
    Ok(Json(document))
}

/// `DELETE /api/customers/{id}`
pub(super) async fn forget(
    State(state): State<WebState>,
    agent: AuthAgent,
    CustomerId(id): CustomerId,
) -> Result<Json<Value>, ApiError> {
    require_admin(&state, &agent).await?;
    let forgotten = privacy::forget(&state.services, id).await?;
    tracing::info!(agent = agent.0.id, customer = id, "customer data erased");
    Ok(Json(json!({
        "erased": forgotten.identities,
        "tickets_kept": forgotten.tickets_kept,
    })))
}
