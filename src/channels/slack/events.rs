//! Inbound Slack payloads parsed into small neutral structs, whether they came over Socket Mode
//! or the Events API: customer and agent messages, button presses, the `url_verification`
//! handshake and user-group changes. Everything the bot must not react to is
//! [`Parsed::Ignored`] with a reason.
//!
//! What counts as a message: a `message` event without a subtype (or `thread_broadcast`,
//! `file_share`, which are new text too), written by a person. Ignored: our own bot (by `bot_id`
//! or by our bot user id), other bots (`bot_id`, `bot_message`), edits, deletions, joins, topic
//! changes and every other subtype.

use std::cmp::Ordering;

use serde::Deserialize;
use serde_json::Value;

use super::text::to_plain;

/// Who the bot is on this workspace (from `auth.test` or config), to drop its own messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BotIdentity {
    pub user_id: String,
    pub bot_id: Option<String>,
}

/// Where a message was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// A direct message with the app.
    Im,
    /// A public channel.
    Channel,
    /// A private channel.
    Group,
    /// A group DM.
    Mpim,
}

impl ChannelKind {
    /// From an event's `channel_type`, or, when there is none (messages read back with
    /// `conversations.history`), from the channel id's first letter.
    pub fn of(channel_type: Option<&str>, channel_id: &str) -> ChannelKind {
        match channel_type {
            Some("im") => ChannelKind::Im,
            Some("mpim") => ChannelKind::Mpim,
            Some("group") => ChannelKind::Group,
            Some("channel") => ChannelKind::Channel,
            _ if channel_id.starts_with('D') => ChannelKind::Im,
            _ if channel_id.starts_with('G') => ChannelKind::Group,
            _ => ChannelKind::Channel,
        }
    }
}

/// A message as Slack's Web API and `message` events carry it (the fields we read).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SlackMessage {
    pub ts: String,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub bot_id: Option<String>,
    #[serde(default)]
    pub subtype: Option<String>,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub thread_ts: Option<String>,
    /// On a thread's parent read with `conversations.history`: how many replies it has and
    /// the newest one's `ts`.
    #[serde(default)]
    pub reply_count: Option<u64>,
    #[serde(default)]
    pub latest_reply: Option<String>,
    /// Block Kit blocks, when the message has them (our ticket cards do).
    #[serde(default)]
    pub blocks: Option<serde_json::Value>,
}

impl SlackMessage {
    /// Whether it shows buttons (an open ticket's card does; a closed one's does not).
    pub fn has_buttons(&self) -> bool {
        self.blocks
            .as_ref()
            .and_then(|b| b.as_array())
            .is_some_and(|blocks| blocks.iter().any(|b| b["type"] == "actions"))
    }
}

/// A new message written by a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingMessage {
    pub channel: String,
    pub kind: ChannelKind,
    pub user: String,
    /// As a person reads it ([`to_plain`]): mentions and links rendered as text, entities
    /// turned back into `<`, `>`, `&`. Relaying it to Slack escapes it again.
    pub text: String,
    /// Slack's own text (markup and entities), for anything that needs the user ids.
    pub raw_text: String,
    pub ts: String,
    /// Set for replies in a thread (and for a thread's parent once it has replies).
    pub thread_ts: Option<String>,
    /// The Events API `event_id` when it came as an event; `None` when read back with history.
    pub event_id: Option<String>,
}

impl IncomingMessage {
    /// The same message can arrive under two `event_id`s and again through history: dedup by
    /// channel + ts.
    pub fn dedup_key(&self) -> String {
        format!("{}:{}", self.channel, self.ts)
    }

    /// A reply in a thread (not the thread's parent).
    pub fn is_thread_reply(&self) -> bool {
        self.thread_ts.as_deref().is_some_and(|t| t != self.ts)
    }

    /// The thread this message belongs to, or would start when answered in a thread.
    pub fn thread_root(&self) -> &str {
        self.thread_ts.as_deref().unwrap_or(&self.ts)
    }
}

/// A button press from a `block_actions` payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ButtonPress {
    pub user: String,
    pub channel: String,
    /// The `ts` of the message the button is on.
    pub message_ts: String,
    /// The thread that message is in, if any.
    pub thread_ts: Option<String>,
    pub action_id: String,
    pub value: String,
    pub action_ts: String,
    pub trigger_id: Option<String>,
    pub response_url: Option<String>,
}

