//! The Discord adapter, on the serenity client: customers in DMs and in support channels (each
//! conversation in a thread made from its first message), agents in ticket threads made from
//! cards in the staff channel.
//!
//! - [`render`]: buttons, names and error mapping, tested without a connection;
//! - [`events`]: the gateway side: events turned into [`Inbound`]s, button presses, and the
//!   recovery of what was written while the bot was away;
//! - this file: the [`Discord`] adapter and its three seam traits (deliveries to customers,
//!   ticket events to the desk, the connection).
//!
//! Every message the bot sends carries an empty `allowed_mentions`, so relayed text can never
//! ping anyone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serenity::all::{
    ChannelId, CreateAllowedMentions, CreateMessage, CreateThread, EditMessage, GatewayIntents,
    Http, HttpBuilder, MessageId,
};
use tokio::sync::watch;

use crate::channels::split::split;
use crate::channels::{
    Adapter, AdapterError, AgentDesk, CustomerChannel, Delivered, Delivery, DeliveryError,
    DeskDelivery,
};
use crate::config::DiscordConfig;
use crate::core::desk_event::{thread_line, CardRef};
use crate::core::inbox::Inbox;

pub mod events;
pub mod render;

/// Channel name of Discord conversations and desk platform name.
pub const DISCORD: &str = "discord";

/// Why the adapter could not be set up from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("discord.{key}: '{value}' is not a Discord id (digits only)")]
    BadId { key: &'static str, value: String },
    #[error("DISCORD_TOKEN is not set")]
    NoToken,
}

/// The ids the adapter works with, parsed from `[discord]`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub staff_channel: Option<u64>,
    pub agent_role: Option<u64>,
    pub support_channels: Vec<u64>,
}

fn parse_id(key: &'static str, value: &str) -> Result<Option<u64>, SetupError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    value
        .parse::<u64>()
        .ok()
        .filter(|id| *id > 0)
        .map(Some)
        .ok_or_else(|| SetupError::BadId {
            key,
            value: value.to_string(),
        })
}

impl Settings {
    pub fn from_config(config: &DiscordConfig) -> Result<Self, SetupError> {
        Ok(Self {
            staff_channel: parse_id("staff_channel_id", &config.staff_channel_id)?,
            agent_role: parse_id("agent_role_id", &config.agent_role_id)?,
            support_channels: config
                .support_channel_ids
                .iter()
                .map(|c| parse_id("support_channel_ids", c))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .flatten()
                .collect(),
        })
    }
}

pub struct Discord {
    settings: Settings,
    token: String,
    api_base: Option<String>,
    /// For deliveries, which happen whether or not the gateway is connected.
    http: Arc<Http>,
    /// Threads made for support-channel conversations, so each is made once per process.
    made_threads: Mutex<std::collections::HashSet<u64>>,
    /// What each channel seen is (a DM, or a guild channel and its parent), looked up once.
    places: Mutex<HashMap<u64, events::Place>>,
    /// Messages already accepted for an outbox row still being worked on: the pieces of a split
    /// text, a ticket's card. When a later piece (or the card's thread) fails and the row is
    /// retried, only what is missing is sent, so nothing reaches Discord twice.
    sent: Mutex<HashMap<SentKey, Vec<MessageId>>>,
}

/// An outbox row and which of its messages: the text, or a ticket's card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SentKey {
    outbox_id: i64,
    card: bool,
}

/// A Discord REST client that never pings: every message defaults to no allowed mentions. Off
/// the real Discord (a test fake) the ratelimiter is disabled so the proxy base is used.
fn http_client(token: &str, api_base: Option<&str>) -> Http {
    let mut builder =
        HttpBuilder::new(token).default_allowed_mentions(CreateAllowedMentions::new());
    if let Some(base) = api_base {
        builder = builder.proxy(base).ratelimiter_disabled(true);
    }
    builder.build()
}

impl Discord {
    pub fn new(config: &DiscordConfig) -> Result<Self, SetupError> {
        let token = config
            .token
            .expose()
            .ok_or(SetupError::NoToken)?
            .to_string();
        let api_base = config.custom_api_base().map(str::to_string);
        Ok(Self {
            settings: Settings::from_config(config)?,
            http: Arc::new(http_client(&token, api_base.as_deref())),
            token,
            api_base,
            made_threads: Mutex::default(),
            places: Mutex::default(),
            sent: Mutex::default(),
        })
    }

