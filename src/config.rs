//! Configuration: built-in defaults, then a TOML file, then `FRONTLINE__SECTION__KEY` environment
//! variables, then `DATABASE_URL`. Every key is documented in `config/default.toml`.
//!
//! An environment value is converted to the type of its key (read from the Rust types, see
//! [`KeyType`]): `FRONTLINE__DISCORD__STAFF_CHANNEL_ID=600000000000000002` stays a string,
//! `FRONTLINE__SLACK__AGENT_IDS=U1,U2` is a list. Platform tokens never come from the file: they
//! are read from their own variables (`DISCORD_TOKEN`, `SLACK_BOT_TOKEN`, ...) into [`Secret`]s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::core::template::Vars;
use crate::intents::MatcherSettings;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Invalid {
        path: String,
        line: usize,
        message: String,
    },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    /// Values that parse but cannot work together (a platform without its token, a desk
    /// platform that is switched off, ...); each problem names the key or variable to fix.
    #[error("invalid configuration:\n  - {}", .problems.join("\n  - "))]
    Check { problems: Vec<String> },
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub intents: IntentsConfig,
    pub matcher: MatcherSettings,
    pub conversation: ConversationConfig,
    pub support_hours: SupportHours,
    pub queue: QueueConfig,
    pub outbox: OutboxConfig,
    pub templates: Templates,
    pub desk: DeskConfig,
    pub sla: SlaConfig,
    pub followup: FollowupConfig,
    pub inbox: InboxConfig,
    pub discord: DiscordConfig,
    pub slack: SlackConfig,
    pub metrics: MetricsConfig,
    pub log: LogConfig,
    pub web: WebConfig,
    pub privacy: PrivacyConfig,
    /// Values for `{{name}}` in answers and templates; nested tables give dotted names.
    pub vars: toml::Table,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub bind: String,
    /// The address customers and agents use, for the links logged at start; empty = from `bind`.
    pub public_url: String,
    /// New chat sessions one client address may open per minute (0 = no limit).
    pub sessions_per_minute_per_ip: u32,
    /// Messages one chat session may send per minute (0 = no limit).
    pub messages_per_minute_per_session: u32,
    /// Peers (IP addresses) whose `X-Forwarded-For` is believed; from anyone else it is ignored.
    /// Text here (checked by [`Config::validate`]), read with [`HttpConfig::trusted_proxy_ips`].
    pub trusted_proxies: Vec<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            public_url: String::new(),
            sessions_per_minute_per_ip: 30,
            messages_per_minute_per_session: 20,
            trusted_proxies: Vec::new(),
        }
    }
}

impl HttpConfig {
    /// `trusted_proxies` as addresses; one that does not parse is left out (and reported by
    /// [`Config::validate`]).
    pub fn trusted_proxy_ips(&self) -> Vec<std::net::IpAddr> {
        self.trusted_proxies
            .iter()
            .filter_map(|p| p.trim().parse().ok())
            .collect()
    }
}

/// The web chat on customers' own sites: who may embed it, and signed identity.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Origins (`https://shop.example.com`) whose pages may embed the chat in a frame.
    pub allowed_origins: Vec<String>,
    /// From `FRONTLINE_IDENTITY_SECRET`, never from the file: the key of the HMAC-SHA256 a
    /// site signs its customers' ids with.
    #[serde(skip)]
    pub identity_secret: Secret,
}

/// What is kept of customers' data, and for how long.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacyConfig {
    /// What is replaced in customers' lines before they are stored, logged or shown to agents.
    pub redact: Vec<RedactKind>,
    /// Days a finished conversation's text is kept (0 = for ever).
    pub retention_days: u32,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        Self {
            redact: vec![RedactKind::Card],
            retention_days: 0,
        }
    }
}

/// A kind of personal data found in customers' text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedactKind {
    /// Payment card numbers (13-19 digits passing the Luhn check).
    Card,
    Email,
    Phone,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    pub url: String,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite:data/frontline.db".into(),
        }
    }
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .finish()
    }
}

