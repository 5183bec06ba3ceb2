//! The REST side: one fallback handler that records every request, applies injected failures,
//! then routes by method and path segments under /api/v10.
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

use super::{
    method_matches, path_matches, FakeChannel, FakeUser, Inner, RecordedRequest, State,
    APPLICATION_ID, BOT_ID, BOT_NAME, CHANNEL_DM, CHANNEL_GUILD_TEXT, CHANNEL_PRIVATE_THREAD,
    CHANNEL_PUBLIC_THREAD, EPHEMERAL, GUILD_ID, INTENT_GUILDS, INTERACTION_DEADLINE, MAX_CONTENT,
};

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new().fallback(handle).with_state(inner)
}

struct Reply {
    status: u16,
    body: Option<Value>,
    headers: Vec<(String, String)>,
    unhandled: bool,
    injected: bool,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: Vec::new(),
            unhandled: false,
            injected: false,
        }
    }
    fn ok(body: Value) -> Reply {
        Reply::json(200, body)
    }
    fn no_content() -> Reply {
        Reply {
            status: 204,
            body: None,
            headers: Vec::new(),
            unhandled: false,
            injected: false,
        }
    }
    /// Discord's error shape.
    fn error(status: u16, code: u64, message: &str) -> Reply {
        Reply::json(status, json!({"message": message, "code": code}))
    }
    fn unknown_channel() -> Reply {
        Reply::error(404, 10003, "Unknown Channel")
    }
    fn unknown_message() -> Reply {
        Reply::error(404, 10008, "Unknown Message")
    }
    fn unknown_webhook() -> Reply {
        Reply::error(404, 10015, "Unknown Webhook")
    }
    fn unknown_interaction() -> Reply {
        Reply::error(404, 10062, "Unknown interaction")
    }
    fn too_long(field: &str) -> Reply {
        Reply::json(
            400,
            json!({
                "message": "Invalid Form Body",
                "code": 50035,
                "errors": {field: {"_errors": [{
                    "code": "BASE_TYPE_MAX_LENGTH",
                    "message": format!("Must be {MAX_CONTENT} or fewer in length."),
                }]}},
            }),
        )
    }
}

async fn handle(
    AxumState(inner): AxumState<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query = uri.query().map(str::to_string);
    let multipart_boundary = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .filter(|ct| ct.starts_with("multipart/form-data"))
        .and_then(|ct| ct.split("boundary=").nth(1))
        .map(|b| b.trim_matches('"').to_string());
    let body: Value = if body.is_empty() {
        Value::Null
    } else if let Some(boundary) = multipart_boundary {
        // Uploads: the JSON travels in the `payload_json` part (files are not kept).
        multipart_payload(&body, &boundary).unwrap_or(Value::Null)
    } else {
        serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
    };
    let reply = {
        let mut st = inner.lock();
        let reply = route(
            &mut st,
            method.as_str(),
            &path,
            query.as_deref(),
            &headers,
            &body,
        );
        st.requests.push(RecordedRequest {
            method: method.to_string(),
            path: path.clone(),
            query: query.clone(),
            body,
            status: reply.status,
            unhandled: reply.unhandled,
            injected: reply.injected,
            at: Instant::now(),
        });
        reply
    };
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match reply.body {
        Some(b) => (status, axum::Json(b)).into_response(),
        None => status.into_response(),
    };
    for (k, v) in reply.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            response.headers_mut().insert(k, v);
        }
    }
    response
}

/// The JSON of the `payload_json` part of a multipart/form-data body.
fn multipart_payload(body: &[u8], boundary: &str) -> Option<Value> {
    let delimiter = format!("--{boundary}");
    let text = String::from_utf8_lossy(body);
    text.split(delimiter.as_str()).find_map(|part| {
        let (head, content) = part.split_once("\r\n\r\n")?;
        if !head.contains("name=\"payload_json\"") {
            return None;
        }
        serde_json::from_str(content.trim_end_matches("\r\n")).ok()
    })
}

fn query_param<'a>(query: Option<&'a str>, key: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

fn parse_id(s: &str) -> Option<u64> {
    s.parse().ok()
}

