//! The `[section]` types of the config file, each with its defaults (`config/default.toml`
//! documents every key), and [`Secret`], a token read from its own environment variable.

use std::path::PathBuf;

use serde::Deserialize;

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