/// Hides the password in a database URL, for logs: in the user part (`user:secret@host`) and in
/// a `password=` query parameter.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &base[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &base[..scheme + 3],
                    &userinfo[..colon],
                    &base[at..]
                ),
                None => base.to_string(),
            }
        }
        _ => base.to_string(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => p.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntentsConfig {
    pub dir: PathBuf,
    /// Reload the intents when files change.
    pub watch: bool,
    pub poll_ms: u64,
}

impl Default for IntentsConfig {
    fn default() -> Self {
        Self {
            dir: "intents".into(),
            watch: true,
            poll_ms: 1000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConversationConfig {
    /// Misses in a row before the bot hands over (the first gets a rephrase prompt).
    pub max_misses: i32,
    /// After an agent closes a ticket, a message within this many seconds reopens it.
    pub reopen_window_secs: i64,
    /// Intents that are polite closers: they never reopen a closed ticket.
    pub closing_intents: Vec<String>,
    /// Intents that mean "let me talk to a person".
    pub human_intents: Vec<String>,
    /// Show "a support agent" instead of agents' names to customers.
    pub anonymous_agents: bool,
    /// Hand over early when a customer repeats themselves, shouts or swears.
    pub escalate_on_frustration: bool,
}

impl Default for ConversationConfig {
    fn default() -> Self {
        Self {
            max_misses: 2,
            reopen_window_secs: 48 * 3600,
            closing_intents: vec!["thanks".into(), "goodbye".into()],
            human_intents: vec!["human".into()],
            anonymous_agents: false,
            escalate_on_frustration: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupportHours {
    /// Offset of the team's local time from UTC, in minutes (e.g. 60 for UTC+01:00).
    pub utc_offset_minutes: i32,
    /// Days agents work, as "mon".."sun"; empty means always staffed.
    pub days: Vec<String>,
    /// Opening and closing time on those days, "HH:MM" local time.
    pub open: String,
    pub close: String,
    /// Days off, "YYYY-MM-DD" in the team's local time: closed all day, whatever `days` says.
    pub holidays: Vec<String>,
}

impl Default for SupportHours {
    fn default() -> Self {
        Self {
            utc_offset_minutes: 0,
            days: Vec::new(),
            open: "09:00".into(),
            close: "17:00".into(),
            holidays: Vec::new(),
        }
    }
}

/// Service-level targets, counted in support hours.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlaConfig {
    /// Minutes from a ticket's opening to the first agent reply, per priority (0 = no target).
    pub first_reply_minutes: FirstReplyMinutes,
    /// Share of a target (0..1) at which agents are reminded; they hear again at 100%, when the
    /// target is missed (0 = no early reminder).
    pub remind_at: f64,
}

impl Default for SlaConfig {
    fn default() -> Self {
        Self {
            first_reply_minutes: FirstReplyMinutes::default(),
            remind_at: 0.75,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FirstReplyMinutes {
    pub low: i64,
    pub normal: i64,
    pub high: i64,
    pub urgent: i64,
}

impl Default for FirstReplyMinutes {
    fn default() -> Self {
        Self {
            low: 480,
            normal: 60,
            high: 30,
            urgent: 15,
        }
    }
}

impl FirstReplyMinutes {
    pub fn of(&self, priority: crate::core::ticket::Priority) -> i64 {
        use crate::core::ticket::Priority;
        match priority {
            Priority::Low => self.low,
            Priority::Normal => self.normal,
            Priority::High => self.high,
            Priority::Urgent => self.urgent,
        }
    }
}

/// Waiting on the customer after an agent's reply.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FollowupConfig {
    /// Hours after the agent's last reply to remind a silent customer (0 = off).
    pub remind_hours: i64,
    /// Hours after the agent's last reply to close the ticket (0 = off).
    pub close_hours: i64,
}

impl Default for FollowupConfig {
    fn default() -> Self {
        Self {
            remind_hours: 24,
            close_hours: 72,
        }
    }
}

/// Handling of stored inbound events.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboxConfig {
    /// Failed handling attempts before an event becomes a dead letter.
    pub max_attempts: i32,
    /// Most events recorded and handled in one transaction (group commit).
    pub batch_max: usize,
    /// How long the first event of a batch waits for others to join it, in microseconds; 0 takes
    /// only those that arrived while the previous batch was committing.
    pub batch_wait_us: u64,
}

impl Default for InboxConfig {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            batch_max: 128,
            batch_wait_us: 0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Expected wait announced before any ticket has been claimed, in minutes.
    pub default_wait_minutes: i64,
    /// How many recent claims the expected wait is estimated from.
    pub wait_sample: i64,
    /// Tell customers still waiting where they stand every this many minutes (0 = never).
    pub update_minutes: i64,
    /// Service target: a ticket should be claimed within this many support-hours minutes of
    /// being opened (0 = no target). The console flags tickets near or past it.
    pub claim_target_minutes: i64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            default_wait_minutes: 10,
            wait_sample: 20,
            update_minutes: 10,
            claim_target_minutes: 15,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Attempts before a transiently failing message becomes a dead letter.
    pub max_attempts: i32,
    pub backoff_base_ms: i64,
    pub backoff_max_ms: i64,
    /// How often the dispatcher and timers look for due work when nothing woke them.
    pub poll_ms: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            backoff_base_ms: 500,
            backoff_max_ms: 5 * 60_000,
            poll_ms: 500,
        }
    }
}

/// Every sentence the bot writes on its own, as `{{name}}` templates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Templates {
    pub disclosure: String,
    pub rephrase: String,
    pub clarify: String,
    pub escalated: String,
    pub escalated_after_hours: String,
    pub agent_joined: String,
    pub resolved: String,
    pub csat_thanks: String,
    pub reopened: String,
    pub agent_left: String,
    pub related: String,
    pub queue_update: String,
    pub blocked: String,
    pub followup: String,
    /// Greets a returning customer whose name is known (first reply; signed-in web chat).
    pub welcome_back: String,
}

impl Default for Templates {
    fn default() -> Self {
        Self {
            disclosure: "Hi! I'm the automated assistant of {{shop.name}}. I answer common questions right away, and a person from our team is one message away: just say \"talk to a person\".".into(),
            rephrase: "Sorry, I'm not sure I understood. Could you say it another way? If you'd rather talk to a person, just say so.".into(),
            clarify: "I want to get this right. Did you mean:\n{{options}}\nReply with the number or the name.".into(),
            escalated: "I've passed this to our support team as ticket #{{ticket}}. A person takes over from here and I'll step back. You are number {{position}} in the queue; the expected wait is {{wait}}. They can read this whole conversation, so there's no need to repeat anything.".into(),
            escalated_after_hours: "I've passed this to our support team as ticket #{{ticket}}. A person takes over from here and I'll step back. Our team works {{hours}}, so they'll be with you when they're back ({{back}}); you are number {{position}} in the queue. They can read this whole conversation, so there's no need to repeat anything.".into(),
            agent_joined: "{{agent}} has joined the conversation and will help you from here.".into(),
            resolved: "Ticket #{{ticket}} is now closed. Thank you for reaching out to us! How did we do? Reply with a number from 1 (poor) to 5 (excellent).".into(),
            csat_thanks: "Thank you for your rating, it helps us improve.".into(),
            reopened: "I've reopened ticket #{{ticket}} and let {{agent}} know; they'll reply here.".into(),
            agent_left: "{{agent}} is no longer available, so ticket #{{ticket}} is back in the queue: you are number {{position}}. The next person to pick it up sees this whole conversation, so there's no need to repeat anything.".into(),
            related: "You can also ask about: {{options}}.".into(),
            queue_update: "Thanks for waiting. Ticket #{{ticket}} is now number {{position}} in the queue; the expected wait is {{wait}}.".into(),
            blocked: "We're unable to continue this conversation here. Please contact us at {{support.email}} if you need anything.".into(),
            welcome_back: "Welcome back, {{customer.name}}!".into(),
            followup: "Just checking in on ticket #{{ticket}}: did our last reply help? Reply here if you still need anything; otherwise we'll close the ticket in a while.".into(),
        }
    }
}

/// A token or signing secret read from the environment. It has no `Display`, and its `Debug`
/// never shows the value, so a logged config cannot leak it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(Option<String>);

impl Secret {
    /// An empty value counts as unset: `DISCORD_TOKEN=` is as good as no token.
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        Self((!value.trim().is_empty()).then_some(value))
    }

    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// The value, for the one place that sends it to the platform.
    pub fn expose(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_set() {
            "[redacted]"
        } else {
            "(unset)"
        })
    }
}

/// A secret written in the config file (such as `[metrics] token`) reads as a string.
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

/// `GET /metrics` for Prometheus.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub enabled: bool,
    /// Empty: served on the main listener; or an address of its own (e.g. "127.0.0.1:9090").
    pub bind: String,
    /// If set, scrapes must send `Authorization: Bearer TOKEN`.
    pub token: Secret,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            bind: String::new(),
            token: Secret::default(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Plain lines for people (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Environment variables the platform secrets are read from.
pub const DISCORD_TOKEN_VAR: &str = "DISCORD_TOKEN";
pub const SLACK_BOT_TOKEN_VAR: &str = "SLACK_BOT_TOKEN";
pub const SLACK_APP_TOKEN_VAR: &str = "SLACK_APP_TOKEN";
pub const SLACK_SIGNING_SECRET_VAR: &str = "SLACK_SIGNING_SECRET";
pub const IDENTITY_SECRET_VAR: &str = "FRONTLINE_IDENTITY_SECRET";

/// Where ticket cards and threads go; the web console sees every ticket whatever this is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeskPlatform {
    #[default]
    Web,
    Discord,
    Slack,
}

impl DeskPlatform {
    /// The channel name desk events are addressed to; `None` for the web console, which reads
    /// tickets from the store.
    pub fn channel(self) -> Option<&'static str> {
        match self {
            Self::Web => None,
            Self::Discord => Some("discord"),
            Self::Slack => Some("slack"),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Discord => "discord",
            Self::Slack => "slack",
        }
    }
}

/// What an agent's text in a platform ticket thread does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayMode {
    /// Everything an agent writes reaches the customer, except `!note` lines.
    #[default]
    All,
    /// Only `!reply TEXT` reaches the customer; the rest is talk among agents.
    Explicit,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeskConfig {
    pub platform: DeskPlatform,
    pub relay: RelayMode,
    /// Folder of canned answers, one `NAME.md` file each.
    pub snippets_dir: PathBuf,
}

impl Default for DeskConfig {
    fn default() -> Self {
        Self {
            platform: DeskPlatform::default(),
            relay: RelayMode::default(),
            snippets_dir: PathBuf::from("config/snippets"),
        }
    }
}

/// Discord's REST address; any other `api_base` means a test fake (no rate limiter, proxied).
pub const DISCORD_API_BASE: &str = "https://discord.com";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordConfig {
    pub enabled: bool,
    /// Channel for ticket cards and their threads (with `[desk] platform = "discord"`).
    pub staff_channel_id: String,
    /// Members with this role are agents.
    pub agent_role_id: String,
    /// Channels where a message starts a conversation (in a thread); DMs always do.
    pub support_channel_ids: Vec<String>,
    /// Without `/api/v10`.
    pub api_base: String,
    /// From `DISCORD_TOKEN`, never from the file.
    #[serde(skip)]
    pub token: Secret,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            staff_channel_id: String::new(),
            agent_role_id: String::new(),
            support_channel_ids: Vec::new(),
            api_base: DISCORD_API_BASE.into(),
            token: Secret::default(),
        }
    }
}

