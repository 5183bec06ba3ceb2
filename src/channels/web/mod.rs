//! The web channel: the customer chat API, the agent API and the two pages that use them.
//!
//! - [`api`]: what every route shares: JSON bodies and errors, path and query extractors, and
//!   bearer-token authentication of agents and chat sessions;
//! - [`chat`]: the customer's chat (sessions, messages, long polling), with [`reads`] batching
//!   the reads its requests make;
//! - [`console`]: the agents' queue and ticket actions;
//! - [`report`]: the "How we did" figures for the console.
//!
//! Web-chat customers read their conversation straight from the transcript (long polling), so
//! a line is delivered when it commits and gets no outbox row
//! ([`CustomerChannel::delivered_on_commit`]).

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::StatusCode;
use axum::response::Redirect;
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use crate::channels::{CustomerChannel, Delivered, Delivery, DeliveryError};
use crate::core::desk::Desk;
use crate::core::engine::Engine;
use crate::core::services::Services;

pub mod api;
mod chat;
mod console;
mod customers;
pub mod identity;
pub mod limits;
mod new_chats;
pub mod pages;
mod reads;
mod report;

use api::{ApiError, Json};

/// Channel name of web-chat conversations.
pub const WEB: &str = "web";

pub struct WebChannel;

#[async_trait]
impl CustomerChannel for WebChannel {
    fn name(&self) -> &str {
        WEB
    }

    /// Rows queued before lines were delivered on commit are accepted as they come.
    async fn deliver(&self, _delivery: &Delivery) -> Result<Delivered, DeliveryError> {
        Ok(Delivered::default())
    }

    fn delivered_on_commit(&self) -> bool {
        true
    }
}

#[derive(Clone)]
pub struct WebState {
    pub services: Arc<Services>,
    pub engine: Engine,
    pub desk: Desk,
}

pub fn router(state: WebState) -> Router {
    let limits = Arc::new(limits::Limits::new(&state.services.config.http));
    let chat_page = pages::Page::chat(&state.services.config);
    let agent_page = pages::Page::agent();
    Router::new()
        .route("/", get(|| async { Redirect::to("/chat") }))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/chat", get(move || async move { chat_page }))
        .route("/agent", get(move || async move { agent_page }))
        .route("/widget.js", get(pages::widget))
        .route("/api/chat/sessions", post(chat::create_session))
        .route(
            "/api/chat/sessions/{id}/messages",
            post(chat::post_message).get(chat::get_messages),
        )
        .route("/api/me", get(console::me))
        .route("/api/tickets", get(console::list_tickets))
        .route("/api/tickets/{id}", get(console::ticket_detail))
        .route("/api/tickets/{id}/claim", post(console::claim))
        .route("/api/tickets/{id}/messages", post(console::agent_message))
        .route("/api/tickets/{id}/close", post(console::close))
        .route("/api/tickets/{id}/release", post(console::release))
        .route("/api/tickets/{id}/transfer", post(console::transfer))
        .route("/api/tickets/{id}/reopen", post(console::reopen))
        .route("/api/tickets/{id}/priority", post(console::priority))
        .route("/api/tickets/{id}/tags", post(console::tags))
        .route("/api/tickets/{id}/block", post(console::block))
        .route("/api/tickets/{id}/unblock", post(console::unblock))
        .route("/api/blocks", get(console::blocks))
        .route("/api/snippets", get(console::snippets))
        .route("/api/conversations/{id}", get(console::conversation))
        .route("/api/report", get(report::report))
        .route(
            "/api/customers/{id}",
            axum::routing::delete(customers::forget),
        )
        .route("/api/customers/{id}/export", get(customers::export))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such page or API route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "this route does not take that method",
            )
        })
        .layer(axum::Extension(limits))
        .layer(axum::Extension(Arc::new(new_chats::NewChats::default())))
        .layer(axum::Extension(Arc::new(reads::ChatReads::default())))
        .layer(axum::middleware::from_fn(pages::security_headers))
        .with_state(state)
}
