//! The [`Slack`] adapter: the platform seam's three traits on top of the Slack parts.
//!
//! - [`Adapter`]: in Socket Mode, runs the socket client and hands every acknowledged envelope
//!   to the inbox, running the missed-message recovery on every `Connected`; in events mode,
//!   mounts `POST /slack/events` and `POST /slack/interactivity` ([`super::webhook`]) and runs
//!   the recovery once at start. Both read who the agents are at start, every 5 minutes and on
//!   `subteam_members_changed`.
//! - [`CustomerChannel`]: messages to DMs and help-channel threads, choices as buttons, text
//!   split at 3,000 characters.
//! - [`AgentDesk`]: ticket cards in the staff channel (edited with `chat.update`), the ticket's
//!   lines in the card's thread.
//!
//! Everything relayed is escaped ([`Mrkdwn`]); where things go is decided in [`super::render`].

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, watch};

use super::api::{SlackApi, SlackError};
use super::blocks::{self, Button, CardAction};
use super::events::{
    compare_ts, parse_event_body, parse_interactive, BotIdentity, ButtonPress, IncomingMessage,
    Parsed,
};
use super::recovery::{fetch_missed, Watch};
use super::render::{self, Places, PressRoute, Route};
use super::socket::{self, Envelope, SocketEvent, SocketOptions};
use super::text::{Mrkdwn, SECTION_TEXT_MAX};
use crate::channels::{
    Adapter, AdapterError, AgentDesk, CustomerChannel, Delivered, Delivery, DeliveryError,
    DeskDelivery,
};
use crate::clock::Clock;
use crate::config::{SlackConfig, SlackMode};
use crate::core::desk_event::CardRef;
use crate::core::error::CoreError;
use crate::core::inbox::Inbox;
use crate::core::message::{Inbound, Sender};

/// Channel name of Slack conversations and desk platform name.
pub const SLACK: &str = "slack";
/// How often the agent group's members are read again.
pub const GROUP_REFRESH: Duration = Duration::from_secs(5 * 60);
/// How far back recovery looks for conversations to catch up on.
const RECOVERY_DAYS: i64 = 14;
/// How many of the newest ticket cards recovery looks at for replies it has not stored.
const RECOVERY_CARDS: u32 = 200;

/// Why the adapter could not be set up from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{} is not set", crate::config::SLACK_BOT_TOKEN_VAR)]
    NoBotToken,
    #[error(
        "slack.mode = \"socket\", but {} is not set",
        crate::config::SLACK_APP_TOKEN_VAR
    )]
    NoAppToken,
    #[error(
        "slack.mode = \"events\", but {} is not set",
        crate::config::SLACK_SIGNING_SECRET_VAR
    )]
    NoSigningSecret,
    #[error(transparent)]
    Client(#[from] SlackError),
}

pub struct Slack {
    pub(super) shared: Arc<Shared>,
}

/// What the connection, the webhook routes and deliveries share.
pub(super) struct Shared {
    pub(super) api: Arc<SlackApi>,
    mode: SlackMode,
    app_token: String,
    pub(super) signing_secret: String,
    places: Places,
    agent_ids: HashSet<String>,
    agent_group: Option<String>,
    group_members: RwLock<HashSet<String>>,
    identity: tokio::sync::Mutex<Option<BotIdentity>>,
    pub(super) clock: Arc<dyn Clock>,
    /// Set when the connection starts; the webhook routes wait for it.
    pub(super) inbox: watch::Sender<Option<Arc<dyn Inbox>>>,
    socket_options: SocketOptions,
}