impl DiscordConfig {
    /// The base URL of a stand-in for Discord (a test fake), or `None` for the real one.
    pub fn custom_api_base(&self) -> Option<&str> {
        let base = self.api_base.trim_end_matches('/');
        (base != DISCORD_API_BASE).then_some(base)
    }
}

/// How the Slack app receives events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlackMode {
    /// Socket Mode: the bot dials out (`SLACK_APP_TOKEN`); no public URL needed.
    #[default]
    Socket,
    /// Events API: Slack posts to our HTTP server, signed with `SLACK_SIGNING_SECRET`.
    Events,
}

impl SlackMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Socket => "socket",
            Self::Events => "events",
        }
    }
}

pub const SLACK_API_BASE: &str = "https://slack.com/api";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackConfig {
    pub enabled: bool,
    pub mode: SlackMode,
    /// Channel id (`C…`) for ticket cards and their threads (with `[desk] platform = "slack"`).
    pub staff_channel: String,
    /// Channel ids where a top-level message starts a conversation (in its thread).
    pub help_channels: Vec<String>,
    /// User ids (`U…`) of agents.
    pub agent_ids: Vec<String>,
    /// A user group id (`S…`) whose members are agents too.
    pub agent_group: String,
    pub api_base: String,
    /// From `SLACK_BOT_TOKEN`: every Web API call.
    #[serde(skip)]
    pub bot_token: Secret,
    /// From `SLACK_APP_TOKEN`: opens Socket Mode connections.
    #[serde(skip)]
    pub app_token: Secret,
    /// From `SLACK_SIGNING_SECRET`: verifies Events API requests.
    #[serde(skip)]
    pub signing_secret: Secret,
}

