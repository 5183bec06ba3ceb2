//! Routes for operators: `GET /readyz` (ready to serve: database reachable with its tables,
//! intents loaded) beside `/healthz` (the process answers), and `GET /metrics` for Prometheus.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::core::services::Services;

/// `/readyz`, always on the main listener.
pub fn readiness(services: Arc<Services>) -> Router {
    Router::new()
        .route("/readyz", get(readyz))
        .with_state(services)
}

/// `/metrics`, on the main listener or one of its own (`[metrics] bind`).
pub fn metrics(services: Arc<Services>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(services)
}

async fn readyz(State(services): State<Arc<Services>>) -> Response {
    let database = match services.store.read().await {
        // Reading a table proves the connection and the migrations.
        Ok(mut tx) => tx.outbox_backlog().await.map(drop),
        Err(e) => Err(e),
    };
    let intents = !services.matcher.current().is_empty();
    let (status, database) = match (&database, intents) {
        (Ok(()), true) => (StatusCode::OK, "ok".to_string()),
        (Ok(()), false) => (StatusCode::SERVICE_UNAVAILABLE, "ok".to_string()),
        (Err(e), _) => {
            tracing::warn!(error = %e, "readiness check: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "unreachable".to_string())
        }
    };
    let body = json!({
        "status": if status == StatusCode::OK { "ready" } else { "not ready" },
        "database": database,
        "intents": if intents { "loaded" } else { "none" },
    });
    (status, axum::Json(body)).into_response()
}

async fn scrape(State(services): State<Arc<Services>>, headers: HeaderMap) -> Response {
    if let Some(token) = services.config.metrics.token.expose() {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        // Comparing digests keeps the comparison's time independent of how much matched.
        if Sha256::digest(given.as_bytes()) != Sha256::digest(token.as_bytes()) {
            let body = json!({ "error": "missing or invalid bearer token" });
            return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
        }
    }
    match crate::metrics::render(services.store.as_ref(), services.now()).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "metrics: reading the database failed");
            let body = json!({ "error": "could not read the database" });
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
        }
    }
}