impl Slack {
    /// `clock` is the application's: it dates inbound events and checks request signatures.
    pub fn new(config: &SlackConfig, clock: Arc<dyn Clock>) -> Result<Self, SetupError> {
        let bot_token = config.bot_token.expose().ok_or(SetupError::NoBotToken)?;
        let app_token = config.app_token.expose().unwrap_or_default().to_string();
        let signing_secret = config
            .signing_secret
            .expose()
            .unwrap_or_default()
            .to_string();
        match config.mode {
            SlackMode::Socket if app_token.is_empty() => return Err(SetupError::NoAppToken),
            SlackMode::Events if signing_secret.is_empty() => {
                return Err(SetupError::NoSigningSecret)
            }
            _ => {}
        }
        let non_empty = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let api = SlackApi::new(&config.api_base, bot_token)?.with_clock(clock.clone());
        Ok(Self {
            shared: Arc::new(Shared {
                api: Arc::new(api),
                mode: config.mode,
                app_token,
                signing_secret,
                places: Places {
                    staff_channel: non_empty(&config.staff_channel),
                    help_channels: config
                        .help_channels
                        .iter()
                        .filter_map(|c| non_empty(c))
                        .collect(),
                },
                agent_ids: config
                    .agent_ids
                    .iter()
                    .filter_map(|a| non_empty(a))
                    .collect(),
                agent_group: non_empty(&config.agent_group),
                group_members: RwLock::default(),
                identity: tokio::sync::Mutex::new(None),
                clock,
                inbox: watch::Sender::new(None),
                socket_options: SocketOptions::default(),
            }),
        })
    }

    /// Socket Mode timings (tests shorten the backoff). Call before the adapter is shared.
    pub fn with_socket_options(mut self, options: SocketOptions) -> Self {
        Arc::get_mut(&mut self.shared)
            .expect("socket options are set before the adapter is shared")
            .socket_options = options;
        self
    }
}

impl Shared {
    /// Who the bot is (`auth.test`, asked once); unknown when Slack cannot be reached, in
    /// which case every bot's message is still ignored by its `bot_id`.
    pub(super) async fn identity(&self) -> BotIdentity {
        let mut known = self.identity.lock().await;
        if let Some(identity) = known.as_ref() {
            return identity.clone();
        }
        match self.api.auth_test().await {
            Ok(identity) => {
                *known = Some(identity.clone());
                identity
            }
            Err(e) => {
                tracing::warn!(error = %e, "slack: auth.test failed; own messages recognised by bot_id only");
                BotIdentity::default()
            }
        }
    }

    /// Reads the agent group's members; on failure the previous list stays.
    async fn load_group(&self) {
        let Some(group) = &self.agent_group else {
            return;
        };
        match self.api.usergroups_users_list(group).await {
            Ok(users) => {
                tracing::debug!(group, members = users.len(), "slack: agent group read");
                *self.group_members.write().expect("group lock") = users.into_iter().collect();
            }
            Err(e) => tracing::warn!(group, error = %e, "slack: could not read the agent group"),
        }
    }

    fn is_agent(&self, user: &str) -> bool {
        self.agent_ids.contains(user)
            || self
                .group_members
                .read()
                .expect("group lock")
                .contains(user)
    }

    async fn name_of(&self, user: &str) -> Option<String> {
        match self.api.users_info(user).await {
            Ok(name) => Some(name),
            Err(e) => {
                tracing::debug!(user, error = %e, "slack: no name for a user");
                None
            }
        }
    }

    /// Hands an event to the inbox; returns why it was refused when that is the writer's to
    /// hear (text too long, say), not ours, and `NotStored` when the store failed.
    async fn hand_over(
        &self,
        inbox: &Arc<dyn Inbox>,
        inbound: Inbound,
    ) -> Result<Option<String>, NotStored> {
        let id = inbound.external_id.clone();
        match inbox.receive(inbound).await {
            Ok(r) if r.duplicate => tracing::debug!(event = %id, "slack: already received"),
            Ok(_) => {}
            Err(CoreError::Invalid(why)) => {
                tracing::info!(event = %id, why, "slack: event refused");
                return Ok(Some(why));
            }
            Err(e) => {
                tracing::error!(event = %id, error = %e, "slack: could not store an event");
                return Err(NotStored);
            }
        }
        Ok(None)
    }

