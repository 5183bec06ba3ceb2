//! Events mode: `POST /slack/events` and `POST /slack/interactivity` on the bot's HTTP server.
//!
//! Every request is checked against `SLACK_SIGNING_SECRET` with the application's clock, and any
//! failure is a bare 401. `url_verification` is answered with its challenge. Anything else is
//! handed to the inbox in a task of its own; the answer waits for it at most
//! [`ANSWER_WITHIN`], so Slack always hears back within its 3 seconds, and the work goes on
//! after the answer if it must. An event that could not be stored in that time (the database
//! unavailable) is answered 503, so Slack sends it again. A retried request (`X-Slack-Retry-Num`) is handled like the
//! first: the inbox drops the duplicate (same channel + `ts`, or action id + `action_ts`).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use super::adapter::Shared;
use super::events::{interactivity_form_payload, parse_event_body, parse_interactive, Parsed};
use super::inbound::NotStored;
use super::signature;
use crate::core::inbox::Inbox;

/// How long a request waits for its event to be stored before it is answered anyway.
pub const ANSWER_WITHIN: Duration = Duration::from_millis(2500);

pub(super) fn routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/slack/events", post(events))
        .route("/slack/interactivity", post(interactivity))
        .with_state(shared)
}

fn verified(s: &Shared, headers: &HeaderMap, body: &[u8]) -> Result<(), StatusCode> {
    signature::verify_request(&s.signing_secret, headers, body, s.clock.now_ms()).map_err(|e| {
        tracing::warn!(error = %e, "slack: request refused");
        StatusCode::UNAUTHORIZED
    })
}

async fn events(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refused) = verified(&s, &headers, &body) {
        return refused.into_response();
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if let Some(n) = signature::retry_num(&headers) {
        tracing::debug!(retry = n, event = ?body["event_id"].as_str(), "slack: retried event");
    }
    if body["type"].as_str() == Some("url_verification") {
        return match body["challenge"].as_str() {
            Some(challenge) => axum::Json(json!({ "challenge": challenge })).into_response(),
            None => StatusCode::BAD_REQUEST.into_response(),
        };
    }
    in_background(s, move |s, inbox| async move {
        let parsed = parse_event_body(&body, &s.identity().await);
        s.on_parsed(&inbox, parsed).await
    })
    .await
}

async fn interactivity(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refused) = verified(&s, &headers, &body) {
        return refused.into_response();
    }
    let Some(payload) = interactivity_form_payload(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let parsed = parse_interactive(&payload);
    if matches!(parsed, Parsed::Ignored(_)) {
        return StatusCode::OK.into_response();
    }
    in_background(s, move |s, inbox| async move {
        s.on_parsed(&inbox, parsed).await
    })
    .await
}

/// Runs `work` once the adapter's connection has started (and with it the inbox), answering
/// 200 when it is done or when [`ANSWER_WITHIN`] has passed, whichever comes first; 503 when
/// it is done but the event could not be stored, so that Slack sends it again.
async fn in_background<F, Fut>(s: Arc<Shared>, work: F) -> Response
where
    F: FnOnce(Arc<Shared>, Arc<dyn Inbox>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), NotStored>> + Send + 'static,
{
    let mut ready = s.inbox.subscribe();
    let task = tokio::spawn(async move {
        let inbox = match ready.wait_for(Option::is_some).await {
            Ok(inbox) => inbox.clone().expect("waited for Some"),
            Err(_) => return Ok(()),
        };
        work(s, inbox).await
    });
    match tokio::time::timeout(ANSWER_WITHIN, task).await {
        Ok(Ok(Err(NotStored))) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Ok(_) => StatusCode::OK.into_response(),
        Err(_) => {
            tracing::warn!(
                "slack: answered an event before it was handled; it goes on in the background"
            );
            StatusCode::OK.into_response()
        }
    }
}
