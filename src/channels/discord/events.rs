//! The gateway side of the Discord adapter: messages and button presses become [`Inbound`]
//! events for the inbox; after every (re)connect, what was written while the bot was away is
//! fetched over REST and handed over too (the inbox drops what it already has).
//!
//! The only decisions made here are Discord's own: which channel a message belongs to, and
//! whether its author holds the agent role. Everything else is the core's.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use serenity::all::{
    ChannelId, ComponentInteraction, Context, CreateInteractionResponse,
    CreateInteractionResponseMessage, EventHandler, GetMessages, GuildId, Http, Interaction,
    Message, MessageId, Ready, ResumedEvent, RoleId, UserId,
};

use super::render::{self, Press};
use super::{Discord, DISCORD};
use crate::core::error::CoreError;
use crate::core::inbox::Inbox;
use crate::core::message::{Inbound, Sender};

/// How far back recovery looks for conversations to catch up on.
const RECOVERY_DAYS: i64 = 14;
/// Pages of 100 messages fetched per channel at most when catching up.
const RECOVERY_PAGES: usize = 20;
/// What a refused card button press is told.
pub const NOT_AN_AGENT: &str = "Only support agents can claim or close tickets.";

/// Where a channel sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Dm,
    Guild {
        guild: GuildId,
        /// The parent channel of a thread.
        parent: Option<u64>,
    },
}

#[derive(Clone)]
pub struct Handler {
    discord: Arc<Discord>,
    inbox: Arc<dyn Inbox>,
    /// Set when a message arrived but could not be stored (the database unavailable): the
    /// next catch-up reads it back from Discord (see [`Handler::catch_up_missed`]).
    missed: Arc<AtomicBool>,
    /// A message id from the time the connection started: a support channel without any stored
    /// conversation is read from there after a reconnect when nothing newer is stored from
    /// Discord (what came before the bot ever listened is not ours).
    connected_since: u64,
}

/// Discord's epoch, 2015-01-01, in Unix milliseconds.
const DISCORD_EPOCH_MS: i64 = 1_420_070_400_000;

/// The smallest snowflake of a moment: messages after it were written at or after it.
fn snowflake_at(unix_ms: i64) -> u64 {
    ((unix_ms - DISCORD_EPOCH_MS).max(0) as u64) << 22
}

impl Handler {
    pub fn new(discord: Arc<Discord>, inbox: Arc<dyn Inbox>) -> Self {
        Self {
            discord,
            inbox,
            missed: Arc::new(AtomicBool::new(false)),
            connected_since: snowflake_at(chrono::Utc::now().timestamp_millis()),
        }
    }

    async fn place(&self, http: &Http, channel: ChannelId) -> Option<Place> {
        if let Some(place) = self.discord.places.lock().unwrap().get(&channel.get()) {
            return Some(*place);
        }
        let place = match http.get_channel(channel).await {
            Ok(serenity::all::Channel::Guild(c)) => Place::Guild {
                guild: c.guild_id,
                parent: c.parent_id.map(|p| p.get()),
            },
            Ok(serenity::all::Channel::Private(_)) => Place::Dm,
            Ok(_) => return None,
            Err(e) => {
                tracing::warn!(channel = %channel, error = %e, "could not look up a Discord channel");
                return None;
            }
        };
        self.discord
            .places
            .lock()
            .unwrap()
            .insert(channel.get(), place);
        Some(place)
    }

    /// Whether the member holds the agent role: from the roles the event carries, or fetched
    /// (messages read over REST carry no member).
    async fn is_agent(
        &self,
        http: &Http,
        guild: GuildId,
        user: UserId,
        roles: Option<&[RoleId]>,
    ) -> bool {
        let Some(role) = self.discord.settings.agent_role else {
            return false;
        };
        match roles {
            Some(roles) => roles.iter().any(|r| r.get() == role),
            None => match guild.member(http, user).await {
                Ok(member) => member.roles.iter().any(|r| r.get() == role),
                Err(e) => {
                    tracing::warn!(user = %user, error = %e, "could not read a member's roles");
                    false
                }
            },
        }
    }