impl Default for SlackConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            mode: SlackMode::Socket,
            staff_channel: String::new(),
            help_channels: Vec::new(),
            agent_ids: Vec::new(),
            agent_group: String::new(),
            api_base: SLACK_API_BASE.into(),
            bot_token: Secret::default(),
            app_token: Secret::default(),
            signing_secret: Secret::default(),
        }
    }
}

/// The platform adapters this build was compiled with. `Config::validate` takes it as an argument
/// so tests can check the errors of a build without them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    pub discord: bool,
    pub slack: bool,
}

impl Features {
    pub const fn of_this_build() -> Self {
        Self {
            discord: cfg!(feature = "discord"),
            slack: cfg!(feature = "slack"),
        }
    }
}

impl Config {
    /// Loads `path` (or only the defaults when `path` is `None`), then applies the environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(path, &env)
    }

    /// [`Config::load`] with the environment given, for tests.
    pub fn load_with_env(
        path: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<Self, ConfigError> {
        let mut table = match path {
            Some(path) => {
                let name = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: name.clone(),
                    source,
                })?;
                // Deserialising the file on its own first gives errors with the file's line numbers.
                toml::from_str::<Config>(&text).map_err(|e| invalid(&name, &text, &e))?;
                text.parse::<toml::Table>()
                    .map_err(|e| invalid(&name, &text, &e))?
            }
            None => toml::Table::new(),
        };
        let base = table.clone();
        // (variable, dotted key, value) of each override, to name the culprit of a later error.
        let mut overrides = Vec::new();
        for (var, raw) in env {
            if let Some(rest) = var.strip_prefix("FRONTLINE__") {
                let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
                let key = path.join(".");
                let value = env_override(&path, raw).map_err(|message| ConfigError::Env {
                    var: var.clone(),
                    message,
                })?;
                set_path(&mut table, &path, value.clone()).map_err(|message| ConfigError::Env {
                    var: var.clone(),
                    message,
                })?;
                overrides.push((var.clone(), key, path, value));
            }
        }
        if let Some(url) = env_var(env, "DATABASE_URL") {
            let db = table
                .entry("database")
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(db) = db {
                db.insert("url".into(), toml::Value::String(url.to_string()));
            }
        }
        let mut config = match Config::deserialize(toml::Value::Table(table)) {
            Ok(config) => config,
            Err(e) => {
                // The types already match, but a value can still be refused (an unknown enum
                // variant, a negative count): try each override alone to name the one at fault.
                for (var, key, path, value) in &overrides {
                    let mut alone = base.clone();
                    if set_path(&mut alone, path, value.clone()).is_ok() {
                        if let Err(e) = Config::deserialize(toml::Value::Table(alone)) {
                            return Err(ConfigError::Env {
                                var: var.clone(),
                                message: format!("{key}: {}", e.message()),
                            });
                        }
                    }
                }
                let mut vars: Vec<String> = overrides.into_iter().map(|o| o.0).collect();
                if env_var(env, "DATABASE_URL").is_some() {
                    vars.push("DATABASE_URL".into());
                }
                return Err(ConfigError::Env {
                    var: vars.join(", "),
                    message: e.message().to_string(),
                });
            }
        };
        config.discord.token = secret(env, DISCORD_TOKEN_VAR);
        config.slack.bot_token = secret(env, SLACK_BOT_TOKEN_VAR);
        config.slack.app_token = secret(env, SLACK_APP_TOKEN_VAR);
        config.slack.signing_secret = secret(env, SLACK_SIGNING_SECRET_VAR);
        config.web.identity_secret = secret(env, IDENTITY_SECRET_VAR);
        Ok(config)
    }

    /// Checks what the types alone cannot: that each enabled platform is built in and has its
    /// secrets, that the desk platform is set up, and the support hours. Every problem is
    /// reported at once, each naming the key, variable or cargo feature to fix.
    pub fn validate(&self, features: Features) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if let Err(e) = self.support_hours.validate() {
            problems.push(e);
        }
        if !(0.0..1.0).contains(&self.sla.remind_at) {
            problems.push(format!(
                "sla.remind_at: {} is not a share of the target below 1 (e.g. 0.75; 0 = off)",
                self.sla.remind_at
            ));
        }
        if self.inbox.max_attempts < 1 {
            problems.push("inbox.max_attempts must be at least 1".into());
        }
        if self.inbox.batch_max < 1 {
            problems.push("inbox.batch_max must be at least 1".into());
        }
        for proxy in &self.http.trusted_proxies {
            if proxy.trim().parse::<std::net::IpAddr>().is_err() {
                problems.push(format!(
                    "http.trusted_proxies: '{proxy}' is not an IP address"
                ));
            }
        }
        // Each origin goes into a Content-Security-Policy header as it is: a scheme and a host
        // (and port), nothing that could end or extend the directive.
        for origin in &self.web.allowed_origins {
            let host = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            if !host.is_some_and(|h| {
                !h.is_empty() && !h.contains(['/', ' ', ';', ',', '\'', '"', '\n'])
            }) {
                problems.push(format!(
                    "web.allowed_origins: '{origin}' is not an origin like https://shop.example.com"
                ));
            }
        }
        let discord = &self.discord;
        if discord.enabled {
            if !features.discord {
                problems.push(missing_feature("discord", "Discord"));
            }
            if !discord.token.is_set() {
                problems.push(format!(
                    "discord.enabled = true, but {DISCORD_TOKEN_VAR} is not set (the bot token)"
                ));
            }
        }
        let ids = [
            ("discord.staff_channel_id", &discord.staff_channel_id),
            ("discord.agent_role_id", &discord.agent_role_id),
        ];
        for (key, id) in ids.into_iter().chain(
            discord
                .support_channel_ids
                .iter()
                .map(|id| ("discord.support_channel_ids", id)),
        ) {
            // Discord ids are numbers; a pasted "#support" or role name would fail at run time.
            if !id.is_empty() && !id.bytes().all(|b| b.is_ascii_digit()) {
                problems.push(format!(
                    "{key}: '{id}' is not a Discord id (digits; use Copy ID in Discord's developer mode)"
                ));
            }
        }
        check_url(&mut problems, "discord.api_base", &discord.api_base);

        let slack = &self.slack;
        if slack.enabled {
            if !features.slack {
                problems.push(missing_feature("slack", "Slack"));
            }
            if !slack.bot_token.is_set() {
                problems.push(format!(
                    "slack.enabled = true, but {SLACK_BOT_TOKEN_VAR} is not set (the bot token, xoxb-…)"
                ));
            }
            match slack.mode {
                SlackMode::Socket if !slack.app_token.is_set() => problems.push(format!(
                    "slack.mode = \"socket\", but {SLACK_APP_TOKEN_VAR} is not set (the app-level token, xapp-…)"
                )),
                SlackMode::Events if !slack.signing_secret.is_set() => problems.push(format!(
                    "slack.mode = \"events\", but {SLACK_SIGNING_SECRET_VAR} is not set"
                )),
                _ => {}
            }
        }
        if slack.staff_channel.starts_with('#') {
            problems.push(format!(
                "slack.staff_channel: '{}' is a channel name; use the channel id (C…)",
                slack.staff_channel
            ));
        }
        check_url(&mut problems, "slack.api_base", &slack.api_base);

        match self.desk.platform {
            DeskPlatform::Web => {}
            DeskPlatform::Discord => {
                if !discord.enabled {
                    problems
                        .push("desk.platform = \"discord\" needs discord.enabled = true".into());
                }
                if discord.staff_channel_id.is_empty() {
                    problems.push(
                        "desk.platform = \"discord\" needs discord.staff_channel_id (the channel for ticket cards)".into(),
                    );
                }
                if discord.agent_role_id.is_empty() {
                    problems.push(
                        "desk.platform = \"discord\" needs discord.agent_role_id (the role of agents)".into(),
                    );
                }
            }
            DeskPlatform::Slack => {
                if !slack.enabled {
                    problems.push("desk.platform = \"slack\" needs slack.enabled = true".into());
                }
                if slack.staff_channel.is_empty() {
                    problems.push(
                        "desk.platform = \"slack\" needs slack.staff_channel (the channel id for ticket cards)".into(),
                    );
                }
                // Without either, nobody on Slack could claim or answer a ticket.
                if slack.agent_ids.is_empty() && slack.agent_group.is_empty() {
                    problems.push(
                        "desk.platform = \"slack\" needs slack.agent_ids or slack.agent_group (who the agents are)".into(),
                    );
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Check { problems })
        }
    }

    /// `[vars]` flattened to dotted names (`[vars.links] orders = ".."` → `links.orders`).
    pub fn vars(&self) -> Vars {
        let mut out = BTreeMap::new();
        flatten("", &self.vars, &mut out);
        out
    }

    /// The variable names answers may use: `[vars]` plus what each conversation provides.
    pub fn known_vars(&self) -> std::collections::BTreeSet<String> {
        let mut names: std::collections::BTreeSet<String> = self.vars().into_keys().collect();
        names.insert("customer.name".into());
        names
    }
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut Vars) {
    for (key, value) in table {
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => flatten(&name, inner, out),
            toml::Value::String(s) => {
                out.insert(name, s.clone());
            }
            other => {
                out.insert(name, other.to_string());
            }
        }
    }
}

