//! A fake Discord on 127.0.0.1 that speaks the real gateway (WebSocket, JSON text frames) and
//! REST protocol (`/api/v10/...`), so tests can run the real serenity 0.12.5 client against it.
//!
//! ```ignore
//! let fake = FakeDiscord::start().await;
//! let http = HttpBuilder::new(fake_discord::TOKEN).proxy(fake.api_base()).ratelimiter_disabled(true);
//! // ... start the client / adapter, then:
//! fake.wait_ready(1).await.unwrap();
//! let alice = FakeUser::customer("alice");
//! fake.dm(&alice, "where is my order?").await;
//! let dm = fake.dm_channel_of(&alice.id).unwrap();
//! let replies = fake.wait_bot_messages_in(&dm, 1, Duration::from_secs(5)).await.unwrap();
//! ```
//!
//! What it does like Discord (checked against serenity's models):
//! - Gateway: HELLO, IDENTIFY -> READY, heartbeat ACKs, RESUME -> RESUMED (or op 9 when resumes
//!   are rejected), op 9 on `invalidate_session`, an abrupt TCP reset on `drop_connection`,
//!   sequence numbers, intent gating (DMs need DIRECT_MESSAGES, guild messages GUILD_MESSAGES,
//!   content of guild messages needs MESSAGE_CONTENT unless the bot is mentioned), and the bot
//!   receives its own messages as MESSAGE_CREATE.
//! - While no session is connected, `dm`/`post` only store the message: the adapter must fetch it
//!   over REST. A successful RESUME does not replay them either (Discord would), which is the
//!   harder case for the adapter.
//! - REST messages carry no `guild_id` and no `member`; gateway guild messages carry both.
//! - Interactions: 3 s deadline (10062), a second response is refused (40060), follow-ups only
//!   after the initial response (10015 before).
//! - Errors use Discord's JSON shape `{"message", "code"}` (and `errors` for 50035).
//!
//! Timing note: after op 9 (`invalidate_session`, or a rejected RESUME) serenity waits about 5 s
//! before it identifies again (its shard queuer spaces IDENTIFYs 5 s apart); `wait_ready` allows
//! for that.
#![allow(dead_code)]

mod gateway;
mod rest;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

/// The bot token the fake accepts (REST `Authorization: Bot TOKEN`, gateway IDENTIFY).
pub const TOKEN: &str = "fake-discord-bot-token";
pub const BOT_ID: &str = "600000000000000001";
pub const BOT_NAME: &str = "frontline";
pub const APPLICATION_ID: &str = "600000000000000002";
pub const GUILD_ID: &str = "600000000000000003";
pub const STAFF_CHANNEL_ID: &str = "600000000000000004";
pub const SUPPORT_CHANNEL_ID: &str = "600000000000000005";
pub const AGENT_ROLE_ID: &str = "600000000000000006";
/// A role that ordinary members have (not the agent role).
pub const MEMBER_ROLE_ID: &str = "600000000000000007";
/// Another guild text channel, neither staff nor support.
pub const GENERAL_CHANNEL_ID: &str = "600000000000000008";

/// Discord's limit on message content.
pub const MAX_CONTENT: usize = 2000;
/// Interactions must get their initial response within this time.
pub const INTERACTION_DEADLINE: Duration = Duration::from_secs(3);
/// Message flag: only the clicking user sees the message.
pub const EPHEMERAL: u64 = 64;

pub const CHANNEL_GUILD_TEXT: u8 = 0;
pub const CHANNEL_DM: u8 = 1;
pub const CHANNEL_PUBLIC_THREAD: u8 = 11;
pub const CHANNEL_PRIVATE_THREAD: u8 = 12;

const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;
const INTENT_GUILDS: u64 = 1 << 0;
const INTENT_GUILD_MESSAGES: u64 = 1 << 9;
const INTENT_DIRECT_MESSAGES: u64 = 1 << 12;
const INTENT_MESSAGE_CONTENT: u64 = 1 << 15;

/// A Discord user as the tests describe it. `roles` are the guild roles of the member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeUser {
    pub id: String,
    pub name: String,
    pub roles: Vec<String>,
    pub bot: bool,
}

static NEXT_USER_ID: AtomicU64 = AtomicU64::new(610_000_000_000_000_001);

impl FakeUser {
    /// A user with a fresh id and the given roles.
    pub fn new(name: &str, roles: &[&str]) -> FakeUser {
        FakeUser {
            id: NEXT_USER_ID.fetch_add(1, Ordering::SeqCst).to_string(),
            name: name.to_string(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            bot: false,
        }
    }
    /// A customer: no roles.
    pub fn customer(name: &str) -> FakeUser {
        FakeUser::new(name, &[])
    }
    /// A member with `AGENT_ROLE_ID`.
    pub fn agent(name: &str) -> FakeUser {
        FakeUser::new(name, &[AGENT_ROLE_ID, MEMBER_ROLE_ID])
    }
    /// A guild member without the agent role.
    pub fn non_agent(name: &str) -> FakeUser {
        FakeUser::new(name, &[MEMBER_ROLE_ID])
    }
    /// Another bot (the adapter must ignore it).
    pub fn other_bot(name: &str) -> FakeUser {
        FakeUser {
            bot: true,
            ..FakeUser::new(name, &[])
        }
    }
    /// The bot itself.
    pub fn bot_user() -> FakeUser {
        FakeUser {
            id: BOT_ID.to_string(),
            name: BOT_NAME.to_string(),
            roles: Vec::new(),
            bot: true,
        }
    }
    pub fn with_id(mut self, id: &str) -> FakeUser {
        self.id = id.to_string();
        self
    }
    pub fn is_agent(&self) -> bool {
        self.roles.iter().any(|r| r == AGENT_ROLE_ID)
    }
}

/// A channel the fake knows: guild text channels, DMs and threads.
#[derive(Clone, Debug)]
pub struct FakeChannel {
    pub id: String,
    /// 0 guild text, 1 DM, 11 public thread, 12 private thread.
    pub kind: u8,
    pub guild_id: Option<String>,
    pub parent_id: Option<String>,
    pub name: String,
    /// DMs: the other user.
    pub recipient_id: Option<String>,
    pub owner_id: Option<String>,
    /// Threads made from a message: that message's id (which is also the thread's id).
    pub from_message: Option<String>,
    pub archived: bool,
    pub locked: bool,
    pub auto_archive_duration: u64,
    /// Users added with PUT /channels/{id}/thread-members/{user}.
    pub members: Vec<String>,
    /// The JSON body of the request that created it (threads), else Null.
    pub create_body: Value,
}

impl FakeChannel {
    pub fn is_thread(&self) -> bool {
        self.kind == CHANNEL_PUBLIC_THREAD || self.kind == CHANNEL_PRIVATE_THREAD
    }
}

/// One edit of a stored message: the JSON body of the PATCH.
#[derive(Clone, Debug)]
pub struct Edit {
    pub body: Value,
    pub at: Instant,
}

/// A button found in a message's components.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeButton {
    pub label: String,
    pub custom_id: Option<String>,
    pub style: u64,
    pub url: Option<String>,
    pub disabled: bool,
}