    /// Sends `text` (split to Discord's limit) to a channel, the buttons on the last piece;
    /// returns the last message's id. With a `key`, pieces a failed earlier attempt already sent
    /// are skipped.
    async fn send(
        &self,
        channel: ChannelId,
        text: &str,
        rows: Vec<serenity::all::CreateActionRow>,
        key: Option<SentKey>,
        ping_role: Option<u64>,
    ) -> Result<MessageId, serenity::Error> {
        let pieces = split(text, render::MAX_CONTENT);
        let last = pieces.len() - 1;
        let done = key
            .and_then(|k| self.sent.lock().unwrap().get(&k).cloned())
            .unwrap_or_default();
        let mut id = None;
        for (i, piece) in pieces.into_iter().enumerate() {
            if let Some(sent) = done.get(i) {
                id = Some(*sent);
                continue;
            }
            // Nothing pings, but the agent role on the first piece of a reminder to agents.
            let (piece, mentions) = match ping_role {
                Some(role) if i == 0 => (
                    format!("<@&{role}> {piece}"),
                    CreateAllowedMentions::new().roles(vec![serenity::all::RoleId::new(role)]),
                ),
                _ => (piece, CreateAllowedMentions::new()),
            };
            let mut message = CreateMessage::new()
                .content(piece)
                .allowed_mentions(mentions);
            if i == last && !rows.is_empty() {
                message = message.components(rows.clone());
            }
            let sent = channel.send_message(&self.http, message).await?.id;
            if let Some(k) = key {
                self.sent.lock().unwrap().entry(k).or_default().push(sent);
            }
            id = Some(sent);
        }
        Ok(id.expect("split returns at least one piece"))
    }

    /// Forgets what was sent for a row once its outcome is final (delivered or given up).
    fn settle<T>(&self, outbox_id: i64, result: &Result<T, DeliveryError>) {
        if !matches!(result, Err(DeliveryError::Transient { .. })) {
            let mut sent = self.sent.lock().unwrap();
            for card in [false, true] {
                sent.remove(&SentKey { outbox_id, card });
            }
        }
    }

    /// The channel to post to for a conversation's `reply_to`: a DM or thread id as is, or
    /// `thread:PARENT:MESSAGE` for a support-channel conversation whose thread is made from the
    /// customer's first message on first use.
    async fn reply_channel(&self, reply_to: &str) -> Result<ChannelId, DeliveryError> {
        let permanent = |message: String| DeliveryError::Permanent { message };
        if let Some(rest) = reply_to.strip_prefix("thread:") {
            let (parent, message) = rest
                .split_once(':')
                .and_then(|(p, m)| Some((p.parse::<u64>().ok()?, m.parse::<u64>().ok()?)))
                .ok_or_else(|| permanent(format!("malformed Discord reply_to '{reply_to}'")))?;
            if !self.made_threads.lock().unwrap().contains(&message) {
                let made = ChannelId::new(parent)
                    .create_thread_from_message(
                        &self.http,
                        MessageId::new(message),
                        CreateThread::new(render::thread_name("Support")),
                    )
                    .await;
                match made {
                    Ok(_) => {}
                    // Made before this process started.
                    Err(e)
                        if render::http_failure(&e).map(|f| f.1)
                            == Some(render::THREAD_ALREADY_EXISTS) => {}
                    Err(e) => return Err(render::delivery_error(&e)),
                }
                self.made_threads.lock().unwrap().insert(message);
            }
            // A thread made from a message has the message's id.
            return Ok(ChannelId::new(message));
        }
        reply_to
            .parse::<u64>()
            .ok()
            .filter(|id| *id > 0)
            .map(ChannelId::new)
            .ok_or_else(|| permanent(format!("malformed Discord reply_to '{reply_to}'")))
    }