    /// Tells the writer of a refused message why, so nothing disappears without a word.
    async fn tell_refused(&self, m: &IncomingMessage, why: &str) {
        let text = Mrkdwn::escaped(&format!("frontline did not take this message: {why}."));
        let thread = m.thread_ts.as_deref();
        if let Err(e) = self
            .api
            .post_ephemeral(&m.channel, &m.user, &text, thread)
            .await
        {
            tracing::warn!(error = %e, "slack: could not explain a refused message");
        }
    }

    /// Whatever an inbound payload means: a message, button presses, a group change.
    /// `NotStored` when an event of it could not be stored (Slack should send it again).
    pub(super) async fn on_parsed(
        &self,
        inbox: &Arc<dyn Inbox>,
        parsed: Parsed,
    ) -> Result<(), NotStored> {
        match parsed {
            Parsed::Message(m) => return self.on_message(inbox, m, true).await,
            Parsed::Buttons(presses) => {
                let mut stored = Ok(());
                for p in presses {
                    stored = stored.and(self.on_press(inbox, p).await);
                }
                return stored;
            }
            Parsed::SubteamMembersChanged { subteam_id } => {
                if self.agent_group.as_deref() == Some(subteam_id.as_str()) {
                    self.load_group().await;
                }
            }
            Parsed::UrlVerification { .. } => {}
            Parsed::Ignored(why) => tracing::trace!(why, "slack: payload ignored"),
        }
        Ok(())
    }

    async fn on_envelope(&self, inbox: &Arc<dyn Inbox>, envelope: Envelope) {
        if envelope.retry_attempt > 0 {
            tracing::debug!(envelope = %envelope.envelope_id, attempt = envelope.retry_attempt, "slack: redelivered envelope");
        }
        let parsed = match envelope.kind.as_str() {
            "events_api" => parse_event_body(&envelope.payload, &self.identity().await),
            "interactive" => parse_interactive(&envelope.payload),
            _ => Parsed::Ignored("envelope type not handled"),
        };
        // Acknowledged once stored; what could not be stored Slack sends again.
        if self.on_parsed(inbox, parsed).await.is_ok() {
            envelope.ack();
        }
    }

    /// `live`: as it happened (not read back after a reconnect, when a refusal was explained
    /// already).
    async fn on_message(
        &self,
        inbox: &Arc<dyn Inbox>,
        m: IncomingMessage,
        live: bool,
    ) -> Result<(), NotStored> {
        let text = m.text.trim();
        if text.is_empty() {
            return Ok(());
        }
        let (sender, conversation_key, reply_to) = match render::route_message(&m, &self.places) {
            Route::Customer {
                conversation_key,
                reply_to,
            } => (Sender::Customer, conversation_key, reply_to),
            Route::StaffThread { card } => {
                if !self.is_agent(&m.user) {
                    // Anyone else's text in a ticket thread is not relayed.
                    tracing::debug!(user = %m.user, "slack: non-agent line in a ticket thread");
                    return Ok(());
                }
                (Sender::Agent, card.clone(), card)
            }
            Route::Ignored(why) => {
                tracing::trace!(why, "slack: message ignored");
                return Ok(());
            }
        };
        let inbound = Inbound {
            channel: SLACK.into(),
            external_id: m.dedup_key(),
            customer_key: m.user.clone(),
            customer_name: self.name_of(&m.user).await,
            conversation_key,
            reply_to,
            text: text.to_string(),
            received_at: self.clock.now_ms(),
            sender,
        };
        if let Some(why) = self.hand_over(inbox, inbound).await? {
            if live {
                self.tell_refused(&m, &why).await;
            }
        }
        Ok(())
    }