/// A stored message (from a user or from the bot).
#[derive(Clone, Debug)]
pub struct FakeMessage {
    pub id: String,
    pub channel_id: String,
    /// Set for messages in guild channels and threads.
    pub guild_id: Option<String>,
    pub author: FakeUser,
    /// Current content (after edits).
    pub content: String,
    /// Current components (a JSON array of action rows).
    pub components: Value,
    /// Current embeds (a JSON array).
    pub embeds: Value,
    /// Attachment URLs.
    pub attachments: Vec<String>,
    /// `allowed_mentions` exactly as the bot sent it (None when absent).
    pub allowed_mentions: Option<Value>,
    pub message_reference: Option<Value>,
    pub flags: u64,
    pub edits: Vec<Edit>,
    /// Interaction responses and follow-ups: the interaction's id.
    pub interaction_id: Option<String>,
    /// The JSON body of the request that created it (bot messages), else Null.
    pub create_body: Value,
    pub timestamp: String,
    pub edited_timestamp: Option<String>,
    pub deleted: bool,
}

impl FakeMessage {
    /// Whether the bot wrote it (a question about the message, not a conversion).
    #[allow(clippy::wrong_self_convention)]
    pub fn from_bot(&self) -> bool {
        self.author.id == BOT_ID
    }
    pub fn is_ephemeral(&self) -> bool {
        self.flags & EPHEMERAL != 0
    }
    /// Every button in every action row.
    pub fn buttons(&self) -> Vec<FakeButton> {
        let mut out = Vec::new();
        for row in self.components.as_array().into_iter().flatten() {
            for c in row["components"].as_array().into_iter().flatten() {
                if c["type"] == 2 {
                    out.push(FakeButton {
                        label: c["label"].as_str().unwrap_or_default().to_string(),
                        custom_id: c["custom_id"].as_str().map(str::to_string),
                        style: c["style"].as_u64().unwrap_or_default(),
                        url: c["url"].as_str().map(str::to_string),
                        disabled: c["disabled"].as_bool().unwrap_or(false),
                    });
                }
            }
        }
        out
    }
    pub fn button_labels(&self) -> Vec<String> {
        self.buttons().into_iter().map(|b| b.label).collect()
    }
    /// The custom_id of the button with this label (exact match, else case-insensitive
    /// substring).
    pub fn custom_id_for(&self, label: &str) -> Option<String> {
        let buttons = self.buttons();
        buttons
            .iter()
            .find(|b| b.label == label)
            .or_else(|| {
                let l = label.to_lowercase();
                buttons.iter().find(|b| b.label.to_lowercase().contains(&l))
            })
            .and_then(|b| b.custom_id.clone())
    }
}

/// One attempt to answer an interaction (POST /interactions/{id}/{token}/callback).
#[derive(Clone, Debug)]
pub struct InteractionCallback {
    /// 4 message, 5 deferred message, 6 deferred update, 7 update message, ...
    pub kind: u64,
    pub data: Value,
    /// Time from the INTERACTION_CREATE dispatch to the callback.
    pub elapsed: Duration,
    /// What the fake answered: 204, or 400 (40060 already acknowledged), 404 (10062 too late).
    pub status: u16,
}

/// A REST request the fake received.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    /// As received, e.g. "/api/v10/channels/1/messages".
    pub path: String,
    pub query: Option<String>,
    /// The JSON body (Null when empty; a string when not JSON).
    pub body: Value,
    pub status: u16,
    /// True when no route matched (answered 404): an unexpected call.
    pub unhandled: bool,
    /// True when answered by `fail_next`.
    pub injected: bool,
    pub at: Instant,
}

impl RecordedRequest {
    /// Path without the "/api/v10" prefix.
    pub fn route(&self) -> &str {
        self.path.strip_prefix("/api/v10").unwrap_or(&self.path)
    }
    pub fn matches(&self, method: &str, pattern: &str) -> bool {
        method_matches(method, &self.method) && path_matches(pattern, &self.path)
    }
}

/// A gateway dispatch the fake sent.
#[derive(Clone, Debug)]
pub struct Dispatch {
    pub seq: u64,
    pub t: String,
    pub d: Value,
}

/// What the fake does with a RESUME (op 6) for a known session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResumeMode {
    /// Answer RESUMED and continue the session (missed messages are not replayed).
    Accept,
    /// Answer op 9 (d=false): the client must IDENTIFY again.
    Reject,
}

#[derive(Clone, Debug)]
pub struct Options {
    /// The bot token accepted on REST (`Authorization: Bot ...`) and in IDENTIFY/RESUME.
    pub token: String,
    /// HELLO's heartbeat_interval in milliseconds.
    pub heartbeat_interval_ms: u64,
    pub resume: ResumeMode,
    /// Dispatch MESSAGE_CREATE for the bot's own messages, as Discord does.
    pub echo_bot_messages: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            token: TOKEN.to_string(),
            heartbeat_interval_ms: 5_000,
            resume: ResumeMode::Accept,
            echo_bot_messages: true,
        }
    }
}

pub(crate) enum Ctl {
    Text(String),
    /// Reset the TCP connection (SO_LINGER 0), no close frame.
    Reset,
    Close(u16),
}

pub(crate) struct Conn {
    pub id: u64,
    pub tx: UnboundedSender<Ctl>,
    /// Set once IDENTIFY or RESUME succeeded: dispatches flow only then.
    pub session: Option<String>,
}