    /// Posts a new card with its buttons in the staff channel and starts its thread.
    async fn post_card(&self, d: &DeskDelivery) -> Result<CardRef, DeliveryError> {
        let staff = self
            .settings
            .staff_channel
            .ok_or_else(|| DeliveryError::Permanent {
                message: "discord.staff_channel_id is not set".into(),
            })?;
        let staff = ChannelId::new(staff);
        let open = !d.card.ticket.status.is_done();
        // One message, as `edit_card` keeps it: a card split in two would have its buttons and
        // thread on the second piece, and edits would put the first piece's text there.
        let text = split(&d.card.render(&|s| s.to_string()), render::MAX_CONTENT).remove(0);
        let key = SentKey {
            outbox_id: d.outbox_id,
            card: true,
        };
        let card = self
            .send(staff, &text, render::card_rows(open), Some(key), None)
            .await
            .map_err(|e| render::delivery_error(&e))?;
        let thread = match staff
            .create_thread_from_message(
                &self.http,
                card,
                CreateThread::new(render::thread_name(&d.card.title())),
            )
            .await
        {
            Ok(thread) => thread.id,
            Err(e)
                if render::http_failure(&e).map(|f| f.1) == Some(render::THREAD_ALREADY_EXISTS) =>
            {
                ChannelId::new(card.get())
            }
            Err(e) => return Err(render::delivery_error(&e)),
        };
        Ok(CardRef {
            card: card.to_string(),
            thread: thread.to_string(),
        })
    }

    async fn edit_card(&self, d: &DeskDelivery, card: &CardRef) -> Result<(), DeliveryError> {
        let (Some(staff), Ok(card_id)) = (self.settings.staff_channel, card.card.parse::<u64>())
        else {
            return Ok(());
        };
        let text = d.card.render(&|s| s.to_string());
        // The card is the first piece of the text; its last lines matter less than its buttons.
        let text = split(&text, render::MAX_CONTENT).remove(0);
        let open = !d.card.ticket.status.is_done();
        let edit = EditMessage::new()
            .content(text)
            .components(render::card_rows(open))
            .allowed_mentions(CreateAllowedMentions::new());
        ChannelId::new(staff)
            .edit_message(&self.http, MessageId::new(card_id), edit)
            .await
            .map(drop)
            .map_err(|e| render::delivery_error(&e))
    }
}

#[async_trait]
impl CustomerChannel for Discord {
    fn name(&self) -> &str {
        DISCORD
    }

    async fn deliver(&self, d: &Delivery) -> Result<Delivered, DeliveryError> {
        let result = self.deliver_once(d).await;
        self.settle(d.outbox_id, &result);
        result
    }
}

#[async_trait]
impl AgentDesk for Discord {
    fn name(&self) -> &str {
        DISCORD
    }

    async fn publish(&self, d: &DeskDelivery) -> Result<Option<CardRef>, DeliveryError> {
        let result = self.publish_once(d).await;
        self.settle(d.outbox_id, &result);
        result
    }
}

impl Discord {
    async fn deliver_once(&self, d: &Delivery) -> Result<Delivered, DeliveryError> {
        let channel = self.reply_channel(&d.recipient).await?;
        let text = render::customer_text(d.author, d.author_name.as_deref(), &d.text);
        let key = SentKey {
            outbox_id: d.outbox_id,
            card: false,
        };
        let id = self
            .send(
                channel,
                &text,
                render::choice_rows(&d.choices),
                Some(key),
                None,
            )
            .await
            .map_err(|e| render::delivery_error(&e))?;
        Ok(Delivered {
            message_ref: Some(id.to_string()),
        })
    }