fn invalid(path: &str, text: &str, e: &toml::de::Error) -> ConfigError {
    let line = e
        .span()
        .map(|span| text[..span.start.min(text.len())].lines().count().max(1))
        .unwrap_or(1);
    let line = match e.span() {
        Some(span) if text[..span.start.min(text.len())].ends_with('\n') => line + 1,
        _ => line,
    };
    ConfigError::Invalid {
        path: path.into(),
        line,
        message: e.message().to_string(),
    }
}

fn missing_feature(feature: &str, name: &str) -> String {
    format!(
        "{feature}.enabled = true, but this build has no {name} support: build with --features {feature}"
    )
}

fn check_url(problems: &mut Vec<String>, key: &str, url: &str) {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        problems.push(format!("{key}: '{url}' is not an http:// or https:// URL"));
    }
}

/// The last value of `name` in `env`, as the process environment would have it.
fn env_var<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn secret(env: &[(String, String)], name: &str) -> Secret {
    env_var(env, name).map(Secret::new).unwrap_or_default()
}

/// The type a config key expects, read from the Rust types by [`schema`]. Environment values
/// are converted to it, so the file's types and the variables' never drift apart.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyType {
    Bool,
    Integer,
    Float,
    /// Strings, paths and enums (`desk.platform`).
    String,
    List(Box<KeyType>),
    /// A struct: a fixed set of keys.
    Section(BTreeMap<String, KeyType>),
    /// A map with free key names and values of one type.
    Map(Box<KeyType>),
    /// A free-form TOML value (`[vars]`): set from the environment as a string.
    Any,
}

/// The type of every key of [`Config`], found by running its `Deserialize` impl against a
/// deserializer that records what each field asks for.
pub fn schema() -> &'static KeyType {
    static SCHEMA: OnceLock<KeyType> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut kind = KeyType::Any;
        Config::deserialize(Probe(&mut kind))
            .expect("every Config field type can be probed (see the schema tests)");
        kind
    })
}

