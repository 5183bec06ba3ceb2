//! A fake Slack on 127.0.0.1 that speaks the real protocols: the Web API under `/api/<method>`
//! (so `api_base = fake.api_base`), and a Socket Mode WebSocket server on its own port, handed
//! out by `apps.connections.open`.
//!
//! Tests play the people: [`FakeSlack::customer_dm`], [`FakeSlack::channel_message`] and
//! [`FakeSlack::click`] store the message in the channel (so history/replies return it) and, when
//! a socket is connected, send the envelope Slack would. While no socket is connected, messages
//! are only stored: recovery has to read them back. Every Web API call is recorded; failures can
//! be injected; acknowledgements are timed per envelope. Tests wait with [`FakeSlack::wait_for`],
//! never with blind sleeps. It names nothing of frontline: it is only Slack.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

pub const BOT_TOKEN: &str = "xoxb-fake-bot-token";
pub const APP_TOKEN: &str = "xapp-fake-app-token";
/// The bot's own user id and bot id (what `auth.test` would say).
pub const BOT_USER: &str = "UBOT00001";
pub const BOT_ID: &str = "BBOT00001";
pub const TEAM: &str = "T0FAKE001";
pub const APP_ID: &str = "A0FAKE001";

/// How the next call(s) of a method fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailKind {
    /// HTTP 429 with `Retry-After: secs`.
    RateLimited { retry_after_secs: u64 },
    /// HTTP 200 `{"ok": false, "error": ...}`.
    ApiError(String),
    /// That HTTP status with a plain body.
    Status(u16),
}

/// One recorded Web API call: query parameters and body fields merged into one object.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub params: Value,
    pub token: Option<String>,
    /// When the fake received it.
    pub at: Instant,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    pub channel: String,
    pub ts: String,
    pub user: Option<String>,
    pub bot_id: Option<String>,
    pub subtype: Option<String>,
    pub text: String,
    pub thread_ts: Option<String>,
    pub blocks: Option<Value>,
}

impl StoredMessage {
    fn to_json(&self, reply_count: usize) -> Value {
        let mut m = json!({"type": "message", "ts": self.ts, "text": self.text, "team": TEAM});
        for (key, value) in [
            ("user", &self.user),
            ("bot_id", &self.bot_id),
            ("subtype", &self.subtype),
            ("thread_ts", &self.thread_ts),
        ] {
            if let Some(v) = value {
                m[key] = json!(v);
            }
        }
        if let Some(blocks) = &self.blocks {
            m["blocks"] = blocks.clone();
        }
        if reply_count > 0 {
            m["reply_count"] = json!(reply_count);
        }
        m
    }
}

/// A message a test wrote as a person.
#[derive(Debug, Clone)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
    /// The Socket Mode envelope sent for it, or `None` when no socket was connected.
    pub envelope_id: Option<String>,
    /// The Events API body (`event_callback`) Slack would POST for it, for events-mode tests.
    pub event_body: Value,
}

enum SocketCmd {
    Send(String),
    Drop,
}

struct AckRecord {
    sent: Instant,
    acked: Option<Instant>,
    acks: u32,
}

struct FakeState {
    calls: Vec<Call>,
    failures: HashMap<String, VecDeque<FailKind>>,
    ts_counter: u64,
    id_counter: u64,
    /// Every message, in the order written (which is ts order).
    messages: Vec<StoredMessage>,
    dms: HashMap<String, String>,
    users: HashMap<String, String>,
    groups: HashMap<String, Vec<String>>,
    archived: HashSet<String>,
    envelopes: HashMap<String, Value>,
    acks: HashMap<String, AckRecord>,
    /// The connected socket (its number and command sender), if any.
    socket: Option<(u64, mpsc::UnboundedSender<SocketCmd>)>,
    connections: u64,
    page_size: usize,
}

struct Inner {
    state: Mutex<FakeState>,
    changed: Notify,
    ws_port: u16,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct FakeSlack {
    /// `http://127.0.0.1:PORT/api`.
    pub api_base: String,
    /// `ws://127.0.0.1:PORT2`.
    pub socket_url: String,
    inner: Arc<Inner>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some((_, tx)) = self.inner.lock().socket.take() {
            let _ = tx.send(SocketCmd::Drop);
        }
    }
}

