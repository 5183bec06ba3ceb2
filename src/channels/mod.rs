//! Channel adapters: each turns its platform's events into [`Inbound`](crate::core::message::Inbound)
//! values for the engine, and delivers outbox rows back to the platform through [`Channel`].

use async_trait::async_trait;

use crate::core::message::Author;

pub mod web;
#[cfg(feature = "slack")] pub mod slack;

/// One message to put on a platform.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub outbox_id: i64,
    pub conversation_id: i64,
    /// The conversation's `reply_to` on this channel.
    pub recipient: String,
    pub author: Author,
    pub author_name: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeliveryError {
    /// Worth trying again later (network, 5xx, rate limit).
    #[error("temporary failure: {message}")]
    Transient {
        message: String,
        retry_after_ms: Option<i64>,
    },
    /// The platform will never accept it (e.g. the customer closed their DMs).
    #[error("permanent failure: {message}")]
    Permanent { message: String },
}

#[async_trait]
pub trait Channel: Send + Sync + 'static {
    /// The name conversations on this channel carry ("web", "discord", "slack").
    fn name(&self) -> &str;
    /// Puts the message on the platform; `Ok` only once the platform accepted it.
    async fn deliver(&self, delivery: &Delivery) -> Result<(), DeliveryError>;
}