impl ButtonPress {
    /// Dedup by action id + `action_ts` (a redelivered payload carries the same pair).
    pub fn dedup_key(&self) -> String {
        format!("{}:{}", self.action_id, self.action_ts)
    }
}

/// What an inbound payload means for the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Message(IncomingMessage),
    /// One per action in a `block_actions` payload (Slack sends one per click in practice).
    Buttons(Vec<ButtonPress>),
    /// Events API handshake: answer with the challenge.
    UrlVerification {
        challenge: String,
    },
    /// A user group's members changed: read `usergroups.users.list` again.
    SubteamMembersChanged {
        subteam_id: String,
    },
    Ignored(&'static str),
}

/// An Events API body (`url_verification` or `event_callback`), or a Socket Mode `events_api`
/// envelope's payload.
pub fn parse_event_body(body: &Value, own: &BotIdentity) -> Parsed {
    match body["type"].as_str() {
        Some("url_verification") => match body["challenge"].as_str() {
            Some(challenge) => Parsed::UrlVerification {
                challenge: challenge.to_string(),
            },
            None => Parsed::Ignored("url_verification without a challenge"),
        },
        Some("event_callback") => parse_event(&body["event"], body["event_id"].as_str(), own),
        _ => Parsed::Ignored("not an event callback"),
    }
}

/// The inner `event` of an `event_callback`.
pub fn parse_event(event: &Value, event_id: Option<&str>, own: &BotIdentity) -> Parsed {
    match event["type"].as_str() {
        Some("message") => {
            let Some(channel) = event["channel"].as_str() else {
                return Parsed::Ignored("message without a channel");
            };
            let Ok(message) = SlackMessage::deserialize(event) else {
                return Parsed::Ignored("message without a ts");
            };
            match incoming(channel, event["channel_type"].as_str(), &message, own) {
                Ok(mut m) => {
                    m.event_id = event_id.map(str::to_string);
                    Parsed::Message(m)
                }
                Err(reason) => Parsed::Ignored(reason),
            }
        }
        Some("subteam_members_changed") => match event["subteam_id"].as_str() {
            Some(id) => Parsed::SubteamMembersChanged {
                subteam_id: id.to_string(),
            },
            None => Parsed::Ignored("subteam_members_changed without subteam_id"),
        },
        _ => Parsed::Ignored("event type not handled"),
    }
}

/// A message read back with `conversations.history` / `.replies` (or from an event), if it is
/// new text from a person; otherwise why not.
pub fn incoming(
    channel: &str,
    channel_type: Option<&str>,
    m: &SlackMessage,
    own: &BotIdentity,
) -> Result<IncomingMessage, &'static str> {
    if let Some(bot) = &m.bot_id {
        return Err(if own.bot_id.as_ref() == Some(bot) {
            "our own message"
        } else {
            "a bot's message"
        });
    }
    match m.subtype.as_deref() {
        None | Some("thread_broadcast") | Some("file_share") => {}
        Some("bot_message") => return Err("a bot's message"),
        Some(_) => return Err("not new text (edit, delete, join, topic, ...)"),
    }
    let Some(user) = m.user.as_deref().filter(|u| !u.is_empty()) else {
        return Err("message without a user");
    };
    if user == own.user_id {
        return Err("our own message");
    }
    Ok(IncomingMessage {
        channel: channel.to_string(),
        kind: ChannelKind::of(channel_type, channel),
        user: user.to_string(),
        text: to_plain(&m.text),
        raw_text: m.text.clone(),
        ts: m.ts.clone(),
        thread_ts: m.thread_ts.clone(),
        event_id: None,
    })
}