    async fn publish_once(&self, d: &DeskDelivery) -> Result<Option<CardRef>, DeliveryError> {
        let (card, new) = match &d.card_ref {
            Some(card) => (card.clone(), None),
            None => {
                let card = self.post_card(d).await?;
                (card.clone(), Some(card))
            }
        };
        if new.is_none() && d.event.changes_card() {
            self.edit_card(d, &card).await?;
        }
        let line = thread_line(&d.event, d.author_name.as_deref(), &d.text, &|s| {
            s.to_string()
        });
        // Service-level reminders are the one thing allowed to ping: the agent role, nothing else.
        let ping = d.ping_agents.then_some(self.settings.agent_role).flatten();
        if let (Some(line), Ok(thread)) = (line, card.thread.parse::<u64>()) {
            // A card made just now already shows this event; a later retry must not post the
            // card again, so it is returned even if the thread line fails (it is retried then).
            let key = SentKey {
                outbox_id: d.outbox_id,
                card: false,
            };
            let sent = self
                .send(ChannelId::new(thread), &line, Vec::new(), Some(key), ping)
                .await;
            if let Err(e) = sent {
                if new.is_none() {
                    return Err(render::delivery_error(&e));
                }
                tracing::warn!(error = %e, "could not post in a new ticket thread");
            }
        }
        Ok(new)
    }
}

/// How often messages that could not be stored are looked for again.
const MISSED_EVERY: std::time::Duration = std::time::Duration::from_secs(3);

#[async_trait]
impl Adapter for Discord {
    fn name(&self) -> &str {
        DISCORD
    }

    async fn run(
        self: Arc<Self>,
        inbox: Arc<dyn Inbox>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), AdapterError> {
        let fail = |message: String| AdapterError {
            platform: DISCORD.into(),
            message,
        };
        let intents = GatewayIntents::GUILDS
            | GatewayIntents::GUILD_MESSAGES
            | GatewayIntents::DIRECT_MESSAGES
            | GatewayIntents::MESSAGE_CONTENT;
        let handler = events::Handler::new(self.clone(), inbox);
        let sweeper = handler.clone();
        let http = http_client(&self.token, self.api_base.as_deref());
        let mut client = serenity::all::ClientBuilder::new_with_http(http, intents)
            .event_handler(handler)
            .await
            .map_err(|e| fail(e.to_string()))?;
        // Messages the database could not take are read back from Discord once it can.
        let catch_up = tokio::spawn(sweeper.catch_up_missed(self.http.clone(), MISSED_EVERY));
        let shards = client.shard_manager.clone();
        let result = tokio::select! {
            result = client.start() => result.map_err(|e| fail(e.to_string())),
            _ = async { let _ = shutdown.wait_for(|stop| *stop).await; } => {
                shards.shutdown_all().await;
                Ok(())
            }
        };
        catch_up.abort();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The release binary talks to `https://discord.com` and `wss://gateway.discord.gg`: an
    /// `https://` base must get as far as connecting (rustls is built in), not fail as a scheme
    /// the HTTP client cannot speak.
    #[tokio::test]
    async fn an_https_api_base_fails_to_connect_not_as_an_unsupported_scheme() {
        use tokio::io::AsyncReadExt;
        // A TCP server that reads the first bytes and hangs up: the client's TLS handshake fails.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let first_byte = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1];
            socket.read_exact(&mut buf).await.map(|_| buf[0]).ok()
        });
        let http = http_client("token", Some(&format!("https://127.0.0.1:{port}")));
        let err = http.get_gateway().await.expect_err("no TLS server there");
        match &err {
            serenity::Error::Http(serenity::http::HttpError::Request(e)) => {
                assert!(e.is_connect(), "a connection error: {e:?}");
                assert!(!e.is_builder(), "{e:?}");
            }
            other => panic!("expected a request error, got {other:?}"),
        }
        // 0x16: a TLS handshake record, the ClientHello.
        assert_eq!(
            first_byte.await.unwrap(),
            Some(0x16),
            "the client spoke TLS"
        );
        assert!(matches!(
            render::delivery_error(&err),
            DeliveryError::Transient { .. }
        ));
    }

    #[test]
    fn ids_in_the_config_must_be_digits() {
        let mut config = DiscordConfig {
            token: crate::config::Secret::new("t"),
            staff_channel_id: "#staff".into(),
            ..DiscordConfig::default()
        };
        assert!(matches!(
            Discord::new(&config),
            Err(SetupError::BadId {
                key: "staff_channel_id",
                ..
            })
        ));
        config.staff_channel_id = "600000000000000004".into();
        assert!(Discord::new(&config).is_ok());
        config.token = crate::config::Secret::default();
        assert!(matches!(Discord::new(&config), Err(SetupError::NoToken)));
    }
}