pub(crate) struct Session {
    pub seq: u64,
    pub intents: u64,
}

pub(crate) struct Failure {
    method: String,
    pattern: String,
    status: u16,
    body: Value,
    headers: Vec<(String, String)>,
    remaining: u32,
    /// Matching requests to let through before failing.
    skip: u32,
}

pub(crate) struct Interaction {
    pub id: u64,
    pub token: String,
    pub channel_id: u64,
    pub message_id: u64,
    pub user: FakeUser,
    pub custom_id: String,
    pub dispatched_at: Instant,
    pub callbacks: Vec<InteractionCallback>,
    /// Type of the accepted initial response.
    pub acked: Option<u64>,
    /// Flags of a deferred (type 5) response: the message created by editing @original.
    pub deferred_flags: u64,
    /// The message that @original designates, once there is one.
    pub original: Option<u64>,
}

pub(crate) struct State {
    pub options: Options,
    pub gateway_url: String,
    pub last_id: u64,
    pub users: HashMap<u64, FakeUser>,
    pub channels: BTreeMap<u64, FakeChannel>,
    pub messages: BTreeMap<u64, FakeMessage>,
    pub dm_by_user: HashMap<u64, u64>,
    pub closed_dms: HashSet<u64>,
    pub interactions: HashMap<u64, Interaction>,
    pub requests: Vec<RecordedRequest>,
    pub failures: Vec<Failure>,
    pub conn: Option<Conn>,
    pub next_conn_id: u64,
    pub sessions: HashMap<String, Session>,
    pub identifies: Vec<Value>,
    pub resumes: Vec<Value>,
    pub ready_count: u32,
    pub resumed_count: u32,
    pub connections: u32,
    pub dispatches: Vec<Dispatch>,
    /// While set, new messages are stored but not dispatched (see `FakeDiscord::hold_messages`).
    pub hold_messages: bool,
}

pub(crate) struct Inner {
    state: Mutex<State>,
    started: Instant,
}

impl Inner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Parses a snowflake given as a string (panics on nonsense: test inputs).
fn sf(id: &str) -> u64 {
    id.parse()
        .unwrap_or_else(|_| panic!("not a snowflake: {id:?}"))
}