impl FakeSlack {
    pub async fn start() -> FakeSlack {
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ws = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http_port = http.local_addr().unwrap().port();
        let ws_port = ws.local_addr().unwrap().port();
        let inner = Arc::new(Inner {
            state: Mutex::new(FakeState {
                calls: Vec::new(),
                failures: HashMap::new(),
                ts_counter: 0,
                id_counter: 0,
                messages: Vec::new(),
                dms: HashMap::new(),
                users: HashMap::new(),
                groups: HashMap::new(),
                archived: HashSet::new(),
                envelopes: HashMap::new(),
                acks: HashMap::new(),
                socket: None,
                connections: 0,
                page_size: 100,
            }),
            changed: Notify::new(),
            ws_port,
        });
        let router = Router::new()
            .route("/api/{method}", any(web_api))
            .with_state(inner.clone());
        let http_task = tokio::spawn(async move {
            let _ = axum::serve(http, router).await;
        });
        let ws_inner = inner.clone();
        let ws_task = tokio::spawn(async move {
            while let Ok((stream, _)) = ws.accept().await {
                tokio::spawn(serve_socket(ws_inner.clone(), stream));
            }
        });
        FakeSlack {
            api_base: format!("http://127.0.0.1:{http_port}/api"),
            socket_url: format!("ws://127.0.0.1:{ws_port}"),
            inner,
            tasks: vec![http_task, ws_task],
        }
    }

    fn changed(&self) {
        self.inner.changed.notify_waiters();
    }

    // ----- set-up ------------------------------------------------------------------------------

    /// The next `times` calls of `method` fail as `kind` (after being recorded).
    pub fn fail_next(&self, method: &str, kind: FailKind, times: usize) {
        let mut st = self.inner.lock();
        let queue = st.failures.entry(method.to_string()).or_default();
        queue.extend(std::iter::repeat_n(kind, times));
    }

    pub fn add_user(&self, user: &str, display_name: &str) {
        self.inner
            .lock()
            .users
            .insert(user.to_string(), display_name.to_string());
    }

    pub fn set_usergroup(&self, group: &str, users: &[&str]) {
        self.inner.lock().groups.insert(
            group.to_string(),
            users.iter().map(|u| u.to_string()).collect(),
        );
    }

    /// Posting to this channel now fails with `is_archived`.
    pub fn archive(&self, channel: &str) {
        self.inner.lock().archived.insert(channel.to_string());
    }

    /// At most this many messages per history/replies page (default 100).
    pub fn set_page_size(&self, n: usize) {
        self.inner.lock().page_size = n.max(1);
    }

    /// The DM channel between the bot and `user` (made on first use, like Slack's).
    pub fn dm_channel(&self, user: &str) -> String {
        dm_channel(&mut self.inner.lock(), user)
    }

    // ----- people ------------------------------------------------------------------------------

    /// `user` writes `text` (raw Slack text: `<!channel>` is a real mention, `&lt;` a typed `<`)
    /// to the bot in a DM.
    pub fn customer_dm(&self, user: &str, text: &str) -> Posted {
        let channel = self.dm_channel(user);
        self.write(&channel, "im", user, text, None, Map::new())
    }

    /// `user` writes in a channel, at top level or (with `thread_ts`) in a thread.
    pub fn channel_message(
        &self,
        channel: &str,
        user: &str,
        text: &str,
        thread_ts: Option<&str>,
    ) -> Posted {
        let kind = if channel.starts_with('G') {
            "group"
        } else {
            "channel"
        };
        self.write(channel, kind, user, text, thread_ts, Map::new())
    }

    /// A message with extra fields as Slack sends them (`bot_id`, `subtype`, ...), to test filters.
    pub fn message_with(&self, channel: &str, user: &str, text: &str, extra: Value) -> Posted {
        let kind = if channel.starts_with('D') {
            "im"
        } else {
            "channel"
        };
        let extra = extra.as_object().cloned().unwrap_or_default();
        self.write(channel, kind, user, text, None, extra)
    }