    async fn on_press(&self, inbox: &Arc<dyn Inbox>, p: ButtonPress) -> Result<(), NotStored> {
        let (sender, conversation_key, reply_to, text) = match render::route_press(&p, &self.places)
        {
            PressRoute::Choice {
                conversation_key,
                reply_to,
                text,
            } => (Sender::Customer, conversation_key, reply_to, text),
            PressRoute::Card { card, command } => {
                if !self.is_agent(&p.user) {
                    let refusal = Mrkdwn::escaped(render::NOT_AN_AGENT);
                    let sent = self
                        .api
                        .post_ephemeral(&p.channel, &p.user, &refusal, p.thread_ts.as_deref())
                        .await;
                    if let Err(e) = sent {
                        tracing::warn!(error = %e, "slack: could not refuse a button press");
                    }
                    return Ok(());
                }
                (Sender::Agent, card.clone(), card, command.to_string())
            }
            PressRoute::Ignored(why) => {
                tracing::trace!(why, "slack: button press ignored");
                return Ok(());
            }
        };
        let inbound = Inbound {
            channel: SLACK.into(),
            external_id: p.dedup_key(),
            customer_key: p.user.clone(),
            customer_name: self.name_of(&p.user).await,
            conversation_key,
            reply_to,
            text,
            received_at: self.clock.now_ms(),
            sender,
        };
        self.hand_over(inbox, inbound).await.map(|_| ())
    }