pub(crate) fn iso(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

pub(crate) fn now_iso() -> String {
    iso(now_ms())
}

fn method_matches(pattern: &str, method: &str) -> bool {
    pattern == "*" || pattern.eq_ignore_ascii_case(method)
}

/// `pattern` segments: `*` matches one segment, a trailing `**` any rest; the "/api/v10" prefix
/// is optional on both sides.
fn path_matches(pattern: &str, path: &str) -> bool {
    let strip = |p: &str| -> String {
        p.strip_prefix("/api/v10")
            .unwrap_or(p)
            .trim_matches('/')
            .to_string()
    };
    let pat = strip(pattern);
    let path = strip(path);
    let pat: Vec<&str> = pat.split('/').collect();
    let segs: Vec<&str> = path.split('/').collect();
    for (i, p) in pat.iter().enumerate() {
        if *p == "**" {
            return true;
        }
        match segs.get(i) {
            Some(s) if *p == "*" || p == s => {}
            _ => return false,
        }
    }
    pat.len() == segs.len()
}

impl State {
    fn new(options: Options, gateway_url: String) -> State {
        let mut st = State {
            options,
            gateway_url,
            last_id: 0,
            users: HashMap::new(),
            channels: BTreeMap::new(),
            messages: BTreeMap::new(),
            dm_by_user: HashMap::new(),
            closed_dms: HashSet::new(),
            interactions: HashMap::new(),
            requests: Vec::new(),
            failures: Vec::new(),
            conn: None,
            next_conn_id: 1,
            sessions: HashMap::new(),
            identifies: Vec::new(),
            resumes: Vec::new(),
            ready_count: 0,
            resumed_count: 0,
            connections: 0,
            dispatches: Vec::new(),
            hold_messages: false,
        };
        st.add_user(&FakeUser::bot_user());
        for (id, name) in [
            (STAFF_CHANNEL_ID, "staff"),
            (SUPPORT_CHANNEL_ID, "support"),
            (GENERAL_CHANNEL_ID, "general"),
        ] {
            st.channels.insert(
                sf(id),
                FakeChannel {
                    id: id.to_string(),
                    kind: CHANNEL_GUILD_TEXT,
                    guild_id: Some(GUILD_ID.to_string()),
                    parent_id: None,
                    name: name.to_string(),
                    recipient_id: None,
                    owner_id: None,
                    from_message: None,
                    archived: false,
                    locked: false,
                    auto_archive_duration: 0,
                    members: Vec::new(),
                    create_body: Value::Null,
                },
            );
        }
        st
    }

    /// A new snowflake: time-ordered and strictly increasing.
    pub fn new_id(&mut self) -> u64 {
        let t = now_ms().saturating_sub(DISCORD_EPOCH_MS) << 22;
        self.last_id = t.max(self.last_id + 1);
        self.last_id
    }

    pub fn add_user(&mut self, user: &FakeUser) {
        self.users.insert(sf(&user.id), user.clone());
    }

    pub fn user_json(user: &FakeUser) -> Value {
        json!({
            "id": user.id,
            "username": user.name,
            "global_name": user.name,
            "discriminator": "0",
            "avatar": null,
            "bot": user.bot,
            "public_flags": 0,
            "flags": 0,
        })
    }

    /// A guild member object; `with_user` for REST and interactions (gateway messages put the
    /// user in `author` instead).
    pub fn member_json(user: &FakeUser, with_user: bool) -> Value {
        let mut m = json!({
            "roles": user.roles,
            "nick": null,
            "avatar": null,
            "joined_at": "2025-01-01T00:00:00.000Z",
            "premium_since": null,
            "deaf": false,
            "mute": false,
            "flags": 0,
            "pending": false,
        });
        if with_user {
            m["user"] = State::user_json(user);
        }
        m
    }

    pub fn channel_json(&self, c: &FakeChannel) -> Value {
        let last = self
            .messages
            .values()
            .filter(|m| m.channel_id == c.id && !m.deleted && !m.is_ephemeral())
            .map(|m| m.id.clone())
            .next_back();
        match c.kind {
            CHANNEL_DM => {
                let recipient = c
                    .recipient_id
                    .as_deref()
                    .and_then(|id| self.users.get(&sf(id)))
                    .cloned()
                    .unwrap_or_else(FakeUser::bot_user);
                json!({
                    "id": c.id,
                    "type": CHANNEL_DM,
                    "last_message_id": last,
                    "recipients": [State::user_json(&recipient)],
                    "flags": 0,
                })
            }
            CHANNEL_PUBLIC_THREAD | CHANNEL_PRIVATE_THREAD => {
                let count = self
                    .messages
                    .values()
                    .filter(|m| m.channel_id == c.id && !m.deleted)
                    .count();
                let mut meta = json!({
                    "archived": c.archived,
                    "auto_archive_duration": c.auto_archive_duration,
                    "archive_timestamp": now_iso(),
                    "locked": c.locked,
                    "create_timestamp": now_iso(),
                });
                if c.kind == CHANNEL_PRIVATE_THREAD {
                    meta["invitable"] = json!(c.create_body["invitable"].as_bool().unwrap_or(true));
                }
                json!({
                    "id": c.id,
                    "type": c.kind,
                    "guild_id": c.guild_id,
                    "parent_id": c.parent_id,
                    "owner_id": c.owner_id,
                    "name": c.name,
                    "last_message_id": last,
                    "rate_limit_per_user": 0,
                    "message_count": count,
                    "member_count": 1 + c.members.len(),
                    "total_message_sent": count,
                    "thread_metadata": meta,
                    "flags": 0,
                })
            }
            _ => json!({
                "id": c.id,
                "type": c.kind,
                "guild_id": c.guild_id,
                "name": c.name,
                "position": 0,
                "permission_overwrites": [],
                "parent_id": c.parent_id,
                "nsfw": false,
                "topic": null,
                "last_message_id": last,
                "rate_limit_per_user": 0,
                "flags": 0,
            }),
        }
    }

    /// The message as Discord sends it: `gateway` adds `guild_id` and `member` in guilds
    /// (REST messages carry neither).
    pub fn message_json(&self, m: &FakeMessage, gateway: bool) -> Value {
        let mut mentions = Vec::new();
        let mut mention_roles = Vec::new();
        static MENTION: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let re =
            MENTION.get_or_init(|| regex::Regex::new(r"<@(!|&)?(\d+)>").expect("mention regex"));
        for cap in re.captures_iter(&m.content) {
            let id = cap[2].to_string();
            if cap.get(1).map(|g| g.as_str()) == Some("&") {
                mention_roles.push(Value::String(id));
            } else if let Some(u) = id.parse().ok().and_then(|id: u64| self.users.get(&id)) {
                mentions.push(State::user_json(u));
            }
        }
        let attachments: Vec<Value> = m
            .attachments
            .iter()
            .enumerate()
            .map(|(i, url)| {
                let filename = url
                    .rsplit('/')
                    .next()
                    .filter(|s| !s.is_empty())
                    .unwrap_or("file");
                let content_type = match filename.rsplit('.').next() {
                    Some("png") => "image/png",
                    Some("jpg" | "jpeg") => "image/jpeg",
                    Some("pdf") => "application/pdf",
                    Some("txt") => "text/plain",
                    _ => "application/octet-stream",
                };
                json!({
                    "id": (sf(&m.id) + i as u64 + 1).to_string(),
                    "filename": filename,
                    "size": 1024,
                    "url": url,
                    "proxy_url": url,
                    "content_type": content_type,
                })
            })
            .collect();
        let mut v = json!({
            "id": m.id,
            "channel_id": m.channel_id,
            "author": State::user_json(&m.author),
            "content": m.content,
            "timestamp": m.timestamp,
            "edited_timestamp": m.edited_timestamp,
            "tts": false,
            "mention_everyone": false,
            "mentions": mentions,
            "mention_roles": mention_roles,
            "attachments": attachments,
            "embeds": m.embeds,
            "pinned": false,
            "type": if m.message_reference.is_some() { 19 } else { 0 },
            "flags": m.flags,
            "components": m.components,
        });
        if let Some(r) = &m.message_reference {
            v["message_reference"] = r.clone();
        }
        if let Some(iid) = &m.interaction_id {
            v["application_id"] = json!(APPLICATION_ID);
            v["webhook_id"] = json!(APPLICATION_ID);
            if let Some(i) = self.interactions.get(&sf(iid)) {
                v["interaction_metadata"] = json!({
                    "id": iid,
                    "type": 3,
                    "user": State::user_json(&i.user),
                    "authorizing_integration_owners": {},
                    "interacted_message_id": i.message_id.to_string(),
                });
            }
        }
        if gateway {
            if let Some(g) = &m.guild_id {
                v["guild_id"] = json!(g);
                v["member"] = State::member_json(&m.author, false);
            }
        }
        v
    }

    pub fn live_session(&self) -> Option<&str> {
        self.conn.as_ref().and_then(|c| c.session.as_deref())
    }

    pub fn intents(&self) -> u64 {
        self.live_session()
            .and_then(|s| self.sessions.get(s))
            .map(|s| s.intents)
            .unwrap_or(0)
    }

    /// Sends a dispatch (op 0) on the live session; false when none is connected.
    pub fn dispatch(&mut self, t: &str, d: Value) -> bool {
        let Some(conn) = &self.conn else { return false };
        let Some(sid) = conn.session.clone() else {
            return false;
        };
        let Some(session) = self.sessions.get_mut(&sid) else {
            return false;
        };
        session.seq += 1;
        let seq = session.seq;
        let text = json!({"op": 0, "t": t, "s": seq, "d": d}).to_string();
        if conn.tx.send(Ctl::Text(text)).is_err() {
            return false;
        }
        self.dispatches.push(Dispatch {
            seq,
            t: t.to_string(),
            d,
        });
        true
    }

    /// MESSAGE_CREATE / MESSAGE_UPDATE for a stored message, honouring the session's intents.
    pub fn dispatch_message(&mut self, t: &str, id: u64) -> bool {
        if self.hold_messages {
            return false;
        }
        let Some(m) = self.messages.get(&id) else {
            return false;
        };
        if m.is_ephemeral() || m.deleted {
            return false;
        }
        let intents = self.intents();
        let needed = if m.guild_id.is_some() {
            INTENT_GUILD_MESSAGES
        } else {
            INTENT_DIRECT_MESSAGES
        };
        if intents & needed == 0 {
            return false;
        }
        let mut d = self.message_json(m, true);
        let privileged = m.guild_id.is_none()
            || m.from_bot()
            || m.content.contains(&format!("<@{BOT_ID}>"))
            || m.content.contains(&format!("<@!{BOT_ID}>"));
        if intents & INTENT_MESSAGE_CONTENT == 0 && !privileged {
            d["content"] = json!("");
            d["embeds"] = json!([]);
            d["attachments"] = json!([]);
            d["components"] = json!([]);
        }
        self.dispatch(t, d)
    }

    pub fn ensure_dm(&mut self, user: &FakeUser) -> u64 {
        self.add_user(user);
        let uid = sf(&user.id);
        if let Some(id) = self.dm_by_user.get(&uid) {
            return *id;
        }
        let id = self.new_id();
        self.channels.insert(
            id,
            FakeChannel {
                id: id.to_string(),
                kind: CHANNEL_DM,
                guild_id: None,
                parent_id: None,
                name: String::new(),
                recipient_id: Some(user.id.clone()),
                owner_id: None,
                from_message: None,
                archived: false,
                locked: false,
                auto_archive_duration: 0,
                members: Vec::new(),
                create_body: Value::Null,
            },
        );
        self.dm_by_user.insert(uid, id);
        id
    }

    /// Stores a new message in `channel` and returns its id.
    pub fn new_message(
        &mut self,
        channel: u64,
        author: &FakeUser,
        content: &str,
        body: &Value,
    ) -> u64 {
        let id = self.new_id();
        let guild_id = self.channels.get(&channel).and_then(|c| c.guild_id.clone());
        let components = match &body["components"] {
            Value::Array(_) => body["components"].clone(),
            _ => json!([]),
        };
        let embeds = match &body["embeds"] {
            Value::Array(_) => body["embeds"].clone(),
            _ => json!([]),
        };
        let m = FakeMessage {
            id: id.to_string(),
            channel_id: channel.to_string(),
            guild_id,
            author: author.clone(),
            content: content.to_string(),
            components,
            embeds,
            attachments: Vec::new(),
            allowed_mentions: body.get("allowed_mentions").cloned(),
            message_reference: body.get("message_reference").cloned(),
            flags: body["flags"].as_u64().unwrap_or(0),
            edits: Vec::new(),
            interaction_id: None,
            create_body: body.clone(),
            timestamp: now_iso(),
            edited_timestamp: None,
            deleted: false,
        };
        self.messages.insert(id, m);
        // Uploaded files (multipart) are listed in `attachments` with their filenames.
        let uploaded: Vec<String> = body["attachments"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["filename"].as_str())
            .map(|f| format!("https://cdn.discordapp.com/attachments/{channel}/{id}/{f}"))
            .collect();
        if let Some(m) = self.messages.get_mut(&id) {
            m.attachments = uploaded;
        }
        id
    }

    /// Applies an edit body (content, components, embeds, flags, allowed_mentions).
    pub fn edit_message(&mut self, id: u64, body: &Value) {
        let Some(m) = self.messages.get_mut(&id) else {
            return;
        };
        if let Some(c) = body.get("content") {
            m.content = c.as_str().unwrap_or_default().to_string();
        }
        if let Some(c) = body.get("components") {
            m.components = if c.is_array() { c.clone() } else { json!([]) };
        }
        if let Some(e) = body.get("embeds") {
            m.embeds = if e.is_array() { e.clone() } else { json!([]) };
        }
        if let Some(a) = body.get("allowed_mentions") {
            m.allowed_mentions = Some(a.clone());
        }
        m.edits.push(Edit {
            body: body.clone(),
            at: Instant::now(),
        });
        m.edited_timestamp = Some(now_iso());
    }

    fn echo_bot_message(&mut self, id: u64) {
        if self.options.echo_bot_messages {
            self.dispatch_message("MESSAGE_CREATE", id);
        }
    }

    fn summary(&self) -> String {
        let mut s = format!(
            "gateway: connected={} identifies={} readies={} resumes={}\nREST requests:\n",
            self.live_session().is_some(),
            self.identifies.len(),
            self.ready_count,
            self.resumed_count
        );
        for r in self.requests.iter().rev().take(25).rev() {
            let body = r.body.to_string();
            let body: String = body.chars().take(200).collect();
            s.push_str(&format!(
                "  {} {}{} -> {}{} {}\n",
                r.method,
                r.path,
                r.query
                    .as_deref()
                    .map(|q| format!("?{q}"))
                    .unwrap_or_default(),
                r.status,
                if r.unhandled { " (no such route)" } else { "" },
                body
            ));
        }
        s
    }
}

/// The fake. Dropping it stops its servers.
pub struct FakeDiscord {
    inner: Arc<Inner>,
    api_base: String,
    gateway_url: String,
    tasks: Vec<JoinHandle<()>>,
    pub bot_id: &'static str,
    pub application_id: &'static str,
    pub guild_id: &'static str,
    pub staff_channel_id: &'static str,
    pub support_channel_id: &'static str,
    pub agent_role_id: &'static str,
    /// The accepted bot token (`Options::token`, by default `TOKEN`).
    pub token: String,
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some(conn) = self.inner.lock().conn.take() {
            let _ = conn.tx.send(Ctl::Reset);
        }
    }
}