    /// The inbound event a message is, if it is one: a customer's DM, a message starting or
    /// continuing a support-channel conversation, or an agent's line in a ticket thread. `live`:
    /// from the gateway, whose guild messages carry the guild and member.
    async fn inbound_of(&self, http: &Http, msg: &Message, live: bool) -> Option<Inbound> {
        // The bot's own messages, other bots and system messages are not customers.
        if msg.author.bot || msg.author.system {
            return None;
        }
        let mut text = msg.content.clone();
        for a in &msg.attachments {
            text.push_str(&format!("\n[attachment: {}] {}", a.filename, a.url));
        }
        let text = text.trim().to_string();
        if text.is_empty() {
            return None;
        }
        let channel = msg.channel_id.get();
        let name = msg
            .member
            .as_ref()
            .and_then(|m| m.nick.clone())
            .or_else(|| msg.author.global_name.clone())
            .unwrap_or_else(|| msg.author.name.clone());
        let customer = |conversation_key: String, reply_to: String| Inbound {
            channel: DISCORD.into(),
            external_id: msg.id.to_string(),
            customer_key: msg.author.id.to_string(),
            customer_name: Some(name.clone()),
            conversation_key,
            reply_to,
            text: text.clone(),
            received_at: msg.timestamp.unix_timestamp() * 1000,
            sender: Sender::Customer,
        };
        let place = if live && msg.guild_id.is_none() {
            Place::Dm
        } else {
            self.place(http, msg.channel_id).await?
        };
        let settings = &self.discord.settings;
        match place {
            Place::Dm => Some(customer(channel.to_string(), channel.to_string())),
            Place::Guild { .. } if settings.support_channels.contains(&channel) => Some(customer(
                msg.id.to_string(),
                format!("thread:{channel}:{}", msg.id),
            )),
            Place::Guild {
                parent: Some(parent),
                ..
            } if settings.support_channels.contains(&parent) => {
                Some(customer(channel.to_string(), channel.to_string()))
            }
            Place::Guild {
                guild,
                parent: Some(parent),
            } if Some(parent) == settings.staff_channel => {
                let roles = msg.member.as_ref().map(|m| m.roles.as_slice());
                if !self.is_agent(http, guild, msg.author.id, roles).await {
                    // Anyone else's text in a ticket thread is not relayed.
                    return None;
                }
                Some(Inbound {
                    sender: Sender::Agent,
                    ..customer(channel.to_string(), String::new())
                })
            }
            Place::Guild { .. } => None,
        }
    }

    async fn on_message(&self, http: &Http, msg: &Message, live: bool) {
        let Some(inbound) = self.inbound_of(http, msg, live).await else {
            return;
        };
        if let Err(e) = self.inbox.receive(inbound).await {
            tracing::error!(message = %msg.id, error = %e, "could not store a Discord message");
            if matches!(e, CoreError::Store(_)) {
                self.missed.store(true, Ordering::SeqCst);
            }
        }
    }

    /// Reads back, every `every`, what arrived while the database could not store it, so a
    /// message is not lost for want of a reconnect. Runs until the task is aborted.
    pub async fn catch_up_missed(self, http: Arc<Http>, every: std::time::Duration) {
        loop {
            tokio::time::sleep(every).await;
            if self.missed.swap(false, Ordering::SeqCst) && !self.recover(&http).await {
                self.missed.store(true, Ordering::SeqCst);
            }
        }
    }

    /// A button press: acknowledged at once (Discord allows 3 seconds), then handed over as
    /// the customer's choice or the agent's command.
    async fn on_press(&self, http: &Http, press: &ComponentInteraction) {
        let kind = render::parse_custom_id(&press.data.custom_id);
        if matches!(kind, Press::Claim | Press::Close) {
            let roles = press.member.as_ref().map(|m| m.roles.as_slice());
            let agent = match press.guild_id {
                Some(guild) => {
                    self.is_agent(http, guild, press.user.id, roles.or(Some(&[])))
                        .await
                }
                None => false,
            };
            if !agent {
                let refusal = CreateInteractionResponse::Message(
                    CreateInteractionResponseMessage::new()
                        .content(NOT_AN_AGENT)
                        .ephemeral(true),
                );
                if let Err(e) = press.create_response(http, refusal).await {
                    tracing::warn!(error = %e, "could not refuse a button press");
                }
                return;
            }
        }
        if let Err(e) = press
            .create_response(http, CreateInteractionResponse::Acknowledge)
            .await
        {
            tracing::warn!(error = %e, "could not acknowledge a button press");
        }
        let name = press
            .member
            .as_ref()
            .and_then(|m| m.nick.clone())
            .or_else(|| press.user.global_name.clone())
            .unwrap_or_else(|| press.user.name.clone());
        let channel = press.channel_id.to_string();
        let base = Inbound {
            channel: DISCORD.into(),
            external_id: format!("i{}", press.id),
            customer_key: press.user.id.to_string(),
            customer_name: Some(name),
            conversation_key: channel.clone(),
            reply_to: channel,
            text: String::new(),
            received_at: chrono::Utc::now().timestamp_millis(),
            sender: Sender::Customer,
        };
        let inbound = match kind {
            Press::Choice(value) => Inbound {
                text: value,
                ..base
            },
            Press::Claim | Press::Close => Inbound {
                sender: Sender::Agent,
                conversation_key: press.message.id.to_string(),
                reply_to: String::new(),
                text: if kind == Press::Claim {
                    "!claim"
                } else {
                    "!close"
                }
                .into(),
                ..base
            },
            Press::Unknown => return,
        };
        if let Err(e) = self.inbox.receive(inbound).await {
            tracing::error!(interaction = %press.id, error = %e, "could not store a button press");
        }
    }