static ANY: KeyType = KeyType::Any;

impl KeyType {
    fn child(&self, name: &str) -> Option<&KeyType> {
        match self {
            KeyType::Section(keys) => keys.get(name),
            KeyType::Map(value) => Some(value),
            KeyType::Any => Some(&ANY),
            _ => None,
        }
    }
}

/// Converts `FRONTLINE__A__B=raw` to the TOML value key `a.b` expects.
fn env_override(path: &[String], raw: &str) -> Result<toml::Value, String> {
    if path.iter().any(|p| p.is_empty()) {
        return Err("names no key (use FRONTLINE__SECTION__KEY)".into());
    }
    let mut kind = schema();
    for (i, name) in path.iter().enumerate() {
        let key = path[..=i].join(".");
        kind = match kind.child(name) {
            Some(kind) => kind,
            None if i > 0 && !matches!(kind, KeyType::Section(_)) => {
                return Err(format!("{} is not a section", path[..i].join(".")))
            }
            None => return Err(unknown_key(&key, kind)),
        };
    }
    let key = path.join(".");
    if let KeyType::Section(_) = kind {
        return Err(format!(
            "{key} is a section: set its keys one by one (FRONTLINE__{}__KEY)",
            path.join("__").to_ascii_uppercase()
        ));
    }
    coerce(raw, kind).map_err(|expected| format!("{key} expects {expected}, got {raw:?}"))
}

fn unknown_key(key: &str, section: &KeyType) -> String {
    let secret = [
        ("discord.token", DISCORD_TOKEN_VAR),
        ("slack.bot_token", SLACK_BOT_TOKEN_VAR),
        ("slack.app_token", SLACK_APP_TOKEN_VAR),
        ("slack.signing_secret", SLACK_SIGNING_SECRET_VAR),
        ("web.identity_secret", IDENTITY_SECRET_VAR),
    ];
    if let Some((_, var)) = secret.iter().find(|(k, _)| *k == key) {
        return format!("{key} is not a config key: set {var} instead");
    }
    match section {
        KeyType::Section(keys) => format!(
            "unknown key {key} (known here: {})",
            keys.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
        _ => format!("unknown key {key}"),
    }
}

/// `Err` carries what was expected, for the message.
fn coerce(raw: &str, kind: &KeyType) -> Result<toml::Value, &'static str> {
    use toml::Value;
    let trimmed = raw.trim();
    match kind {
        // Taken as written, so ids stay digits and "09:00" stays text; quotes from a shell
        // habit (`"0.0.0.0:80"`) are removed.
        KeyType::String | KeyType::Any => Ok(Value::String(match parse_toml(trimmed) {
            Some(Value::String(s)) if trimmed.starts_with(['"', '\'']) => s,
            _ => raw.to_string(),
        })),
        KeyType::Bool => match trimmed.to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Boolean(true)),
            "false" => Ok(Value::Boolean(false)),
            _ => Err("true or false"),
        },
        KeyType::Integer => match parse_toml(trimmed) {
            Some(v @ Value::Integer(_)) => Ok(v),
            _ => Err("a whole number"),
        },
        KeyType::Float => match parse_toml(trimmed) {
            Some(v @ Value::Float(_)) => Ok(v),
            Some(Value::Integer(n)) => Ok(Value::Float(n as f64)),
            _ => Err("a number"),
        },
        KeyType::List(item) if trimmed.starts_with('[') => match parse_toml(trimmed) {
            Some(Value::Array(items)) => Ok(Value::Array(
                items
                    .into_iter()
                    .map(|v| match (&**item, v) {
                        // `[600000000000000003]` for a list of ids.
                        (
                            KeyType::String,
                            v @ (Value::Integer(_)
                            | Value::Float(_)
                            | Value::Boolean(_)
                            | Value::Datetime(_)),
                        ) => Value::String(v.to_string()),
                        (_, v) => v,
                    })
                    .collect(),
            )),
            _ => Err("a list: a,b or [\"a\", \"b\"]"),
        },
        KeyType::List(item) => trimmed
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| coerce(s, item))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        KeyType::Map(_) => match parse_toml(trimmed) {
            Some(v @ Value::Table(_)) => Ok(v),
            _ => Err("a table: {name = value}, or set its keys one by one"),
        },
        // Refused with a better message by `env_override`.
        KeyType::Section(_) => Err("its keys to be set one by one"),
    }
}

/// `raw` as a TOML value, if it is one.
fn parse_toml(raw: &str) -> Option<toml::Value> {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
}

/// A deserializer that produces placeholder values and writes down, for each field, which type
/// its `Deserialize` impl asked for.
struct Probe<'a>(&'a mut KeyType);

type ProbeError = de::value::Error;

macro_rules! probe_scalars {
    ($($method:ident => $kind:ident, $visit:ident($value:expr);)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
            *self.0 = KeyType::$kind;
            visitor.$visit($value)
        }
    )*};
}