    fn write(
        &self,
        channel: &str,
        kind: &str,
        user: &str,
        text: &str,
        thread_ts: Option<&str>,
        extra: Map<String, Value>,
    ) -> Posted {
        let (ts, event_id) = {
            let mut st = self.inner.lock();
            let ts = next_ts(&mut st);
            let event_id = format!("Ev{:010}", next_id(&mut st));
            st.messages.push(StoredMessage {
                channel: channel.to_string(),
                ts: ts.clone(),
                user: Some(user.to_string()),
                bot_id: extra
                    .get("bot_id")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                subtype: extra
                    .get("subtype")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                text: text.to_string(),
                thread_ts: thread_ts.map(str::to_string),
                blocks: None,
            });
            (ts, event_id)
        };
        let mut event = json!({
            "type": "message", "channel": channel, "channel_type": kind, "user": user, "text": text,
            "ts": ts, "event_ts": ts, "team": TEAM,
        });
        if let Some(thread) = thread_ts {
            event["thread_ts"] = json!(thread);
        }
        for (k, v) in extra {
            event[k] = v;
        }
        let event_body = event_callback(&event_id, event);
        let envelope_id = self.send_envelope("events_api", event_body.clone());
        self.changed();
        Posted {
            channel: channel.to_string(),
            ts,
            envelope_id,
            event_body,
        }
    }

    /// `user` presses a button on the message `message_ts`; returns the envelope id (`None`
    /// when no socket is connected: Slack would show the user an error).
    pub fn click(
        &self,
        user: &str,
        channel: &str,
        message_ts: &str,
        action_id: &str,
        value: &str,
    ) -> Option<String> {
        let payload = self.block_actions_payload(user, channel, message_ts, action_id, value);
        self.send_envelope("interactive", payload)
    }

    /// The `block_actions` payload a click sends (also what the interactivity form carries).
    pub fn block_actions_payload(
        &self,
        user: &str,
        channel: &str,
        message_ts: &str,
        action_id: &str,
        value: &str,
    ) -> Value {
        let (action_ts, thread_ts, trigger) = {
            let mut st = self.inner.lock();
            let thread_ts = st
                .messages
                .iter()
                .find(|m| m.channel == channel && m.ts == message_ts)
                .and_then(|m| m.thread_ts.clone());
            (next_ts(&mut st), thread_ts, next_id(&mut st))
        };
        let mut container = json!({"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": false});
        let mut message = json!({"type": "message", "ts": message_ts});
        if let Some(t) = &thread_ts {
            container["thread_ts"] = json!(t);
            message["thread_ts"] = json!(t);
        }
        json!({
            "type": "block_actions",
            "user": {"id": user, "username": user.to_lowercase(), "name": user.to_lowercase(), "team_id": TEAM},
            "api_app_id": APP_ID, "token": "verification-token-unused",
            "container": container,
            "trigger_id": format!("{trigger}.{trigger}.fakefakefake"),
            "team": {"id": TEAM, "domain": "fake"},
            "channel": {"id": channel, "name": channel.to_lowercase()},
            "message": message,
            "response_url": format!("https://hooks.slack.com/actions/{TEAM}/{trigger}/fake"),
            "actions": [{
                "type": "button", "action_id": action_id, "block_id": "fake", "value": value,
                "text": {"type": "plain_text", "text": action_id}, "action_ts": action_ts,
            }],
        })
    }

    /// A slash command from `user` in `channel`.
    pub fn slash_command(
        &self,
        user: &str,
        channel: &str,
        command: &str,
        text: &str,
    ) -> Option<String> {
        let payload = json!({
            "token": "verification-token-unused", "team_id": TEAM, "channel_id": channel,
            "user_id": user, "command": command, "text": text, "api_app_id": APP_ID,
            "response_url": "https://hooks.slack.com/commands/fake", "trigger_id": "1.1.fake",
        });
        self.send_envelope("slash_commands", payload)
    }

    /// Changes a user group and sends `subteam_members_changed`.
    pub fn usergroup_changed(&self, group: &str, users: &[&str]) -> Option<String> {
        let (previous, event_id) = {
            let mut st = self.inner.lock();
            let previous = st.groups.get(group).cloned().unwrap_or_default();
            st.groups.insert(
                group.to_string(),
                users.iter().map(|u| u.to_string()).collect(),
            );
            (previous, format!("Ev{:010}", next_id(&mut st)))
        };
        let added: Vec<&str> = users
            .iter()
            .copied()
            .filter(|u| !previous.iter().any(|p| p == u))
            .collect();
        let removed: Vec<&String> = previous
            .iter()
            .filter(|p| !users.contains(&p.as_str()))
            .collect();
        let event = json!({
            "type": "subteam_members_changed", "subteam_id": group, "team_id": TEAM,
            "added_users": added, "added_users_count": added.len().to_string(),
            "removed_users": removed, "removed_users_count": removed.len().to_string(),
        });
        self.send_envelope("events_api", event_callback(&event_id, event))
    }

