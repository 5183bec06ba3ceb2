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
//!
//! # Files
//! - this file: the [`Slack`] adapter and the state its parts share, the bot's identity and the
//!   agent group, and [`Adapter`] (running the socket or events intake).
//! - [`super::inbound`]: envelopes, messages and button presses handed to the inbox, refusals
//!   explained, and the catch-up after a (re)connect, ticket threads included.
//! - [`super::outbound`]: [`CustomerChannel`] and [`AgentDesk`] with their sending helpers
//!   (split text with buttons, ticket cards posted and updated).
//!
//! [`CustomerChannel`]: crate::channels::CustomerChannel
//! [`AgentDesk`]: crate::channels::AgentDesk
//! [`Mrkdwn`]: super::text::Mrkdwn

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, watch};

use super::api::{SlackApi, SlackError};
use super::events::BotIdentity;
use super::render::Places;
use super::socket::{self, SocketEvent, SocketOptions};
use crate::channels::{Adapter, AdapterError};
use crate::clock::Clock;
use crate::config::{SlackConfig, SlackMode};
use crate::core::inbox::Inbox;

/// Channel name of Slack conversations and desk platform name.
pub const SLACK: &str = "slack";
/// How often the agent group's members are read again.
pub const GROUP_REFRESH: Duration = Duration::from_secs(5 * 60);

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
    pub(super) places: Places,
    agent_ids: HashSet<String>,
    pub(super) agent_group: Option<String>,
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
    pub(super) async fn load_group(&self) {
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

    pub(super) fn is_agent(&self, user: &str) -> bool {
        self.agent_ids.contains(user)
            || self
                .group_members
                .read()
                .expect("group lock")
                .contains(user)
    }

    pub(super) async fn name_of(&self, user: &str) -> Option<String> {
        match self.api.users_info(user).await {
            Ok(name) => Some(name),
            Err(e) => {
                tracing::debug!(user, error = %e, "slack: no name for a user");
                None
            }
        }
    }
}

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