    /// Catches up after a (re)connect: every DM, help-channel conversation and ticket thread
    /// with recent activity is read after the newest event stored for it, and each help
    /// channel after its newest conversation; the inbox drops what it already has.
    pub(super) async fn recover(&self, inbox: &Arc<dyn Inbox>) {
        let since = self.clock.now_ms() - RECOVERY_DAYS * 24 * 3_600_000;
        let cursors = match inbox.cursors(SLACK, since).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "slack: could not read where to resume");
                return;
            }
        };
        let mut watches = Vec::new();
        let mut help_newest: BTreeMap<String, String> = BTreeMap::new();
        for c in &cursors {
            let (Some(last), Some((channel, thread))) = (
                render::ts_of_external_id(&c.last_external_id),
                render::parse_address(&c.conversation_key),
            ) else {
                continue;
            };
            if let Some(root) = &thread {
                if self.places.help_channels.contains(&channel) {
                    let newest = help_newest.entry(channel.clone()).or_insert(root.clone());
                    if compare_ts(root, newest).is_gt() {
                        *newest = root.clone();
                    }
                }
            }
            watches.push(Watch {
                channel,
                thread_ts: thread,
                last_seen_ts: Some(last.to_string()),
            });
        }
        watches.extend(help_newest.into_iter().map(|(channel, root)| Watch {
            channel,
            thread_ts: None,
            last_seen_ts: Some(root),
        }));
        self.watch_card_threads(&mut watches).await;
        if watches.is_empty() {
            return;
        }
        let recovered = fetch_missed(&self.api, &watches, &self.identity().await).await;
        for (watch, e) in &recovered.failures {
            tracing::warn!(channel = %watch.channel, error = %e, "slack: could not catch up");
        }
        tracing::info!(
            places = watches.len(),
            messages = recovered.messages.len(),
            "slack: caught up"
        );
        for m in recovered.messages {
            // Logged where it failed; the next catch-up reads it again.
            let _ = self.on_message(inbox, m, false).await;
        }
    }

    /// Adds the open tickets' threads in the staff channel with replies newer than what was
    /// stored from them, including threads no agent had written in yet (which have no cursor):
    /// the newest cards, read with one `conversations.history` call, say when their last reply was.
    async fn watch_card_threads(&self, watches: &mut Vec<Watch>) {
        let Some(staff) = &self.places.staff_channel else {
            return;
        };
        let cards = match self.api.latest(staff, RECOVERY_CARDS).await {
            Ok(cards) => cards,
            Err(e) => {
                tracing::warn!(error = %e, "slack: could not read the staff channel's cards");
                return;
            }
        };
        for card in cards {
            let has_replies = card.reply_count.unwrap_or(0) > 0 || card.latest_reply.is_some();
            // Closed tickets' cards have no buttons; their threads have nothing to relay.
            if !has_replies || !card.has_buttons() {
                continue;
            }
            let known = watches
                .iter()
                .position(|w| &w.channel == staff && w.thread_ts.as_deref() == Some(&card.ts));
            match known {
                // Read from the cursor already, unless Slack says nothing came after it.
                Some(i) => {
                    let seen = watches[i].last_seen_ts.clone();
                    if let (Some(latest), Some(seen)) = (&card.latest_reply, &seen) {
                        if !compare_ts(latest, seen).is_gt() {
                            watches.remove(i);
                        }
                    }
                }
                None => watches.push(Watch {
                    channel: staff.clone(),
                    thread_ts: Some(card.ts.clone()),
                    last_seen_ts: None,
                }),
            }
        }
    }

    /// Posts `text` split to Slack's section limit, buttons under the last piece; returns the
    /// last message's `ts`.
    async fn send(
        &self,
        channel: &str,
        thread: Option<&str>,
        text: &Mrkdwn,
        buttons: &[Button],
    ) -> Result<String, DeliveryError> {
        let mut pieces = text.split(SECTION_TEXT_MAX);
        if pieces.is_empty() {
            pieces.push(Mrkdwn::trusted("…"));
        }
        let last = pieces.len() - 1;
        let mut ts = String::new();
        for (i, piece) in pieces.iter().enumerate() {
            let buttons = if i == last { buttons } else { &[] };
            let blocks = blocks::message(piece, buttons).map_err(|e| DeliveryError::Permanent {
                message: e.to_string(),
            })?;
            ts = self
                .api
                .post_message(channel, thread, piece, Some(&blocks))
                .await
                .map_err(|e| render::delivery_error(&e))?;
        }
        Ok(ts)
    }

    fn staff_channel(&self) -> Result<&str, DeliveryError> {
        self.places
            .staff_channel
            .as_deref()
            .ok_or_else(|| DeliveryError::Permanent {
                message: "slack.staff_channel is not set".into(),
            })
    }

    fn card_blocks(&self, d: &DeskDelivery) -> Result<Vec<serde_json::Value>, DeliveryError> {
        let actions: &[CardAction] = if d.card.ticket.status.is_done() {
            &[]
        } else {
            &[CardAction::Claim, CardAction::Close]
        };
        blocks::ticket_card(&render::card_body(&d.card), d.card.ticket.id, actions).map_err(|e| {
            DeliveryError::Permanent {
                message: e.to_string(),
            }
        })
    }

    async fn post_card(&self, d: &DeskDelivery) -> Result<CardRef, DeliveryError> {
        let staff = self.staff_channel()?;
        let blocks = self.card_blocks(d)?;
        let ts = self
            .api
            .post_message(staff, None, &render::card_fallback(&d.card), Some(&blocks))
            .await
            .map_err(|e| render::delivery_error(&e))?;
        // The card's thread is the card itself.
        let at = render::address(staff, Some(&ts));
        Ok(CardRef {
            card: at.clone(),
            thread: at,
        })
    }

    async fn update_card(
        &self,
        d: &DeskDelivery,
        channel: &str,
        ts: &str,
    ) -> Result<(), DeliveryError> {
        let blocks = self.card_blocks(d)?;
        self.api
            .update(channel, ts, &render::card_fallback(&d.card), Some(&blocks))
            .await
            .map_err(|e| render::delivery_error(&e))
    }
}

#[async_trait]
impl CustomerChannel for Slack {
    fn name(&self) -> &str {
        SLACK
    }