fn route(
    st: &mut State,
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &Value,
) -> Reply {
    let Some(rest) = path.strip_prefix("/api/v10") else {
        return unhandled();
    };
    // Injected failures come first, whatever the route.
    // A failure with `skip` left lets that many matching requests through first.
    let mut injected = None;
    for f in st.failures.iter_mut() {
        if f.remaining == 0 || !method_matches(&f.method, method) || !path_matches(&f.pattern, path)
        {
            continue;
        }
        if f.skip > 0 {
            f.skip -= 1;
            continue;
        }
        injected = Some(f);
        break;
    }
    if let Some(f) = injected {
        f.remaining -= 1;
        return Reply {
            status: f.status,
            body: Some(f.body.clone()),
            headers: f.headers.clone(),
            unhandled: false,
            injected: true,
        };
    }
    let segs: Vec<&str> = rest.trim_matches('/').split('/').collect();
    // Interaction callbacks and webhook calls authenticate by their token, not the bot's.
    let token_auth = matches!(segs.first(), Some(&"interactions") | Some(&"webhooks"));
    if !token_auth {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if auth != format!("Bot {}", st.options.token) {
            return Reply::error(401, 0, "401: Unauthorized");
        }
    }
    match (method, segs.as_slice()) {
        ("GET", ["gateway"]) => Reply::ok(json!({"url": st.gateway_url})),
        ("GET", ["gateway", "bot"]) => Reply::ok(json!({
            "url": st.gateway_url,
            "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1},
        })),
        ("GET", ["users", "@me"]) => {
            let mut u = State::user_json(&FakeUser::bot_user());
            u["verified"] = json!(true);
            u["mfa_enabled"] = json!(false);
            Reply::ok(u)
        }
        ("GET", ["applications", "@me"]) | ("GET", ["oauth2", "applications", "@me"]) => {
            Reply::ok(json!({
                "id": APPLICATION_ID,
                "name": BOT_NAME,
                "icon": null,
                "description": "",
                "bot_public": false,
                "bot_require_code_grant": false,
                "verify_key": "0000000000000000000000000000000000000000000000000000000000000000",
                "owner": State::user_json(&FakeUser::bot_user()),
                "team": null,
                "flags": 0,
                "bot": State::user_json(&FakeUser::bot_user()),
            }))
        }
        ("GET", ["users", uid]) => match parse_id(uid).and_then(|id| st.users.get(&id)) {
            Some(u) => Reply::ok(State::user_json(u)),
            None => Reply::error(404, 10013, "Unknown User"),
        },
        ("POST", ["users", "@me", "channels"]) => {
            let recipient = body["recipient_id"]
                .as_str()
                .map(str::to_string)
                .or_else(|| body["recipient_id"].as_u64().map(|n| n.to_string()));
            let Some(user) = recipient
                .as_deref()
                .and_then(parse_id)
                .and_then(|id| st.users.get(&id))
                .cloned()
            else {
                return Reply::error(400, 50033, "Invalid Recipient(s)");
            };
            let id = st.ensure_dm(&user);
            let c = st.channels[&id].clone();
            Reply::ok(st.channel_json(&c))
        }
        ("GET", ["guilds", gid, "members", uid]) => {
            if *gid != GUILD_ID {
                return Reply::error(404, 10004, "Unknown Guild");
            }
            match parse_id(uid).and_then(|id| st.users.get(&id)) {
                Some(u) => {
                    let mut m = State::member_json(u, true);
                    m["guild_id"] = json!(GUILD_ID);
                    Reply::ok(m)
                }
                None => Reply::error(404, 10007, "Unknown Member"),
            }
        }
        ("GET", ["channels", cid]) => match channel(st, cid) {
            Some(c) => Reply::ok(st.channel_json(&c)),
            None => Reply::unknown_channel(),
        },
        ("PATCH", ["channels", cid]) => {
            let Some(id) = channel(st, cid).map(|c| c.id) else {
                return Reply::unknown_channel();
            };
            let c = st
                .channels
                .get_mut(&parse_id(&id).unwrap_or_default())
                .expect("channel");
            if let Some(n) = body["name"].as_str() {
                c.name = n.to_string();
            }
            if let Some(a) = body["archived"].as_bool() {
                c.archived = a;
            }
            if let Some(l) = body["locked"].as_bool() {
                c.locked = l;
            }
            let c = c.clone();
            Reply::ok(st.channel_json(&c))
        }
        ("POST", ["channels", cid, "typing"]) => match channel(st, cid) {
            Some(_) => Reply::no_content(),
            None => Reply::unknown_channel(),
        },
        ("PUT", ["channels", cid, "thread-members", uid]) => {
            let Some(c) = channel(st, cid).filter(FakeChannel::is_thread) else {
                return Reply::unknown_channel();
            };
            let c = st
                .channels
                .get_mut(&parse_id(&c.id).unwrap_or_default())
                .expect("thread");
            if !c.members.iter().any(|m| m == uid) {
                c.members.push(uid.to_string());
            }
            Reply::no_content()
        }
        ("GET", ["channels", cid, "messages"]) => get_messages(st, cid, query),
        ("POST", ["channels", cid, "messages"]) => create_message(st, cid, body),
        ("GET", ["channels", cid, "messages", mid]) => match message_in(st, cid, mid) {
            Some(id) => Reply::ok(st.message_json(&st.messages[&id], false)),
            None => Reply::unknown_message(),
        },
        ("PATCH", ["channels", cid, "messages", mid]) => {
            let Some(id) = message_in(st, cid, mid) else {
                return Reply::unknown_message();
            };
            if !st.messages[&id].from_bot() {
                return Reply::error(403, 50005, "Cannot edit a message authored by another user");
            }
            if body["content"]
                .as_str()
                .is_some_and(|c| c.chars().count() > MAX_CONTENT)
            {
                return Reply::too_long("content");
            }
            st.edit_message(id, body);
            st.dispatch_message("MESSAGE_UPDATE", id);
            Reply::ok(st.message_json(&st.messages[&id], false))
        }
        ("DELETE", ["channels", cid, "messages", mid]) => {
            let Some(id) = message_in(st, cid, mid) else {
                return Reply::unknown_message();
            };
            if let Some(m) = st.messages.get_mut(&id) {
                m.deleted = true;
            }
            Reply::no_content()
        }
        ("POST", ["channels", cid, "messages", mid, "threads"]) => {
            thread_from_message(st, cid, mid, body)
        }
        ("POST", ["channels", cid, "threads"]) => {
            let Some(parent) = channel(st, cid) else {
                return Reply::unknown_channel();
            };
            if parent.kind != CHANNEL_GUILD_TEXT {
                return Reply::error(400, 50024, "Cannot execute action on this channel type");
            }
            let kind = match body["type"].as_u64() {
                Some(11) => CHANNEL_PUBLIC_THREAD,
                _ => CHANNEL_PRIVATE_THREAD,
            };
            let id = st.new_id();
            new_thread(st, id, &parent, kind, None, body)
        }
        ("POST", ["interactions", iid, token, "callback"]) => {
            interaction_callback(st, iid, token, body)
        }
        ("POST", ["webhooks", app, token]) => {
            let Some(iid) = acked_interaction(st, app, token) else {
                return Reply::unknown_webhook();
            };
            if body["content"]
                .as_str()
                .is_some_and(|c| c.chars().count() > MAX_CONTENT)
            {
                return Reply::too_long("content");
            }
            let (channel, flags) = {
                let i = &st.interactions[&iid];
                (i.channel_id, body["flags"].as_u64().unwrap_or(0))
            };
            let id = interaction_message(st, iid, channel, body, flags);
            Reply::ok(st.message_json(&st.messages[&id], false))
        }
        ("GET" | "PATCH" | "DELETE", ["webhooks", app, token, "messages", mid]) => {
            webhook_message(st, method, app, token, mid, body)
        }
        _ => unhandled(),
    }
}