impl FakeDiscord {
    pub async fn start() -> FakeDiscord {
        FakeDiscord::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> FakeDiscord {
        let rest = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake discord REST");
        let ws = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake discord gateway");
        let api_base = format!("http://{}", rest.local_addr().unwrap());
        let gateway_url = format!("ws://{}", ws.local_addr().unwrap());
        let token = options.token.clone();
        let inner = Arc::new(Inner {
            state: Mutex::new(State::new(options, gateway_url.clone())),
            started: Instant::now(),
        });
        let router = rest::router(inner.clone());
        let rest_task = tokio::spawn(async move {
            let _ = axum::serve(rest, router).await;
        });
        let gw_task = tokio::spawn(gateway::serve(ws, inner.clone()));
        FakeDiscord {
            inner,
            api_base,
            gateway_url,
            tasks: vec![rest_task, gw_task],
            bot_id: BOT_ID,
            application_id: APPLICATION_ID,
            guild_id: GUILD_ID,
            staff_channel_id: STAFF_CHANNEL_ID,
            support_channel_id: SUPPORT_CHANNEL_ID,
            agent_role_id: AGENT_ROLE_ID,
            token,
        }
    }

    /// "http://127.0.0.1:PORT": the adapter's `api_base` (serenity's proxy); REST arrives as
    /// /api/v10/...
    pub fn api_base(&self) -> String {
        self.api_base.clone()
    }

    /// "ws://127.0.0.1:PORT", as GET /gateway answers.
    pub fn gateway_url(&self) -> String {
        self.gateway_url.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.lock()
    }

    // ----- test controls -----

    /// Makes the fake know a user (for GET /users/{id} and /guilds/{g}/members/{id}); `dm`,
    /// `post` and `click` do this on their own.
    pub fn add_user(&self, user: &FakeUser) {
        self.lock().add_user(user);
    }

    /// The DM channel between `user` and the bot, created if needed.
    pub async fn open_dm(&self, user: &FakeUser) -> String {
        self.lock().ensure_dm(user).to_string()
    }

    /// The DM channel of a user, if one exists.
    pub fn dm_channel_of(&self, user_id: &str) -> Option<String> {
        self.lock()
            .dm_by_user
            .get(&sf(user_id))
            .map(|id| id.to_string())
    }

    /// A DM from `user` to the bot: stored, and dispatched as MESSAGE_CREATE (no guild_id) if
    /// a session is connected. Returns the message id.
    pub async fn dm(&self, user: &FakeUser, text: &str) -> String {
        self.dm_with_attachments(user, text, &[]).await
    }

    pub async fn dm_with_attachments(&self, user: &FakeUser, text: &str, urls: &[&str]) -> String {
        let mut st = self.lock();
        let channel = st.ensure_dm(user);
        let id = st.new_message(channel, user, text, &Value::Null);
        if let Some(m) = st.messages.get_mut(&id) {
            m.attachments = urls.iter().map(|u| u.to_string()).collect();
        }
        st.dispatch_message("MESSAGE_CREATE", id);
        id.to_string()
    }

    /// A message from `user` in a guild channel or thread (gateway form carries guild_id and
    /// member{roles}). Stored; dispatched if a session is connected. Returns the message id.
    pub async fn post(&self, channel_id: &str, user: &FakeUser, text: &str) -> String {
        self.post_with_attachments(channel_id, user, text, &[])
            .await
    }

    pub async fn post_with_attachments(
        &self,
        channel_id: &str,
        user: &FakeUser,
        text: &str,
        urls: &[&str],
    ) -> String {
        let mut st = self.lock();
        let channel = sf(channel_id);
        match st.channels.get(&channel) {
            Some(c) if c.guild_id.is_some() => {}
            Some(_) => panic!("post: channel {channel_id} is not a guild channel; use dm()"),
            None => panic!("post: unknown channel {channel_id}"),
        }
        st.add_user(user);
        let id = st.new_message(channel, user, text, &Value::Null);
        if let Some(m) = st.messages.get_mut(&id) {
            m.attachments = urls.iter().map(|u| u.to_string()).collect();
        }
        st.dispatch_message("MESSAGE_CREATE", id);
        id.to_string()
    }

    /// Dispatches MESSAGE_CREATE for an existing message again (same id). Returns whether a
    /// session was connected to receive it.
    pub async fn redeliver(&self, message_id: &str) -> bool {
        let mut st = self.lock();
        assert!(
            st.messages.contains_key(&sf(message_id)),
            "redeliver: unknown message {message_id}"
        );
        st.dispatch_message("MESSAGE_CREATE", sf(message_id))
    }

    /// `user` presses the button `custom_id` on message `message_id`: dispatches
    /// INTERACTION_CREATE (type 3). Returns the interaction id. Panics if no session is
    /// connected (Discord would show the user "This interaction failed").
    pub async fn click(&self, message_id: &str, custom_id: &str, user: &FakeUser) -> String {
        let mut st = self.lock();
        let mid = sf(message_id);
        let msg = st
            .messages
            .get(&mid)
            .cloned()
            .unwrap_or_else(|| panic!("click: unknown message {message_id}"));
        st.add_user(user);
        let channel = st
            .channels
            .get(&sf(&msg.channel_id))
            .cloned()
            .expect("click: message in an unknown channel");
        let id = st.new_id();
        let token = format!("fake-interaction-token-{id}");
        let mut d = json!({
            "id": id.to_string(),
            "application_id": APPLICATION_ID,
            "type": 3,
            "token": token,
            "version": 1,
            "data": {"custom_id": custom_id, "component_type": 2},
            "channel_id": msg.channel_id,
            "channel": {
                "id": channel.id,
                "type": channel.kind,
                "name": channel.name,
                "parent_id": channel.parent_id,
            },
            "message": st.message_json(&msg, false),
            "app_permissions": "2248473465835073",
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": 10_485_760,
        });
        if let Some(g) = &channel.guild_id {
            d["guild_id"] = json!(g);
            d["guild_locale"] = json!("en-US");
            d["context"] = json!(0);
            let mut member = State::member_json(user, true);
            member["permissions"] = json!("2248473465835073");
            d["member"] = member;
        } else {
            d["context"] = json!(1);
            d["user"] = State::user_json(user);
        }
        st.interactions.insert(
            id,
            Interaction {
                id,
                token,
                channel_id: sf(&msg.channel_id),
                message_id: mid,
                user: user.clone(),
                custom_id: custom_id.to_string(),
                dispatched_at: Instant::now(),
                callbacks: Vec::new(),
                acked: None,
                deferred_flags: 0,
                original: None,
            },
        );
        assert!(
            st.dispatch("INTERACTION_CREATE", d),
            "click: no gateway session is connected\n{}",
            st.summary()
        );
        id.to_string()
    }

    /// Like `click`, finding the button by its label.
    pub async fn click_label(&self, message_id: &str, label: &str, user: &FakeUser) -> String {
        let msg = self
            .message(message_id)
            .unwrap_or_else(|| panic!("click_label: unknown message {message_id}"));
        let custom_id = msg.custom_id_for(label).unwrap_or_else(|| {
            panic!(
                "click_label: no button {label:?} on message {message_id}; buttons: {:?}",
                msg.button_labels()
            )
        });
        self.click(message_id, &custom_id, user).await
    }

    /// Sends op 9 (d=false) on the live session: the client must IDENTIFY again (serenity waits
    /// ~5 s first). Until then `dm`/`post` only store.
    pub async fn invalidate_session(&self) {
        let mut st = self.lock();
        let Some(conn) = st.conn.as_mut() else { return };
        let sid = conn.session.take();
        let _ = conn
            .tx
            .send(Ctl::Text(json!({"op": 9, "d": false}).to_string()));
        if let Some(sid) = sid {
            st.sessions.remove(&sid);
        }
    }

    /// Resets the TCP connection of the gateway (no close frame). The session stays resumable;
    /// serenity reconnects at once and sends RESUME (see `set_resume`).
    pub async fn drop_connection(&self) {
        let conn = self.lock().conn.take();
        if let Some(conn) = conn {
            let _ = conn.tx.send(Ctl::Reset);
        }
    }

    /// Closes the gateway socket with a close frame of this code (e.g. 4000: resumable;
    /// 4009: session timed out, so the client identifies again).
    pub async fn close_connection(&self, code: u16) {
        let mut st = self.lock();
        let conn = st.conn.take();
        if let Some(conn) = conn {
            if code == 4009 {
                if let Some(sid) = &conn.session {
                    st.sessions.remove(sid);
                }
            }
            let _ = conn.tx.send(Ctl::Close(code));
        }
    }

    /// Sends op 7 (reconnect): the client reconnects and resumes.
    pub async fn request_reconnect(&self) {
        let mut st = self.lock();
        if let Some(conn) = st.conn.take() {
            let _ = conn
                .tx
                .send(Ctl::Text(json!({"op": 7, "d": null}).to_string()));
        }
    }

    /// While `hold` is true, messages (`dm`, `post`, `redeliver`) are stored but never
    /// dispatched, whatever the connection does: with `drop_connection`, what is written in
    /// between is surely written while the bot is away, even if it reconnects at once.
    pub fn hold_messages(&self, hold: bool) {
        self.lock().hold_messages = hold;
    }

    /// What to do with the next RESUMEs.
    pub fn set_resume(&self, mode: ResumeMode) {
        self.lock().options.resume = mode;
    }

    /// The next `times` requests matching `method` ("*" for any) and `path_pattern` (segments,
    /// `*` for one segment, trailing `**` for the rest, "/api/v10" optional), e.g.
    /// `("POST", "/channels/*/messages")`, are answered with `status` and `body`. A 429 gets
    /// Discord's rate-limit headers (Retry-After from `body.retry_after`).
    pub async fn fail_next(
        &self,
        method: &str,
        path_pattern: &str,
        status: u16,
        body: Value,
        times: u32,
    ) {
        self.fail_after(method, path_pattern, 0, status, body, times)
            .await;
    }

    /// `fail_next`, after letting `skip` matching requests through (e.g. the second piece of a
    /// split message fails, the first succeeds).
    pub async fn fail_after(
        &self,
        method: &str,
        path_pattern: &str,
        skip: u32,
        status: u16,
        body: Value,
        times: u32,
    ) {
        let mut headers = Vec::new();
        if status == 429 {
            let retry = body["retry_after"].as_f64().unwrap_or(1.0);
            let global = body["global"].as_bool().unwrap_or(false);
            headers.push((
                "retry-after".into(),
                (retry.ceil() as u64).max(1).to_string(),
            ));
            headers.push(("x-ratelimit-limit".into(), "5".into()));
            headers.push(("x-ratelimit-remaining".into(), "0".into()));
            headers.push(("x-ratelimit-reset-after".into(), format!("{retry:.3}")));
            headers.push((
                "x-ratelimit-reset".into(),
                format!("{:.3}", now_ms() as f64 / 1000.0 + retry),
            ));
            headers.push(("x-ratelimit-bucket".into(), "fakebucket0000000000".into()));
            headers.push((
                "x-ratelimit-scope".into(),
                if global { "global" } else { "user" }.into(),
            ));
            if global {
                headers.push(("x-ratelimit-global".into(), "true".into()));
            }
        }
        self.lock().failures.push(Failure {
            method: method.to_string(),
            pattern: path_pattern.to_string(),
            status,
            body,
            headers,
            remaining: times,
            skip,
        });
    }

    /// `fail_next` with Discord's 429 body: `{"message": "You are being rate limited.",
    /// "retry_after": retry_after, "global": false}`.
    pub async fn rate_limit_next(
        &self,
        method: &str,
        path_pattern: &str,
        retry_after: f64,
        times: u32,
    ) {
        self.fail_next(
            method,
            path_pattern,
            429,
            json!({"message": "You are being rate limited.", "retry_after": retry_after, "global": false}),
            times,
        )
        .await;
    }

    /// From now on, messages to this user's DM channel fail with 403 code 50007.
    pub async fn close_dms(&self, user_id: &str) {
        self.lock().closed_dms.insert(sf(user_id));
    }

    pub async fn open_dms(&self, user_id: &str) {
        self.lock().closed_dms.remove(&sf(user_id));
    }

    /// A thread that already exists (as if made earlier), under `parent_id`.
    pub async fn add_thread(&self, parent_id: &str, name: &str, private: bool) -> String {
        let mut st = self.lock();
        let id = st.new_id();
        st.channels.insert(
            id,
            FakeChannel {
                id: id.to_string(),
                kind: if private {
                    CHANNEL_PRIVATE_THREAD
                } else {
                    CHANNEL_PUBLIC_THREAD
                },
                guild_id: Some(GUILD_ID.to_string()),
                parent_id: Some(parent_id.to_string()),
                name: name.to_string(),
                recipient_id: None,
                owner_id: Some(BOT_ID.to_string()),
                from_message: None,
                archived: false,
                locked: false,
                auto_archive_duration: 1440,
                members: Vec::new(),
                create_body: Value::Null,
            },
        );
        id.to_string()
    }

    // ----- observers -----

    /// Messages in a channel (including the bot's, ephemeral ones and edits applied; not
    /// deleted ones), oldest first.
    pub fn messages_in(&self, channel_id: &str) -> Vec<FakeMessage> {
        self.lock()
            .messages
            .values()
            .filter(|m| m.channel_id == channel_id && !m.deleted)
            .cloned()
            .collect()
    }

    /// Everything the bot sent (messages, interaction responses, follow-ups), oldest first.
    pub fn bot_messages(&self) -> Vec<FakeMessage> {
        self.lock()
            .messages
            .values()
            .filter(|m| m.from_bot() && !m.deleted)
            .cloned()
            .collect()
    }

    pub fn bot_messages_in(&self, channel_id: &str) -> Vec<FakeMessage> {
        self.messages_in(channel_id)
            .into_iter()
            .filter(FakeMessage::from_bot)
            .collect()
    }

    pub fn message(&self, id: &str) -> Option<FakeMessage> {
        self.lock().messages.get(&sf(id)).cloned()
    }

    pub fn channel(&self, id: &str) -> Option<FakeChannel> {
        self.lock().channels.get(&sf(id)).cloned()
    }

    /// Threads, oldest first.
    pub fn threads(&self) -> Vec<FakeChannel> {
        self.lock()
            .channels
            .values()
            .filter(|c| c.is_thread())
            .cloned()
            .collect()
    }

    /// The thread made from this message, if any.
    pub fn thread_of(&self, message_id: &str) -> Option<FakeChannel> {
        self.lock()
            .channels
            .values()
            .find(|c| c.from_message.as_deref() == Some(message_id))
            .cloned()
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Requests matching a method ("*" for any) and a path pattern (see `fail_next`).
    pub fn requests_to(&self, method: &str, path_pattern: &str) -> Vec<RecordedRequest> {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.matches(method, path_pattern))
            .cloned()
            .collect()
    }

    /// Requests no route of the fake handles (answered 404).
    pub fn unexpected_requests(&self) -> Vec<RecordedRequest> {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.unhandled)
            .cloned()
            .collect()
    }