    // ----- socket ------------------------------------------------------------------------------

    /// Sends an envelope over the connected socket; `None` (and nothing sent) when none is.
    pub fn send_envelope(&self, kind: &str, payload: Value) -> Option<String> {
        let mut st = self.inner.lock();
        let tx = st.socket.as_ref().map(|(_, tx)| tx.clone())?;
        let envelope_id = format!("env-{:08}", next_id(&mut st));
        let envelope = json!({
            "envelope_id": envelope_id, "type": kind, "payload": payload,
            "accepts_response_payload": kind != "events_api", "retry_attempt": 0, "retry_reason": "",
        });
        send_tracked(&mut st, &tx, &envelope_id, envelope);
        Some(envelope_id)
    }

    /// Sends an earlier envelope again, as Slack does when it thinks it went unacknowledged:
    /// same payload, a new envelope id, `retry_attempt` + 1. Returns the new envelope id.
    pub fn redeliver(&self, envelope_id: &str) -> Option<String> {
        let mut st = self.inner.lock();
        let tx = st.socket.as_ref().map(|(_, tx)| tx.clone())?;
        let mut envelope = st.envelopes.get(envelope_id)?.clone();
        let new_id = format!("env-{:08}", next_id(&mut st));
        envelope["envelope_id"] = json!(new_id);
        envelope["retry_attempt"] = json!(envelope["retry_attempt"].as_u64().unwrap_or(0) + 1);
        envelope["retry_reason"] = json!("timeout");
        send_tracked(&mut st, &tx, &new_id, envelope);
        Some(new_id)
    }