fn unhandled() -> Reply {
    Reply {
        unhandled: true,
        ..Reply::error(404, 0, "404: Not Found (no such route in the fake Discord)")
    }
}

fn channel(st: &State, cid: &str) -> Option<FakeChannel> {
    parse_id(cid).and_then(|id| st.channels.get(&id)).cloned()
}

fn message_in(st: &State, cid: &str, mid: &str) -> Option<u64> {
    let id = parse_id(mid)?;
    let m = st.messages.get(&id)?;
    (m.channel_id == cid && !m.deleted).then_some(id)
}

/// Discord answers newest first; `after` takes the oldest `limit` after that id, `before` and no
/// anchor the newest `limit`.
fn get_messages(st: &State, cid: &str, query: Option<&str>) -> Reply {
    if channel(st, cid).is_none() {
        return Reply::unknown_channel();
    }
    let limit = query_param(query, "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(50)
        .clamp(1, 100);
    let visible: Vec<&super::FakeMessage> = st
        .messages
        .values()
        .filter(|m| m.channel_id == cid && !m.deleted && !m.is_ephemeral())
        .collect();
    let id_of = |m: &&super::FakeMessage| m.id.parse::<u64>().unwrap_or_default();
    let mut picked: Vec<&super::FakeMessage> =
        if let Some(after) = query_param(query, "after").and_then(parse_id) {
            let mut v: Vec<_> = visible
                .into_iter()
                .filter(|m| id_of(m) > after)
                .take(limit)
                .collect();
            v.reverse();
            v
        } else if let Some(before) = query_param(query, "before").and_then(parse_id) {
            visible
                .into_iter()
                .filter(|m| id_of(m) < before)
                .rev()
                .take(limit)
                .collect()
        } else {
            visible.into_iter().rev().take(limit).collect()
        };
    picked.sort_by_key(|m| std::cmp::Reverse(id_of(m)));
    Reply::ok(Value::Array(
        picked
            .into_iter()
            .map(|m| st.message_json(m, false))
            .collect(),
    ))
}

fn create_message(st: &mut State, cid: &str, body: &Value) -> Reply {
    let Some(c) = channel(st, cid) else {
        return Reply::unknown_channel();
    };
    if c.kind == CHANNEL_DM {
        let closed = c
            .recipient_id
            .as_deref()
            .and_then(parse_id)
            .is_some_and(|u| st.closed_dms.contains(&u));
        if closed {
            return Reply::error(403, 50007, "Cannot send messages to this user");
        }
    }
    if c.is_thread() && c.locked {
        return Reply::error(403, 50083, "Thread is archived");
    }
    let content = body["content"].as_str().unwrap_or_default();
    if content.chars().count() > MAX_CONTENT {
        return Reply::too_long("content");
    }
    let has_other = ["components", "embeds", "sticker_ids", "attachments"]
        .iter()
        .any(|k| body[k].as_array().is_some_and(|a| !a.is_empty()));
    if content.is_empty() && !has_other {
        return Reply::error(400, 50006, "Cannot send an empty message");
    }
    let cid_n = parse_id(cid).unwrap_or_default();
    if let Some(ch) = st.channels.get_mut(&cid_n) {
        // Sending to an archived (unlocked) thread unarchives it, as on Discord.
        ch.archived = false;
    }
    let id = st.new_message(cid_n, &FakeUser::bot_user(), content, body);
    st.echo_bot_message(id);
    Reply::ok(st.message_json(&st.messages[&id], false))
}

fn thread_from_message(st: &mut State, cid: &str, mid: &str, body: &Value) -> Reply {
    let Some(parent) = channel(st, cid) else {
        return Reply::unknown_channel();
    };
    let Some(id) = message_in(st, cid, mid) else {
        return Reply::unknown_message();
    };
    if parent.kind != CHANNEL_GUILD_TEXT {
        return Reply::error(400, 50024, "Cannot execute action on this channel type");
    }
    if st.channels.contains_key(&id) {
        return Reply::error(
            400,
            160004,
            "A thread has already been created for this message",
        );
    }
    // Threads made from a message are public whatever the body asks.
    new_thread(
        st,
        id,
        &parent,
        CHANNEL_PUBLIC_THREAD,
        Some(mid.to_string()),
        body,
    )
}

fn new_thread(
    st: &mut State,
    id: u64,
    parent: &FakeChannel,
    kind: u8,
    from_message: Option<String>,
    body: &Value,
) -> Reply {
    let Some(name) = body["name"].as_str().filter(|n| !n.is_empty()) else {
        return Reply::json(
            400,
            json!({"message": "Invalid Form Body", "code": 50035,
                   "errors": {"name": {"_errors": [{"code": "BASE_TYPE_REQUIRED", "message": "This field is required"}]}}}),
        );
    };
    if name.chars().count() > 100 {
        return Reply::too_long("name");
    }
    let thread = FakeChannel {
        id: id.to_string(),
        kind,
        guild_id: Some(GUILD_ID.to_string()),
        parent_id: Some(parent.id.clone()),
        name: name.to_string(),
        recipient_id: None,
        owner_id: Some(BOT_ID.to_string()),
        from_message,
        archived: false,
        locked: false,
        auto_archive_duration: body["auto_archive_duration"].as_u64().unwrap_or(4320),
        members: Vec::new(),
        create_body: body.clone(),
    };
    st.channels.insert(id, thread.clone());
    let json = st.channel_json(&thread);
    if st.intents() & INTENT_GUILDS != 0 {
        let mut d = json.clone();
        d["newly_created"] = json!(true);
        st.dispatch("THREAD_CREATE", d);
    }
    Reply::json(201, json)
}

fn interaction_callback(st: &mut State, iid: &str, token: &str, body: &Value) -> Reply {
    let Some(id) =
        parse_id(iid).filter(|id| st.interactions.get(id).is_some_and(|i| i.token == token))
    else {
        return Reply::unknown_interaction();
    };
    let kind = body["type"].as_u64().unwrap_or(0);
    let data = body.get("data").cloned().unwrap_or(Value::Null);
    let (elapsed, acked, channel_id, message_id) = {
        let i = &st.interactions[&id];
        (
            i.dispatched_at.elapsed(),
            i.acked,
            i.channel_id,
            i.message_id,
        )
    };
    let reply = if acked.is_some() {
        Reply::error(400, 40060, "Interaction has already been acknowledged.")
    } else if elapsed > INTERACTION_DEADLINE {
        Reply::unknown_interaction()
    } else if data["content"]
        .as_str()
        .is_some_and(|c| c.chars().count() > MAX_CONTENT)
    {
        Reply::too_long("data.content")
    } else if !matches!(kind, 1 | 4 | 5 | 6 | 7 | 9) {
        Reply::error(400, 50035, "Invalid Form Body")
    } else {
        Reply::no_content()
    };
    if reply.status == 204 {
        let flags = data["flags"].as_u64().unwrap_or(0);
        let original = match kind {
            4 => Some(interaction_message(st, id, channel_id, &data, flags)),
            6 => Some(message_id),
            7 => {
                st.edit_message(message_id, &data);
                st.dispatch_message("MESSAGE_UPDATE", message_id);
                Some(message_id)
            }
            _ => None,
        };
        let i = st.interactions.get_mut(&id).expect("interaction");
        i.acked = Some(kind);
        i.original = original;
        i.deferred_flags = flags;
    }
    let i = st.interactions.get_mut(&id).expect("interaction");
    i.callbacks.push(super::InteractionCallback {
        kind,
        data,
        elapsed,
        status: reply.status,
    });
    reply
}

/// A message made by an interaction response or follow-up.
fn interaction_message(st: &mut State, iid: u64, channel: u64, data: &Value, flags: u64) -> u64 {
    let content = data["content"].as_str().unwrap_or_default().to_string();
    let mut body = data.clone();
    if body.is_object() {
        body["flags"] = json!(flags);
    }
    let id = st.new_message(channel, &FakeUser::bot_user(), &content, &body);
    if let Some(m) = st.messages.get_mut(&id) {
        m.interaction_id = Some(iid.to_string());
        m.flags = flags;
    }
    if flags & EPHEMERAL == 0 {
        st.echo_bot_message(id);
    }
    id
}

/// The interaction whose webhook this is, once it has been acknowledged (before that Discord
/// knows no such webhook).
fn acked_interaction(st: &State, app: &str, token: &str) -> Option<u64> {
    if app != APPLICATION_ID {
        return None;
    }
    st.interactions
        .values()
        .find(|i| i.token == token && i.acked.is_some())
        .map(|i| i.id)
}

fn webhook_message(
    st: &mut State,
    method: &str,
    app: &str,
    token: &str,
    mid: &str,
    body: &Value,
) -> Reply {
    let Some(iid) = acked_interaction(st, app, token) else {
        return Reply::unknown_webhook();
    };
    let target = if mid == "@original" {
        let i = &st.interactions[&iid];
        match (i.original, i.acked) {
            (Some(m), _) => Some(m),
            // Editing a deferred response's original creates the message.
            (None, Some(5)) if method == "PATCH" => {
                if body["content"]
                    .as_str()
                    .is_some_and(|c| c.chars().count() > MAX_CONTENT)
                {
                    return Reply::too_long("content");
                }
                let (channel, flags) = (i.channel_id, i.deferred_flags);
                let id = interaction_message(st, iid, channel, body, flags);
                st.interactions.get_mut(&iid).expect("interaction").original = Some(id);
                return Reply::ok(st.message_json(&st.messages[&id], false));
            }
            _ => None,
        }
    } else {
        parse_id(mid).filter(|id| {
            st.messages
                .get(id)
                .is_some_and(|m| m.interaction_id.as_deref() == Some(&iid.to_string()))
        })
    };
    let Some(id) = target.filter(|id| st.messages.get(id).is_some_and(|m| !m.deleted)) else {
        return Reply::unknown_message();
    };
    match method {
        "GET" => Reply::ok(st.message_json(&st.messages[&id], false)),
        "DELETE" => {
            if let Some(m) = st.messages.get_mut(&id) {
                m.deleted = true;
            }
            Reply::no_content()
        }
        _ => {
            if body["content"]
                .as_str()
                .is_some_and(|c| c.chars().count() > MAX_CONTENT)
            {
                return Reply::too_long("content");
            }
            st.edit_message(id, body);
            st.dispatch_message("MESSAGE_UPDATE", id);
            Reply::ok(st.message_json(&st.messages[&id], false))
        }
    }
}