    /// Every callback attempt for an interaction, in order, with the fake's answer.
    pub fn interaction_responses(&self, interaction_id: &str) -> Vec<InteractionCallback> {
        self.lock()
            .interactions
            .get(&sf(interaction_id))
            .map(|i| i.callbacks.clone())
            .unwrap_or_default()
    }

    /// Messages created for an interaction (type 4 response, deferred original, follow-ups).
    pub fn followups(&self, interaction_id: &str) -> Vec<FakeMessage> {
        self.lock()
            .messages
            .values()
            .filter(|m| m.interaction_id.as_deref() == Some(interaction_id))
            .cloned()
            .collect()
    }

    /// Dispatches sent so far (all sessions), in order.
    pub fn dispatches(&self) -> Vec<Dispatch> {
        self.lock().dispatches.clone()
    }

    pub fn identify_count(&self) -> usize {
        self.lock().identifies.len()
    }

    /// IDENTIFY payloads (`d`), e.g. to check `intents`.
    pub fn identify_payloads(&self) -> Vec<Value> {
        self.lock().identifies.clone()
    }

    pub fn resume_count(&self) -> usize {
        self.lock().resumes.len()
    }

    /// RESUMED dispatches sent.
    pub fn resumed_count(&self) -> u32 {
        self.lock().resumed_count
    }