    async fn deliver(&self, d: &Delivery) -> Result<Delivered, DeliveryError> {
        let s = &self.shared;
        let (channel, thread) =
            render::parse_address(&d.recipient).ok_or_else(|| DeliveryError::Permanent {
                message: format!("malformed Slack reply_to '{}'", d.recipient),
            })?;
        // A user id: their DM with the app.
        let channel = if channel.starts_with('U') || channel.starts_with('W') {
            s.api
                .conversations_open(&channel)
                .await
                .map_err(|e| render::delivery_error(&e))?
        } else {
            channel
        };
        let text = render::customer_text(d.author, d.author_name.as_deref(), &d.text);
        let buttons: Vec<Button> = d
            .choices
            .iter()
            .map(|c| Button::new(&c.label, &c.value))
            .collect();
        let ts = s.send(&channel, thread.as_deref(), &text, &buttons).await?;
        Ok(Delivered {
            message_ref: Some(render::address(&channel, Some(&ts))),
        })
    }
}

#[async_trait]
impl AgentDesk for Slack {
    fn name(&self) -> &str {
        SLACK
    }

    async fn publish(&self, d: &DeskDelivery) -> Result<Option<CardRef>, DeliveryError> {
        let s = &self.shared;
        let (card, new) = match &d.card_ref {
            Some(card) => (card.clone(), None),
            None => {
                let card = s.post_card(d).await?;
                (card.clone(), Some(card))
            }
        };
        let Some((channel, Some(ts))) = render::parse_address(&card.thread) else {
            return Err(DeliveryError::Permanent {
                message: format!("malformed Slack card reference '{}'", card.thread),
            });
        };
        if new.is_none() && d.event.changes_card() {
            s.update_card(d, &channel, &ts).await?;
        }
        if let Some(line) = render::desk_line(&d.event, d.author_name.as_deref(), &d.text) {
            // A card made just now is returned even if its first line fails, so a retry does
            // not post the card again (the line is retried then).
            let sent = s.send(&channel, Some(&ts), &line, &[]).await;
            if let Err(e) = sent {
                if new.is_none() {
                    return Err(e);
                }
                tracing::warn!(error = %e, "slack: could not post in a new ticket thread");
            }
        }
        Ok(new)
    }
}

/// An inbound event could not be stored (the database was unavailable, say): the platform should
/// send it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct NotStored;

#[async_trait]
impl Adapter for Slack {
    fn name(&self) -> &str {
        SLACK
    }

    async fn run(
        self: Arc<Self>,
        inbox: Arc<dyn Inbox>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), AdapterError> {
        let s = self.shared.clone();
        s.inbox.send_replace(Some(inbox.clone()));
        s.identity().await;
        s.load_group().await;
        let refresher = tokio::spawn({
            let s = s.clone();
            async move {
                let mut every = tokio::time::interval(GROUP_REFRESH);
                every.tick().await;
                loop {
                    every.tick().await;
                    s.load_group().await;
                }
            }
        });
        let result = match s.mode {
            SlackMode::Socket => {
                let (tx, mut rx) = mpsc::channel(256);
                let socket = tokio::spawn({
                    let (api, token) = (s.api.clone(), s.app_token.clone());
                    let (options, stop) = (s.socket_options.clone(), shutdown.clone());
                    async move { socket::run(&api, &token, options, tx, stop).await }
                });
                while let Some(event) = rx.recv().await {
                    match event {
                        SocketEvent::Connected { .. } => s.recover(&inbox).await,
                        SocketEvent::Envelope(envelope) => s.on_envelope(&inbox, envelope).await,
                    }
                }
                match socket.await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(e) => Err(format!("socket task failed: {e}")),
                }
            }
            SlackMode::Events => {
                // Slack retries undelivered events only for a while: read back what it gave up on.
                s.recover(&inbox).await;
                let _ = shutdown.wait_for(|stop| *stop).await;
                Ok(())
            }
        };
        refresher.abort();
        result.map_err(|message| AdapterError {
            platform: SLACK.into(),
            message,
        })
    }

    /// Socket Mode holds a connection; the Events API only receives requests, on every instance.
    fn needs_lease(&self) -> bool {
        self.shared.mode == SlackMode::Socket
    }

    fn routes(&self) -> Option<axum::Router> {
        (self.shared.mode == SlackMode::Events).then(|| super::webhook::routes(self.shared.clone()))
    }
}