    /// Catches up after a (re)connect: every conversation, ticket thread and support channel
    /// with recent activity is read from just after the newest event stored for it.
    /// False when it could not read where to resume.
    async fn recover(&self, http: &Http) -> bool {
        let since = chrono::Utc::now().timestamp_millis() - RECOVERY_DAYS * 24 * 3_600_000;
        let cursors = match self.inbox.cursors(DISCORD, since).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "could not read where to resume on Discord");
                self.missed.store(true, Ordering::SeqCst);
                return false;
            }
        };
        let mut channels: BTreeMap<u64, u64> = BTreeMap::new();
        let mut support: BTreeMap<u64, u64> = BTreeMap::new();
        for c in &cursors {
            // Snowflakes grow with time, so an interaction's id works as a message cursor too.
            let (Ok(key), Ok(after)) = (
                c.conversation_key.parse::<u64>(),
                c.last_external_id.trim_start_matches('i').parse::<u64>(),
            ) else {
                continue;
            };
            channels.insert(key, after);
            if let Some(parent) = c
                .reply_to
                .strip_prefix("thread:")
                .and_then(|r| r.split_once(':'))
                .and_then(|(p, _)| p.parse::<u64>().ok())
            {
                let newest = support.entry(parent).or_default();
                *newest = (*newest).max(key);
            }
        }
        // The newest event stored from Discord tells when an instance was last listening: a
        // support channel with no conversation of its own is read from there, so what was
        // written while no instance held the gateway (a restart, a takeover after the holder
        // died) is answered too; with nothing stored, from this connection's start.
        let listening_since = channels
            .values()
            .copied()
            .max()
            .map_or(self.connected_since, |newest| {
                newest.min(self.connected_since)
            });
        for &channel in &self.discord.settings.support_channels {
            support.entry(channel).or_insert(listening_since);
        }
        for (channel, after) in channels.iter().chain(support.iter()) {
            self.catch_up(http, ChannelId::new(*channel), *after).await;
        }
        true
    }

    async fn catch_up(&self, http: &Http, channel: ChannelId, after: u64) {
        let mut after = MessageId::new(after.max(1));
        let mut seen = HashSet::new();
        for _ in 0..RECOVERY_PAGES {
            let page = match channel
                .messages(http, GetMessages::new().after(after).limit(100))
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(channel = %channel, error = %e, "could not catch up on a Discord channel");
                    return;
                }
            };
            if page.is_empty() {
                return;
            }
            let mut page: Vec<Message> = page.into_iter().filter(|m| seen.insert(m.id)).collect();
            // Discord lists newest first; handle them in the order they were written.
            page.sort_by_key(|m| m.id);
            let full = page.len() == 100;
            for msg in &page {
                self.on_message(http, msg, false).await;
            }
            match page.last() {
                Some(last) if full => after = last.id,
                _ => return,
            }
        }
    }
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        tracing::info!(user = %ready.user.name, "connected to Discord");
        self.recover(&ctx.http).await;
    }

    async fn resume(&self, ctx: Context, _: ResumedEvent) {
        self.recover(&ctx.http).await;
    }

    async fn message(&self, ctx: Context, msg: Message) {
        self.on_message(&ctx.http, &msg, true).await;
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        if let Interaction::Component(press) = interaction {
            self.on_press(&ctx.http, &press).await;
        }
    }
}