    /// Sends `disconnect` (Slack's "please reconnect"); the socket stays open until the client
    /// closes it. False when no socket is connected.
    pub fn disconnect(&self) -> bool {
        let st = self.inner.lock();
        let Some((_, tx)) = &st.socket else {
            return false;
        };
        let msg = json!({"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "fake"}});
        tx.send(SocketCmd::Send(msg.to_string())).is_ok()
    }

    /// Drops the TCP connection without a close frame, like a network failure.
    pub fn drop_socket(&self) -> bool {
        let mut st = self.inner.lock();
        match st.socket.take() {
            Some((_, tx)) => {
                let _ = tx.send(SocketCmd::Drop);
                drop(st);
                self.changed();
                true
            }
            None => false,
        }
    }

    pub fn is_connected(&self) -> bool {
        self.inner.lock().socket.is_some()
    }

    /// How many sockets have been accepted (and sent `hello`) so far.
    pub fn connections(&self) -> u64 {
        self.inner.lock().connections
    }

    /// Time from sending an envelope to its first acknowledgement; `None` while unacknowledged.
    pub fn ack_delay(&self, envelope_id: &str) -> Option<Duration> {
        let st = self.inner.lock();
        let rec = st.acks.get(envelope_id)?;
        rec.acked.map(|at| at.duration_since(rec.sent))
    }

    /// How many times an envelope was acknowledged.
    pub fn ack_count(&self, envelope_id: &str) -> u32 {
        self.inner
            .lock()
            .acks
            .get(envelope_id)
            .map_or(0, |r| r.acks)
    }

    /// Envelopes sent and not (yet) acknowledged.
    pub fn unacked(&self) -> Vec<String> {
        let st = self.inner.lock();
        let mut ids: Vec<String> = st
            .acks
            .iter()
            .filter(|(_, r)| r.acked.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    // ----- observing ---------------------------------------------------------------------------

    /// Every recorded call of `method`, in order.
    pub fn calls(&self, method: &str) -> Vec<Call> {
        self.inner
            .lock()
            .calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    pub fn all_calls(&self) -> Vec<Call> {
        self.inner.lock().calls.clone()
    }

    /// Messages in a channel (top level and threads), oldest first.
    pub fn messages_in(&self, channel: &str) -> Vec<StoredMessage> {
        self.inner
            .lock()
            .messages
            .iter()
            .filter(|m| m.channel == channel)
            .cloned()
            .collect()
    }

    /// A thread: its parent, then its replies.
    pub fn thread(&self, channel: &str, thread_ts: &str) -> Vec<StoredMessage> {
        self.messages_in(channel)
            .into_iter()
            .filter(|m| m.ts == thread_ts || m.thread_ts.as_deref() == Some(thread_ts))
            .collect()
    }

    /// Messages the bot posted in a channel, oldest first (as currently stored, i.e. updated).
    pub fn bot_messages(&self, channel: &str) -> Vec<StoredMessage> {
        self.messages_in(channel)
            .into_iter()
            .filter(|m| m.bot_id.as_deref() == Some(BOT_ID))
            .collect()
    }

    /// Waits until `check` returns something, re-checking whenever the fake's state changes.
    /// Panics naming `what` after `timeout`.
    pub async fn wait_until<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&FakeSlack) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(found) = check(self) {
                return found;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                if let Some(found) = check(self) {
                    return found;
                }
                panic!("fake slack: timed out after {timeout:?} waiting for {what}");
            }
        }
    }

    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        mut predicate: impl FnMut(&FakeSlack) -> bool,
    ) {
        self.wait_until(what, timeout, |f| predicate(f).then_some(()))
            .await
    }

    /// Waits until `method` has been called at least `n` times; returns those calls.
    pub async fn wait_for_calls(&self, method: &str, n: usize, timeout: Duration) -> Vec<Call> {
        self.wait_until(&format!("{n} call(s) of {method}"), timeout, |f| {
            let calls = f.calls(method);
            (calls.len() >= n).then_some(calls)
        })
        .await
    }

    /// Waits until `n` sockets have been accepted in all and one is connected.
    pub async fn wait_for_connections(&self, n: u64, timeout: Duration) {
        self.wait_for(&format!("socket connection #{n}"), timeout, |f| {
            f.connections() >= n && f.is_connected()
        })
        .await
    }

    /// Waits for an envelope's acknowledgement; returns the time it took.
    pub async fn wait_for_ack(&self, envelope_id: &str, timeout: Duration) -> Duration {
        self.wait_until(&format!("ack of {envelope_id}"), timeout, |f| {
            f.ack_delay(envelope_id)
        })
        .await
    }
}

// ----- Events API helpers ----------------------------------------------------------------------

/// `v0=` + hex HMAC-SHA256 over `v0:{timestamp}:{body}`, as Slack signs requests.
pub fn sign(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// POSTs `body` to `url` signed with `secret` at `now_secs`, as Slack's Events API does
/// (`application/json` for a JSON body, else form-encoded, e.g. [`interactivity_form`]), with
/// `X-Slack-Retry-Num` / `X-Slack-Retry-Reason` when `retry_num` is set.
pub async fn signed_event(
    url: &str,
    secret: &str,
    body: &str,
    now_secs: i64,
    retry_num: Option<u32>,
) -> reqwest::Response {
    let ts = now_secs.to_string();
    let content_type = if body.trim_start().starts_with('{') {
        "application/json"
    } else {
        "application/x-www-form-urlencoded"
    };
    let mut request = reqwest::Client::new()
        .post(url)
        .header("Content-Type", content_type)
        .header("X-Slack-Request-Timestamp", &ts)
        .header("X-Slack-Signature", sign(secret, &ts, body))
        .body(body.to_string());
    if let Some(n) = retry_num {
        request = request
            .header("X-Slack-Retry-Num", n.to_string())
            .header("X-Slack-Retry-Reason", "http_timeout");
    }
    request.send().await.expect("POST signed event")
}

/// The form body Slack POSTs to the interactivity URL: `payload=<url-encoded JSON>`.
pub fn interactivity_form(payload: &Value) -> String {
    format!("payload={}", form_encode(&payload.to_string()))
}

pub fn form_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn form_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if value.get(i + 1..i + 3).is_some() => {
                match u8::from_str_radix(&value[i + 1..i + 3], 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form_fields(text: &str, into: &mut Map<String, Value>) {
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        into.insert(form_decode(k), Value::String(form_decode(v)));
    }
}

fn event_callback(event_id: &str, event: Value) -> Value {
    json!({
        "token": "verification-token-unused", "team_id": TEAM, "api_app_id": APP_ID,
        "event": event, "type": "event_callback", "event_id": event_id, "event_time": 1_700_000_000,
        "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": true}],
        "is_ext_shared_channel": false,
    })
}

// ----- internals -------------------------------------------------------------------------------

fn next_ts(st: &mut FakeState) -> String {
    st.ts_counter += 1;
    let micros = st.ts_counter * 100;
    format!(
        "{}.{:06}",
        1_700_000_000 + micros / 1_000_000,
        micros % 1_000_000
    )
}

fn next_id(st: &mut FakeState) -> u64 {
    st.id_counter += 1;
    st.id_counter
}

fn dm_channel(st: &mut FakeState, user: &str) -> String {
    if let Some(c) = st.dms.get(user) {
        return c.clone();
    }
    let channel = format!("D{:08}", st.dms.len() + 1);
    st.dms.insert(user.to_string(), channel.clone());
    channel
}

fn send_tracked(
    st: &mut FakeState,
    tx: &mpsc::UnboundedSender<SocketCmd>,
    envelope_id: &str,
    envelope: Value,
) {
    let text = envelope.to_string();
    st.envelopes.insert(envelope_id.to_string(), envelope);
    st.acks.insert(
        envelope_id.to_string(),
        AckRecord {
            sent: Instant::now(),
            acked: None,
            acks: 0,
        },
    );
    let _ = tx.send(SocketCmd::Send(text));
}

async fn serve_socket(inner: Arc<Inner>, stream: tokio::net::TcpStream) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let me = {
        let mut st = inner.lock();
        st.connections += 1;
        let me = st.connections;
        // hello is queued under the lock, so no envelope can overtake it.
        let hello = json!({"type": "hello", "num_connections": 1,
            "debug_info": {"host": "fake", "approximate_connection_time": 18060},
            "connection_info": {"app_id": APP_ID}});
        let _ = tx.send(SocketCmd::Send(hello.to_string()));
        st.socket = Some((me, tx));
        me
    };
    inner.changed.notify_waiters();
    loop {
        tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(SocketCmd::Send(text)) => {
                    if ws.send(Message::Text(text)).await.is_err() { break; }
                }
                // Dropping the stream closes the TCP connection without a close frame.
                Some(SocketCmd::Drop) | None => break,
            },
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    if let Some(id) = v["envelope_id"].as_str() {
                        let mut st = inner.lock();
                        if let Some(rec) = st.acks.get_mut(id) {
                            rec.acks += 1;
                            rec.acked.get_or_insert_with(Instant::now);
                        }
                        drop(st);
                        inner.changed.notify_waiters();
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    {
        let mut st = inner.lock();
        if st.socket.as_ref().is_some_and(|(n, _)| *n == me) {
            st.socket = None;
        }
    }
    inner.changed.notify_waiters();
}

async fn web_api(
    State(inner): State<Arc<Inner>>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut params = Map::new();
    if let Some(q) = &query {
        form_fields(q, &mut params);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/json") {
        if let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&body) {
            params.extend(fields);
        }
    } else if !body.is_empty() {
        form_fields(&String::from_utf8_lossy(&body), &mut params);
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
        .or_else(|| {
            params
                .get("token")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    let params = Value::Object(params);
    let outcome = {
        let mut st = inner.lock();
        st.calls.push(Call {
            method: method.clone(),
            params: params.clone(),
            token: token.clone(),
            at: Instant::now(),
        });
        let failure = st.failures.get_mut(&method).and_then(VecDeque::pop_front);
        match failure {
            Some(kind) => Err(kind),
            None => {
                let expected = if method == "apps.connections.open" {
                    APP_TOKEN
                } else {
                    BOT_TOKEN
                };
                let answer = match token.as_deref() {
                    None => Err("not_authed".to_string()),
                    Some(t) if t != expected => Err("invalid_auth".to_string()),
                    Some(_) => handle(&mut st, &method, &params, inner.ws_port),
                };
                Ok(answer)
            }
        }
    };
    inner.changed.notify_waiters();
    match outcome {
        Err(FailKind::RateLimited { retry_after_secs }) => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after_secs.to_string())],
            axum::Json(json!({"ok": false, "error": "ratelimited"})),
        )
            .into_response(),
        Err(FailKind::ApiError(error)) => {
            axum::Json(json!({"ok": false, "error": error})).into_response()
        }
        Err(FailKind::Status(code)) => (
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "fake slack: injected failure",
        )
            .into_response(),
        Ok(Ok(mut v)) => {
            v["ok"] = json!(true);
            axum::Json(v).into_response()
        }
        Ok(Err(error)) => axum::Json(json!({"ok": false, "error": error})).into_response(),
    }
}