/// A Socket Mode `interactive` envelope's payload, or the JSON inside the Events-mode
/// interactivity form's `payload` field (see [`interactivity_form_payload`]).
pub fn parse_interactive(payload: &Value) -> Parsed {
    if payload["type"].as_str() != Some("block_actions") {
        return Parsed::Ignored("interactive payload is not block_actions");
    }
    let Some(user) = payload["user"]["id"].as_str() else {
        return Parsed::Ignored("block_actions without a user");
    };
    let channel = payload["channel"]["id"]
        .as_str()
        .or(payload["container"]["channel_id"].as_str());
    let message_ts = payload["container"]["message_ts"]
        .as_str()
        .or(payload["message"]["ts"].as_str());
    let (Some(channel), Some(message_ts)) = (channel, message_ts) else {
        return Parsed::Ignored("block_actions not on a message");
    };
    let thread_ts = payload["container"]["thread_ts"]
        .as_str()
        .or(payload["message"]["thread_ts"].as_str())
        .map(str::to_string);
    let presses: Vec<ButtonPress> = payload["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| {
            Some(ButtonPress {
                user: user.to_string(),
                channel: channel.to_string(),
                message_ts: message_ts.to_string(),
                thread_ts: thread_ts.clone(),
                action_id: a["action_id"].as_str()?.to_string(),
                value: a["value"].as_str().unwrap_or_default().to_string(),
                action_ts: a["action_ts"].as_str()?.to_string(),
                trigger_id: payload["trigger_id"].as_str().map(str::to_string),
                response_url: payload["response_url"].as_str().map(str::to_string),
            })
        })
        .collect();
    if presses.is_empty() {
        Parsed::Ignored("block_actions without actions")
    } else {
        Parsed::Buttons(presses)
    }
}

/// The JSON in an Events-mode interactivity request (`application/x-www-form-urlencoded`,
/// `payload=<json>`).
pub fn interactivity_form_payload(raw_body: &[u8]) -> Option<Value> {
    let body = std::str::from_utf8(raw_body).ok()?;
    body.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        if key != "payload" {
            return None;
        }
        serde_json::from_str(&form_decode(value)?).ok()
    })
}

/// Decodes one `application/x-www-form-urlencoded` value (`+` is a space, `%XX` a byte).
pub fn form_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hexits = value.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hexits, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Orders Slack timestamps ("1700000000.000100") by time; they are not always the same width.
pub fn compare_ts(a: &str, b: &str) -> Ordering {
    ts_parts(a).cmp(&ts_parts(b))
}