    pub fn ready_count(&self) -> u32 {
        self.lock().ready_count
    }

    /// A session is connected (READY or RESUMED sent, socket open): dispatches flow.
    pub fn is_connected(&self) -> bool {
        self.lock().live_session().is_some()
    }

    /// Recent gateway state and REST requests, for assertion messages.
    pub fn summary(&self) -> String {
        self.lock().summary()
    }

    // ----- waiting (polls recorded state; never a blind sleep) -----

    /// Polls `probe` every 10 ms until it returns Some, or fails after `timeout` with a summary
    /// of what the fake saw.
    pub async fn wait_for<T>(
        &self,
        timeout: Duration,
        mut probe: impl FnMut(&FakeDiscord) -> Option<T>,
    ) -> Result<T, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = probe(self) {
                return Ok(v);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "fake discord: condition not met within {timeout:?}\n{}",
                    self.summary()
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn wait_until(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&FakeDiscord) -> bool,
    ) -> Result<(), String> {
        self.wait_for(timeout, |f| pred(f).then_some(())).await
    }

    /// Waits until READY has been sent `n` times in all and a session is connected (30 s: a
    /// re-identify after op 9 takes serenity ~5 s).
    pub async fn wait_ready(&self, n: u32) -> Result<(), String> {
        self.wait_until(Duration::from_secs(30), |f| {
            let st = f.lock();
            st.ready_count >= n && st.live_session().is_some()
        })
        .await
    }