impl<'de> Deserializer<'de> for Probe<'_> {
    type Error = ProbeError;

    probe_scalars! {
        deserialize_bool => Bool, visit_bool(false);
        deserialize_i8 => Integer, visit_i64(0);
        deserialize_i16 => Integer, visit_i64(0);
        deserialize_i32 => Integer, visit_i64(0);
        deserialize_i64 => Integer, visit_i64(0);
        deserialize_i128 => Integer, visit_i64(0);
        deserialize_u8 => Integer, visit_u64(0);
        deserialize_u16 => Integer, visit_u64(0);
        deserialize_u32 => Integer, visit_u64(0);
        deserialize_u64 => Integer, visit_u64(0);
        deserialize_u128 => Integer, visit_u64(0);
        deserialize_f32 => Float, visit_f64(0.0);
        deserialize_f64 => Float, visit_f64(0.0);
        deserialize_char => String, visit_char('x');
        deserialize_str => String, visit_str("");
        deserialize_string => String, visit_str("");
        deserialize_bytes => String, visit_str("");
        deserialize_byte_buf => String, visit_str("");
        deserialize_identifier => String, visit_str("");
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        *self.0 = KeyType::Any;
        visitor.visit_map(ProbeMap {
            value: None,
            key_done: true,
        })
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        *self.0 = KeyType::Any;
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        // An item type the visitor never asks for is taken to be a string.
        let mut item = KeyType::String;
        let value = visitor.visit_seq(ProbeSeq {
            item: Some(&mut item),
        })?;
        *self.0 = KeyType::List(Box::new(item));
        Ok(value)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        let mut item = KeyType::Any;
        let value = visitor.visit_map(ProbeMap {
            value: Some(&mut item),
            key_done: false,
        })?;
        *self.0 = KeyType::Map(Box::new(item));
        Ok(value)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        let mut keys = BTreeMap::new();
        let value = visitor.visit_map(ProbeStruct {
            fields,
            next: 0,
            keys: &mut keys,
        })?;
        *self.0 = KeyType::Section(keys);
        Ok(value)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        *self.0 = KeyType::String;
        let first = variants
            .first()
            .ok_or_else(|| de::Error::custom("an enum without variants"))?;
        visitor.visit_enum(de::value::StrDeserializer::<ProbeError>::new(first))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_unit()
    }
}

/// One item, so the item type gets recorded.
struct ProbeSeq<'a> {
    item: Option<&'a mut KeyType>,
}

impl<'de> de::SeqAccess<'de> for ProbeSeq<'_> {
    type Error = ProbeError;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ProbeError> {
        match self.item.take() {
            Some(item) => seed.deserialize(Probe(item)).map(Some),
            None => Ok(None),
        }
    }
}

/// One entry (or none when `value` is `None`), so the value type gets recorded.
struct ProbeMap<'a> {
    value: Option<&'a mut KeyType>,
    key_done: bool,
}

impl<'de> de::MapAccess<'de> for ProbeMap<'_> {
    type Error = ProbeError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ProbeError> {
        if self.key_done {
            return Ok(None);
        }
        self.key_done = true;
        // Probing the key too gives a valid placeholder for enum keys.
        seed.deserialize(Probe(&mut KeyType::Any)).map(Some)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ProbeError> {
        match self.value.take() {
            Some(value) => seed.deserialize(Probe(value)),
            None => Err(de::Error::custom("a value without a key")),
        }
    }
}

/// Every field of a struct once, recording each field's type under its name.
struct ProbeStruct<'a> {
    fields: &'static [&'static str],
    next: usize,
    keys: &'a mut BTreeMap<String, KeyType>,
}