fn str_param<'a>(params: &'a Value, key: &str) -> Option<&'a str> {
    params[key].as_str().filter(|s| !s.is_empty())
}

fn valid_channel(st: &FakeState, channel: Option<&str>) -> Result<String, String> {
    let channel = channel.ok_or("channel_not_found")?;
    if !(channel.starts_with('C') || channel.starts_with('D') || channel.starts_with('G')) {
        return Err("channel_not_found".into());
    }
    if st.archived.contains(channel) {
        return Err("is_archived".into());
    }
    Ok(channel.to_string())
}

fn blocks_param(params: &Value) -> Option<Value> {
    match &params["blocks"] {
        Value::Null => None,
        // Form-encoded calls carry blocks as a JSON string.
        Value::String(s) => serde_json::from_str(s).ok(),
        v => Some(v.clone()),
    }
}

fn handle(st: &mut FakeState, method: &str, params: &Value, ws_port: u16) -> Result<Value, String> {
    match method {
        "chat.postMessage" => {
            let channel = valid_channel(st, str_param(params, "channel"))?;
            let text = str_param(params, "text").unwrap_or_default().to_string();
            let blocks = blocks_param(params);
            if text.is_empty() && blocks.is_none() {
                return Err("no_text".into());
            }
            let ts = next_ts(st);
            let message = StoredMessage {
                channel: channel.clone(),
                ts: ts.clone(),
                user: Some(BOT_USER.into()),
                bot_id: Some(BOT_ID.into()),
                subtype: None,
                text,
                thread_ts: str_param(params, "thread_ts").map(str::to_string),
                blocks,
            };
            let json = message.to_json(0);
            st.messages.push(message);
            Ok(json!({"channel": channel, "ts": ts, "message": json}))
        }
        "chat.update" => {
            let channel = valid_channel(st, str_param(params, "channel"))?;
            let ts = str_param(params, "ts")
                .ok_or("message_not_found")?
                .to_string();
            let text = str_param(params, "text").map(str::to_string);
            let blocks = blocks_param(params);
            let message = st
                .messages
                .iter_mut()
                .find(|m| m.channel == channel && m.ts == ts)
                .ok_or("message_not_found")?;
            if message.bot_id.as_deref() != Some(BOT_ID) {
                return Err("cant_update_message".into());
            }
            if let Some(text) = text {
                message.text = text;
            }
            message.blocks = blocks;
            Ok(json!({"channel": channel, "ts": ts, "text": message.text}))
        }
        "chat.postEphemeral" => {
            valid_channel(st, str_param(params, "channel"))?;
            str_param(params, "user").ok_or("user_not_found")?;
            Ok(json!({"message_ts": next_ts(st)}))
        }
        "conversations.open" => {
            let user = str_param(params, "users").ok_or("users_list_not_supplied")?;
            if user == BOT_USER {
                return Err("cannot_dm_bot".into());
            }
            let id = dm_channel(st, user);
            Ok(json!({"channel": {"id": id}}))
        }
        "conversations.history" => {
            let channel = str_param(params, "channel")
                .ok_or("channel_not_found")?
                .to_string();
            let oldest = str_param(params, "oldest").map(str::to_string);
            let inclusive = matches!(str_param(params, "inclusive"), Some("true") | Some("1"));
            let mut top: Vec<Value> = st
                .messages
                .iter()
                .filter(|m| m.channel == channel)
                .filter(|m| m.thread_ts.is_none() || m.thread_ts.as_deref() == Some(m.ts.as_str()))
                .filter(|m| after(&m.ts, oldest.as_deref(), inclusive))
                .map(|m| {
                    let replies = st
                        .messages
                        .iter()
                        .filter(|r| {
                            r.channel == channel
                                && r.thread_ts.as_deref() == Some(m.ts.as_str())
                                && r.ts != m.ts
                        })
                        .count();
                    m.to_json(replies)
                })
                .collect();
            top.reverse(); // newest first, like Slack
            Ok(page(top, params, st.page_size))
        }
        "conversations.replies" => {
            let channel = str_param(params, "channel")
                .ok_or("channel_not_found")?
                .to_string();
            let thread = str_param(params, "ts")
                .ok_or("thread_not_found")?
                .to_string();
            let oldest = str_param(params, "oldest").map(str::to_string);
            let inclusive = matches!(str_param(params, "inclusive"), Some("true") | Some("1"));
            let parent = st
                .messages
                .iter()
                .find(|m| m.channel == channel && m.ts == thread)
                .ok_or("thread_not_found")?;
            let replies: Vec<&StoredMessage> = st
                .messages
                .iter()
                .filter(|m| {
                    m.channel == channel
                        && m.thread_ts.as_deref() == Some(thread.as_str())
                        && m.ts != thread
                })
                .collect();
            // Slack always returns the parent first, whatever `oldest` says.
            let mut all = vec![parent.to_json(replies.len())];
            all.extend(
                replies
                    .into_iter()
                    .filter(|m| after(&m.ts, oldest.as_deref(), inclusive))
                    .map(|m| m.to_json(0)),
            );
            Ok(page(all, params, st.page_size))
        }
        "users.info" => {
            let user = str_param(params, "user").ok_or("user_not_found")?;
            let name = st.users.get(user).ok_or("user_not_found")?;
            Ok(json!({"user": {
                "id": user, "team_id": TEAM, "name": name.to_lowercase().replace(' ', "."),
                "real_name": format!("{name} (real)"), "is_bot": false,
                "profile": {"display_name": name, "real_name": format!("{name} (real)")},
            }}))
        }
        "usergroups.users.list" => {
            let group = str_param(params, "usergroup").ok_or("no_such_subteam")?;
            let users = st.groups.get(group).ok_or("no_such_subteam")?;
            Ok(json!({"users": users}))
        }
        "auth.test" => Ok(json!({
            "url": "https://fake.slack.com/", "team": "Fake", "user": "frontline",
            "team_id": TEAM, "user_id": BOT_USER, "bot_id": BOT_ID, "is_enterprise_install": false,
        })),
        "apps.connections.open" => {
            let ticket = next_id(st);
            Ok(
                json!({"url": format!("ws://127.0.0.1:{ws_port}/link/?ticket=fake-{ticket}&app_id={APP_ID}")}),
            )
        }
        _ => Err("unknown_method".into()),
    }
}