    /// Waits until a session is connected (after READY or RESUMED).
    pub async fn wait_connected(&self) -> Result<(), String> {
        self.wait_until(Duration::from_secs(30), FakeDiscord::is_connected)
            .await
    }

    /// Waits until the bot has at least `n` messages in the channel (ephemeral ones included);
    /// returns them all, oldest first.
    pub async fn wait_bot_messages_in(
        &self,
        channel_id: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<FakeMessage>, String> {
        self.wait_for(timeout, |f| {
            let msgs = f.bot_messages_in(channel_id);
            (msgs.len() >= n).then_some(msgs)
        })
        .await
    }

    /// Waits until at least `n` requests match; returns them.
    pub async fn wait_requests(
        &self,
        method: &str,
        path_pattern: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<RecordedRequest>, String> {
        self.wait_for(timeout, |f| {
            let r = f.requests_to(method, path_pattern);
            (r.len() >= n).then_some(r)
        })
        .await
    }

    /// Waits until the interaction got at least one callback attempt; returns them.
    pub async fn wait_interaction_response(
        &self,
        interaction_id: &str,
        timeout: Duration,
    ) -> Result<Vec<InteractionCallback>, String> {
        self.wait_for(timeout, |f| {
            let r = f.interaction_responses(interaction_id);
            (!r.is_empty()).then_some(r)
        })
        .await
    }
}