impl<'de> de::MapAccess<'de> for ProbeStruct<'_> {
    type Error = ProbeError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ProbeError> {
        match self.fields.get(self.next) {
            Some(field) => seed
                .deserialize(de::value::StrDeserializer::<ProbeError>::new(field))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ProbeError> {
        let field = self.fields[self.next];
        self.next += 1;
        let mut kind = KeyType::Any;
        let value = seed.deserialize(Probe(&mut kind))?;
        self.keys.insert(field.to_string(), kind);
        Ok(value)
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    match path {
        [] => Err("names no key".into()),
        [key] => {
            table.insert(key.clone(), value);
            Ok(())
        }
        [key, rest @ ..] => {
            let entry = table
                .entry(key.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(inner) => set_path(inner, rest, value),
                _ => Err(format!("'{key}' is not a section")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile_path::TempPath {
        tempfile_path::TempPath::new(text)
    }

    /// A tiny temp-file helper so config tests need no extra crate.
    mod tempfile_path {
        pub struct TempPath(pub std::path::PathBuf);
        impl TempPath {
            pub fn new(text: &str) -> Self {
                static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let path = std::env::temp_dir()
                    .join(format!("frontline-config-{}-{n}.toml", std::process::id()));
                std::fs::write(&path, text).unwrap();
                Self(path)
            }
        }
        impl Drop for TempPath {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    #[test]
    fn database_passwords_never_reach_the_logs() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/frontline"),
            "postgres://app:***@db:5432/frontline"
        );
        assert_eq!(
            redact_url("postgres://db/frontline?user=app&password=s3cret&sslmode=require"),
            "postgres://db/frontline?user=app&password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("sqlite:data/frontline.db"),
            "sqlite:data/frontline.db"
        );
    }

    #[test]
    fn the_shipped_default_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
        let config = Config::load_with_env(Some(&path), &[]).expect("config/default.toml loads");
        assert_eq!(config.http.bind, "127.0.0.1:8080");
        assert_eq!(config.database.url, "sqlite:data/frontline.db");
        assert!(config.vars().contains_key("shop.name"));
        // The file documents the built-in defaults; they must not drift apart.
        let t = (&config.templates, &Templates::default());
        assert_eq!(format!("{:?}", t.0), format!("{:?}", t.1));
        assert_eq!(
            config.conversation.reopen_window_secs,
            ConversationConfig::default().reopen_window_secs
        );
        assert_eq!(
            format!("{:?}", config.outbox),
            format!("{:?}", OutboxConfig::default())
        );
    }

    #[test]
    fn unknown_keys_name_the_file_and_line() {
        let file = write("[http]\nbind = \"127.0.0.1:1\"\nbnid = \"oops\"\n");
        let err = Config::load_with_env(Some(&file.0), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains(":3:"), "{err}");
        assert!(err.contains("bnid"), "{err}");
    }

    #[test]
    fn environment_overrides_the_file_and_database_url_wins() {
        let file = write("[http]\nbind = \"127.0.0.1:1\"\n[conversation]\nmax_misses = 3\n");
        let env = vec![
            (
                "FRONTLINE__HTTP__BIND".to_string(),
                "0.0.0.0:9000".to_string(),
            ),
            (
                "FRONTLINE__CONVERSATION__MAX_MISSES".to_string(),
                "4".to_string(),
            ),
            (
                "DATABASE_URL".to_string(),
                "postgres://u:pw-s3cret@h/db".to_string(),
            ),
        ];
        let config = Config::load_with_env(Some(&file.0), &env).unwrap();
        assert_eq!(config.http.bind, "0.0.0.0:9000");
        assert_eq!(config.conversation.max_misses, 4);
        assert_eq!(config.database.url, "postgres://u:pw-s3cret@h/db");
        assert!(!format!("{config:?}").contains("pw-s3cret"));
    }

    #[test]
    fn a_bad_environment_value_names_the_variable() {
        let env = vec![(
            "FRONTLINE__CONVERSATION__MAX_MISSES".to_string(),
            "many".to_string(),
        )];
        let err = Config::load_with_env(None, &env).unwrap_err().to_string();
        assert!(err.contains("FRONTLINE__CONVERSATION__MAX_MISSES"), "{err}");
    }

    #[test]
    fn vars_flatten_to_dotted_names() {
        let file = write("[vars]\nphone = \"1\"\n[vars.links]\norders = \"https://x\"\n");
        let config = Config::load_with_env(Some(&file.0), &[]).unwrap();
        let vars = config.vars();
        assert_eq!(vars["links.orders"], "https://x");
        assert_eq!(vars["phone"], "1");
        assert!(config.known_vars().contains("customer.name"));
    }

    fn key<'a>(path: &str) -> &'a KeyType {
        path.split('.')
            .fold(schema(), |kind, name| kind.child(name).expect(path))
    }

    #[test]
    fn the_schema_reads_each_key_type_from_the_rust_types() {
        assert_eq!(key("http.bind"), &KeyType::String);
        assert_eq!(key("intents.dir"), &KeyType::String, "a PathBuf");
        assert_eq!(key("intents.watch"), &KeyType::Bool);
        assert_eq!(key("intents.poll_ms"), &KeyType::Integer);
        assert_eq!(key("matcher.target_precision"), &KeyType::Float);
        assert_eq!(key("desk.platform"), &KeyType::String, "an enum");
        assert_eq!(
            key("slack.agent_ids"),
            &KeyType::List(Box::new(KeyType::String))
        );
        assert_eq!(key("vars"), &KeyType::Map(Box::new(KeyType::Any)));
        assert!(matches!(key("discord"), KeyType::Section(_)));
        // Secrets are skipped by serde, so no variable can set them.
        assert!(schema().child("discord").unwrap().child("token").is_none());
    }

    #[test]
    fn values_are_converted_to_the_key_type() {
        use toml::Value;
        let s = |v: &str| Value::String(v.into());
        let list = KeyType::List(Box::new(KeyType::String));
        assert_eq!(
            coerce("600000000000000002", &KeyType::String),
            Ok(s("600000000000000002"))
        );
        assert_eq!(coerce("09:00", &KeyType::String), Ok(s("09:00")));
        assert_eq!(
            coerce("\"0.0.0.0:80\"", &KeyType::String),
            Ok(s("0.0.0.0:80"))
        );
        assert_eq!(coerce("TRUE", &KeyType::Bool), Ok(Value::Boolean(true)));
        assert_eq!(coerce("yes", &KeyType::Bool), Err("true or false"));
        assert_eq!(coerce("42", &KeyType::Integer), Ok(Value::Integer(42)));
        assert_eq!(coerce("4.5", &KeyType::Integer), Err("a whole number"));
        assert_eq!(coerce("1", &KeyType::Float), Ok(Value::Float(1.0)));
        assert_eq!(coerce("U1", &list), Ok(Value::Array(vec![s("U1")])));
        assert_eq!(
            coerce(" U1, U2 ,", &list),
            Ok(Value::Array(vec![s("U1"), s("U2")]))
        );
        assert_eq!(
            coerce("[\"a,b\", 3]", &list),
            Ok(Value::Array(vec![s("a,b"), s("3")]))
        );
        assert_eq!(coerce("", &list), Ok(Value::Array(vec![])));
        assert_eq!(
            coerce("1,x", &KeyType::List(Box::new(KeyType::Integer))),
            Err("a whole number")
        );
    }

    #[test]
    fn secrets_show_only_whether_they_are_set() {
        assert_eq!(format!("{:?}", Secret::new("xoxb-1")), "[redacted]");
        assert_eq!(format!("{:?}", Secret::default()), "(unset)");
        assert!(!Secret::new("  ").is_set(), "an empty variable is no token");
        assert_eq!(Secret::new("t").expose(), Some("t"));
    }

    #[test]
    fn only_platform_desks_get_desk_events() {
        assert_eq!(DeskPlatform::Web.channel(), None);
        assert_eq!(DeskPlatform::Discord.channel(), Some("discord"));
        assert_eq!(DeskPlatform::Slack.channel(), Some("slack"));
    }

    #[test]
    fn only_a_stand_in_discord_gets_a_custom_api_base() {
        let mut discord = DiscordConfig::default();
        assert_eq!(discord.custom_api_base(), None);
        discord.api_base = "https://discord.com/".into();
        assert_eq!(discord.custom_api_base(), None);
        discord.api_base = "http://127.0.0.1:9/".into();
        assert_eq!(discord.custom_api_base(), Some("http://127.0.0.1:9"));
    }
}