fn after(ts: &str, oldest: Option<&str>, inclusive: bool) -> bool {
    let Some(oldest) = oldest else { return true };
    let key = |t: &str| {
        let (s, m) = t.split_once('.').unwrap_or((t, "0"));
        (
            s.parse::<u64>().unwrap_or(0),
            format!("{m:0<6}")[..6].parse::<u64>().unwrap_or(0),
        )
    };
    if inclusive {
        key(ts) >= key(oldest)
    } else {
        key(ts) > key(oldest)
    }
}

/// One page of `items` (cursor = offset), `limit` capped by the fake's page size.
fn page(items: Vec<Value>, params: &Value, page_size: usize) -> Value {
    let limit = params["limit"]
        .as_str()
        .and_then(|l| l.parse::<usize>().ok())
        .or_else(|| {
            params["limit"]
                .as_u64()
                .and_then(|l| usize::try_from(l).ok())
        })
        .unwrap_or(100)
        .clamp(1, page_size);
    let start = str_param(params, "cursor")
        .and_then(|c| c.strip_prefix("offset:"))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    let end = (start + limit).min(items.len());
    let has_more = end < items.len();
    let messages: Vec<Value> = items
        .get(start.min(items.len())..end)
        .unwrap_or_default()
        .to_vec();
    json!({
        "messages": messages,
        "has_more": has_more,
        "response_metadata": {"next_cursor": if has_more { format!("offset:{end}") } else { String::new() }},
    })
}