fn ts_parts(ts: &str) -> (u64, u64) {
    let (secs, micros) = ts.split_once('.').unwrap_or((ts, "0"));
    let micros = format!("{micros:0<6}");
    (
        secs.parse().unwrap_or(0),
        micros[..6.min(micros.len())].parse().unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn own() -> BotIdentity {
        BotIdentity {
            user_id: "UBOT".into(),
            bot_id: Some("BBOT".into()),
        }
    }

    fn callback(event: Value) -> Value {
        json!({"type": "event_callback", "event_id": "Ev01", "team_id": "T1", "event": event})
    }

    #[test]
    fn a_dm_a_channel_message_and_a_thread_reply() {
        let dm = callback(
            json!({"type": "message", "channel": "D1", "channel_type": "im",
            "user": "U1", "text": "where is &lt;my&gt; order &amp; refund", "ts": "1700000000.000100"}),
        );
        let Parsed::Message(m) = parse_event_body(&dm, &own()) else {
            panic!()
        };
        assert_eq!(m.kind, ChannelKind::Im);
        assert_eq!(m.text, "where is <my> order & refund");
        assert_eq!(m.raw_text, "where is &lt;my&gt; order &amp; refund");
        assert_eq!(m.event_id.as_deref(), Some("Ev01"));
        assert_eq!(m.dedup_key(), "D1:1700000000.000100");
        assert!(!m.is_thread_reply());

        let top = callback(
            json!({"type": "message", "channel": "C1", "channel_type": "channel",
            "user": "U1", "text": "help", "ts": "1700000000.000200"}),
        );
        let Parsed::Message(m) = parse_event_body(&top, &own()) else {
            panic!()
        };
        assert_eq!(m.kind, ChannelKind::Channel);
        assert_eq!(m.thread_root(), "1700000000.000200");

        let reply = callback(
            json!({"type": "message", "channel": "C1", "channel_type": "channel",
            "user": "U2", "text": "on it", "ts": "1700000000.000300", "thread_ts": "1700000000.000200"}),
        );
        let Parsed::Message(m) = parse_event_body(&reply, &own()) else {
            panic!()
        };
        assert!(m.is_thread_reply());
        assert_eq!(m.thread_root(), "1700000000.000200");
    }

    #[test]
    fn own_and_other_bots_and_non_text_subtypes_are_ignored() {
        let base = json!({"type": "message", "channel": "C1", "user": "U1", "text": "x", "ts": "1.000001"});
        let with = |extra: Value| {
            let mut e = base.clone();
            for (k, v) in extra.as_object().unwrap() {
                e[k] = v.clone();
            }
            parse_event_body(&callback(e), &own())
        };
        assert!(matches!(
            with(json!({"bot_id": "BBOT"})),
            Parsed::Ignored("our own message")
        ));
        assert!(matches!(
            with(json!({"user": "UBOT"})),
            Parsed::Ignored("our own message")
        ));
        assert!(matches!(
            with(json!({"bot_id": "BOTHER"})),
            Parsed::Ignored("a bot's message")
        ));
        for subtype in [
            "message_changed",
            "message_deleted",
            "channel_join",
            "channel_topic",
            "bot_message",
        ] {
            assert!(
                matches!(with(json!({"subtype": subtype})), Parsed::Ignored(_)),
                "{subtype}"
            );
        }
        assert!(matches!(
            with(json!({"subtype": "thread_broadcast"})),
            Parsed::Message(_)
        ));
        assert!(matches!(with(json!({})), Parsed::Message(_)));
    }

    #[test]
    fn url_verification_and_subteam_changes() {
        assert_eq!(
            parse_event_body(
                &json!({"type": "url_verification", "challenge": "abc", "token": "t"}),
                &own()
            ),
            Parsed::UrlVerification {
                challenge: "abc".into()
            }
        );
        let changed = callback(
            json!({"type": "subteam_members_changed", "subteam_id": "S1",
            "added_users": ["U3"], "removed_users": []}),
        );
        assert_eq!(
            parse_event_body(&changed, &own()),
            Parsed::SubteamMembersChanged {
                subteam_id: "S1".into()
            }
        );
    }

    #[test]
    fn block_actions_become_button_presses() {
        let payload = json!({
            "type": "block_actions", "user": {"id": "U9", "username": "ann"},
            "container": {"type": "message", "message_ts": "1700000000.000500", "channel_id": "C2",
                          "thread_ts": "1700000000.000400", "is_ephemeral": false},
            "channel": {"id": "C2", "name": "staff"}, "trigger_id": "123.456",
            "response_url": "https://hooks.slack.com/actions/x",
            "message": {"ts": "1700000000.000500", "thread_ts": "1700000000.000400"},
            "actions": [{"action_id": "claim", "block_id": "b", "value": "42", "type": "button",
                         "action_ts": "1700000001.000001"}]
        });
        let Parsed::Buttons(presses) = parse_interactive(&payload) else {
            panic!()
        };
        let p = &presses[0];
        assert_eq!(
            (
                p.user.as_str(),
                p.channel.as_str(),
                p.action_id.as_str(),
                p.value.as_str()
            ),
            ("U9", "C2", "claim", "42")
        );
        assert_eq!(p.message_ts, "1700000000.000500");
        assert_eq!(p.thread_ts.as_deref(), Some("1700000000.000400"));
        assert_eq!(p.trigger_id.as_deref(), Some("123.456"));
        assert_eq!(p.dedup_key(), "claim:1700000001.000001");

        let form = format!("payload={}", "%7B%22type%22%3A%22block_actions%22%7D");
        assert_eq!(
            interactivity_form_payload(form.as_bytes()),
            Some(json!({"type": "block_actions"}))
        );
        assert_eq!(form_decode("a+b%26c%3D"), Some("a b&c=".into()));
    }

    #[test]
    fn timestamps_order_by_time() {
        assert_eq!(
            compare_ts("1700000000.000100", "1700000000.000200"),
            Ordering::Less
        );
        assert_eq!(
            compare_ts("999999999.900000", "1700000000.000001"),
            Ordering::Less
        );
        assert_eq!(
            compare_ts("1700000000.1", "1700000000.000200"),
            Ordering::Greater
        );
    }
}
