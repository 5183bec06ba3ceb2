//! The platform seam. Each platform adapter (the web chat, Discord, Slack) plugs in through up to
//! three traits:
//! - [`Adapter`]: its connection (a gateway, a socket) or HTTP routes, run until shutdown, handing
//!   neutral [`Inbound`](crate::core::message::Inbound) events to the core's
//!   [`Inbox`](crate::core::inbox::Inbox) port;
//! - [`CustomerChannel`]: puts outbox rows in front of customers, rendering choices as buttons;
//! - [`AgentDesk`]: where ticket cards and threads live, fed with
//!   [`DeskEvent`](crate::core::desk_event::DeskEvent)s.
//!
//! Nothing outside `channels/` knows a platform exists; platform-free pieces adapters share
//! (message splitting) live beside the traits.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::watch;

use crate::core::card::Card;
use crate::core::choice::Choice;
use crate::core::desk_event::{CardRef, DeskEvent};
use crate::core::inbox::Inbox;
use crate::core::message::Author;

#[cfg(feature = "discord")]
pub mod discord;
pub mod lease;
#[cfg(feature = "slack")]
pub mod slack;
pub mod split;
pub mod web;

/// One message to put in front of a customer.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub outbox_id: i64,
    pub conversation_id: i64,
    /// The conversation's `reply_to` on this channel.
    pub recipient: String,
    pub author: Author,
    pub author_name: Option<String>,
    pub text: String,
    /// Buttons to offer; the text lists them too.
    pub choices: Vec<Choice>,
}

/// What the platform said when it accepted a delivery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivered {
    /// The platform's id for the (last) message it created, when it has one.
    pub message_ref: Option<String>,
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

/// A ticket event to put on the desk platform.
#[derive(Debug, Clone, PartialEq)]
pub struct DeskDelivery {
    pub outbox_id: i64,
    pub event: DeskEvent,
    /// The transcript line the event carries (the customer's words, an agent's reply, a note,
    /// frontline's status line) and who wrote it.
    pub author: Author,
    pub author_name: Option<String>,
    pub text: String,
    /// The ticket as it stands now.
    pub card: Card,
    /// Where the card already is on this platform; `None` before it was posted.
    pub card_ref: Option<CardRef>,
    /// The event is a service-level reminder: the adapter may mention the agent role (Discord)
    /// or group (Slack) with it, and nobody else. False for everything else, which is posted
    /// without any mention.
    pub ping_agents: bool,
}

#[async_trait]
pub trait CustomerChannel: Send + Sync + 'static {
    /// The name conversations on this channel carry ("web", "discord", "slack").
    fn name(&self) -> &str;
    /// Puts the message on the platform; `Ok` only once the platform accepted it.
    async fn deliver(&self, delivery: &Delivery) -> Result<Delivered, DeliveryError>;
    /// True when customers read the transcript itself, so a line is delivered the moment it
    /// commits and needs no outbox row (the web chat).
    fn delivered_on_commit(&self) -> bool {
        false
    }
}

#[async_trait]
pub trait AgentDesk: Send + Sync + 'static {
    /// The `[desk] platform` name it serves.
    fn name(&self) -> &str;
    /// Shows the event on the platform: posts the card and its thread when there is none yet
    /// (returning where they are, to be stored), edits the card when the event changes it, and
    /// posts the line in the thread.
    async fn publish(&self, delivery: &DeskDelivery) -> Result<Option<CardRef>, DeliveryError>;
}

/// Why an adapter stopped before it was asked to.
#[derive(Debug, thiserror::Error)]
#[error("{platform}: {message}")]
pub struct AdapterError {
    pub platform: String,
    pub message: String,
}

/// A platform's connection: started by the application with the inbox port and the shutdown
/// signal, like every other adapter.
#[async_trait]
pub trait Adapter: Send + Sync + 'static {
    fn name(&self) -> &str;
    /// Runs until `shutdown` turns true; reconnects on its own after network trouble.
    async fn run(
        self: Arc<Self>,
        inbox: Arc<dyn Inbox>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(), AdapterError>;
    /// HTTP routes to mount on the main listener (webhooks), if any.
    fn routes(&self) -> Option<axum::Router> {
        None
    }
    /// Whether `run` holds a connection to the platform that only one instance sharing the
    /// database may have open (a gateway, a socket); it then runs under a lease (see [`lease`]).
    /// False for adapters that only serve HTTP routes, which every instance mounts.
    fn needs_lease(&self) -> bool {
        true
    }
}

/// The platform adapters an application runs, beside the always-present web chat.
#[derive(Clone, Default)]
pub struct Platforms {
    pub channels: Vec<Arc<dyn CustomerChannel>>,
    pub desks: Vec<Arc<dyn AgentDesk>>,
    pub adapters: Vec<Arc<dyn Adapter>>,
}

impl Platforms {
    /// Adds one platform that serves customers, agents and runs a connection (Discord, Slack).
    pub fn add<P: CustomerChannel + AgentDesk + Adapter>(&mut self, platform: Arc<P>) {
        self.channels.push(platform.clone());
        self.desks.push(platform.clone());
        self.adapters.push(platform);
    }
}

/// The platform adapters `config` enables (checked beforehand by `Config::validate`).
/// `clock` is the application's (Slack checks request signatures against it).
pub fn configured(
    config: &crate::config::Config,
    clock: Arc<dyn crate::clock::Clock>,
) -> Result<Platforms, String> {
    #[allow(unused_mut)]
    let mut platforms = Platforms::default();
    #[cfg(feature = "discord")]
    if config.discord.enabled {
        let discord = discord::Discord::new(&config.discord).map_err(|e| e.to_string())?;
        platforms.add(Arc::new(discord));
    }
    #[cfg(feature = "slack")]
    if config.slack.enabled {
        let slack = slack::Slack::new(&config.slack, clock.clone()).map_err(|e| e.to_string())?;
        platforms.add(Arc::new(slack));
    }
    let _ = (config, clock);
    Ok(platforms)
}
