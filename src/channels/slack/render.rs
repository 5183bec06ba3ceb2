//! The Slack adapter's decisions that need no connection, tested here: how conversations and
//! cards are addressed (`reply_to`, conversation keys, card references), which messages and
//! button presses are customers', agents' or nobody's, what frontline's text looks like in
//! Slack's `mrkdwn`, and how Web API errors map onto delivery outcomes.
//!
//! Addresses:
//! - a DM: conversation key and `reply_to` are the DM channel id (`D…`);
//! - a help-channel conversation: `C…:THREAD_TS`, the customer's first message's `ts`, whose
//!   thread the bot answers in (key and `reply_to` alike);
//! - a ticket card: `C…:TS` of the card in the staff channel, which is also its thread, so an
//!   agent's line in that thread and a press of the card's buttons both name the ticket by it.

use super::api::SlackError;
use super::events::{ButtonPress, ChannelKind, IncomingMessage};
use super::text::{escape, Mrkdwn};
use crate::channels::DeliveryError;
use crate::core::card::Card;
use crate::core::desk_event::{thread_line, DeskEvent};
use crate::core::message::Author;

/// What a refused card button press is told (ephemerally).
pub const NOT_AN_AGENT: &str = "Only support agents can claim or close tickets.";

/// The channel ids the adapter works with, from `[slack]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Places {
    pub staff_channel: Option<String>,
    pub help_channels: Vec<String>,
}

/// `channel` or `channel:thread_ts`.
pub fn address(channel: &str, thread_ts: Option<&str>) -> String {
    match thread_ts {
        Some(ts) => format!("{channel}:{ts}"),
        None => channel.to_string(),
    }
}

/// The channel and thread a `reply_to` (or a card reference) names; `None` when malformed.
pub fn parse_address(address: &str) -> Option<(String, Option<String>)> {
    let (channel, thread) = match address.split_once(':') {
        Some((c, t)) => (c, Some(t)),
        None => (address, None),
    };
    let id_like = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
    let ts_like = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '.');
    if !id_like(channel) || thread.is_some_and(|t| !ts_like(t)) {
        return None;
    }
    Some((channel.to_string(), thread.map(str::to_string)))
}

/// The Slack `ts` an inbox event's external id ends with (`CHANNEL:TS` for messages,
/// `ACTION_ID:ACTION_TS` for button presses): where recovery resumes reading.
pub fn ts_of_external_id(external_id: &str) -> Option<&str> {
    let ts = external_id.rsplit(':').next()?;
    (!ts.is_empty() && ts.chars().all(|c| c.is_ascii_digit() || c == '.')).then_some(ts)
}

/// Whose a message is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A customer's: in a DM or a help-channel conversation.
    Customer {
        conversation_key: String,
        reply_to: String,
    },
    /// A line in a ticket card's thread; relayed only when its author is an agent.
    StaffThread {
        card: String,
    },
    Ignored(&'static str),
}

pub fn route_message(m: &IncomingMessage, places: &Places) -> Route {
    if m.kind == ChannelKind::Im {
        // Replies in a thread of a DM are still that DM's conversation.
        return Route::Customer {
            conversation_key: m.channel.clone(),
            reply_to: m.channel.clone(),
        };
    }
    if places.staff_channel.as_deref() == Some(m.channel.as_str()) {
        return if m.is_thread_reply() {
            Route::StaffThread {
                card: address(&m.channel, Some(m.thread_root())),
            }
        } else {
            Route::Ignored("top-level message in the staff channel")
        };
    }
    if places.help_channels.contains(&m.channel) {
        let key = address(&m.channel, Some(m.thread_root()));
        return Route::Customer {
            conversation_key: key.clone(),
            reply_to: key,
        };
    }
    Route::Ignored("not a DM, help channel or ticket thread")
}

/// What a button press is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PressRoute {
    /// A customer's choice: its value is sent as their message.
    Choice {
        conversation_key: String,
        reply_to: String,
        text: String,
    },
    /// Claim or Close on a ticket card: the matching `!` command, if the presser is an agent.
    Card {
        card: String,
        command: &'static str,
    },
    Ignored(&'static str),
}

pub fn route_press(p: &ButtonPress, places: &Places) -> PressRoute {
    use super::blocks::{CHOICE_ACTION_PREFIX, CLAIM_ACTION, CLOSE_ACTION};
    let command = match p.action_id.as_str() {
        CLAIM_ACTION => Some("!claim"),
        CLOSE_ACTION => Some("!close"),
        _ => None,
    };
    if let Some(command) = command {
        if places.staff_channel.as_deref() != Some(p.channel.as_str()) {
            return PressRoute::Ignored("card button outside the staff channel");
        }
        return PressRoute::Card {
            card: address(&p.channel, Some(&p.message_ts)),
            command,
        };
    }
    if !p.action_id.starts_with(CHOICE_ACTION_PREFIX) {
        return PressRoute::Ignored("unknown action");
    }
    let key = if ChannelKind::of(None, &p.channel) == ChannelKind::Im {
        p.channel.clone()
    } else if places.help_channels.contains(&p.channel) {
        address(
            &p.channel,
            Some(p.thread_ts.as_deref().unwrap_or(&p.message_ts)),
        )
    } else {
        return PressRoute::Ignored("choice outside a DM or help channel");
    };
    PressRoute::Choice {
        conversation_key: key.clone(),
        reply_to: key,
        text: p.value.clone(),
    }
}

/// Text rendered by core code that marks what people wrote with `escape`, as Slack `mrkdwn`:
/// what people wrote is escaped, and frontline's own `**bold**` becomes Slack's `*bold*` —
/// only outside what people wrote, which stays as typed.
pub fn mrkdwn_of(render: impl FnOnce(&dyn Fn(&str) -> String) -> String) -> Mrkdwn {
    const OPEN: char = '\u{E000}';
    const CLOSE: char = '\u{E001}';
    let marked = render(&|s: &str| {
        let clean: String = s.chars().filter(|c| *c != OPEN && *c != CLOSE).collect();
        format!("{OPEN}{}{CLOSE}", escape(&clean))
    });
    let mut out = String::with_capacity(marked.len());
    let mut ours = String::new();
    let mut inside = false;
    for c in marked.chars() {
        match c {
            OPEN => {
                out.push_str(&ours.replace("**", "*"));
                ours.clear();
                inside = true;
            }
            CLOSE => inside = false,
            c if inside => out.push(c),
            c => ours.push(c),
        }
    }
    out.push_str(&ours.replace("**", "*"));
    Mrkdwn::trusted(out)
}

/// A ticket card's body.
pub fn card_body(card: &Card) -> Mrkdwn {
    mrkdwn_of(|escape| card.render(escape))
}

/// A card's notification text (also what clients show where blocks cannot be).
pub fn card_fallback(card: &Card) -> Mrkdwn {
    mrkdwn_of(|escape| format!("Ticket {}: {}", escape(&card.title()), card.status_line()))
}

/// The line a desk event puts in the ticket's thread, if any.
pub fn desk_line(event: &DeskEvent, author_name: Option<&str>, text: &str) -> Option<Mrkdwn> {
    let mut line = None;
    let rendered = mrkdwn_of(|escape| {
        line = thread_line(event, author_name, text, escape);
        line.clone().unwrap_or_default()
    });
    line.map(|_| rendered)
}

/// A message to a customer: agents' replies carry the agent's name.
pub fn customer_text(author: Author, author_name: Option<&str>, text: &str) -> Mrkdwn {
    match (author, author_name) {
        (Author::Agent, Some(name)) => {
            let mut m = Mrkdwn::trusted("*");
            m.push(&Mrkdwn::escaped(name))
                .push(&Mrkdwn::trusted(":* "))
                .push(&Mrkdwn::escaped(text));
            m
        }
        _ => Mrkdwn::escaped(text),
    }
}

/// How a failed Web API call is retried: a 429 after its `Retry-After`; a refusal Slack will
/// repeat (`channel_not_found`, `is_archived`, …) is final, a dead letter; anything else
/// (network, 5xx, unknown errors) comes back through the outbox's backoff.
pub fn delivery_error(e: &SlackError) -> DeliveryError {
    let message = e.to_string();
    if let Some(retry_after_ms) = e.retry_after_ms() {
        return DeliveryError::Transient {
            message,
            retry_after_ms: Some(retry_after_ms),
        };
    }
    if e.is_permanent() {
        DeliveryError::Permanent { message }
    } else {
        DeliveryError::Transient {
            message,
            retry_after_ms: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn places() -> Places {
        Places {
            staff_channel: Some("CSTAFF".into()),
            help_channels: vec!["CHELP".into()],
        }
    }

    fn msg(channel: &str, kind: ChannelKind, ts: &str, thread: Option<&str>) -> IncomingMessage {
        IncomingMessage {
            channel: channel.into(),
            kind,
            user: "U1".into(),
            text: "hi".into(),
            raw_text: "hi".into(),
            ts: ts.into(),
            thread_ts: thread.map(str::to_string),
            event_id: None,
        }
    }

    #[test]
    fn addresses_round_trip_and_malformed_ones_are_refused() {
        assert_eq!(parse_address("D1"), Some(("D1".into(), None)));
        assert_eq!(
            parse_address(&address("C1", Some("1700000000.000100"))),
            Some(("C1".into(), Some("1700000000.000100".into())))
        );
        assert_eq!(parse_address(""), None);
        assert_eq!(parse_address("C1:"), None);
        assert_eq!(parse_address("thread:1:2"), None);
        assert_eq!(
            ts_of_external_id("D1:1700000000.000100"),
            Some("1700000000.000100")
        );
        assert_eq!(
            ts_of_external_id("claim:1700000001.5"),
            Some("1700000001.5")
        );
        assert_eq!(ts_of_external_id("web-123"), None);
    }

    #[test]
    fn messages_go_to_their_conversation_or_ticket() {
        let p = places();
        let dm = msg("D1", ChannelKind::Im, "1.1", Some("1.0"));
        assert_eq!(
            route_message(&dm, &p),
            Route::Customer {
                conversation_key: "D1".into(),
                reply_to: "D1".into()
            }
        );
        let top = msg("CHELP", ChannelKind::Channel, "2.0", None);
        let reply = msg("CHELP", ChannelKind::Channel, "2.5", Some("2.0"));
        let key = Route::Customer {
            conversation_key: "CHELP:2.0".into(),
            reply_to: "CHELP:2.0".into(),
        };
        assert_eq!(route_message(&top, &p), key);
        assert_eq!(route_message(&reply, &p), key);
        assert_eq!(
            route_message(&msg("CSTAFF", ChannelKind::Channel, "3.5", Some("3.0")), &p),
            Route::StaffThread {
                card: "CSTAFF:3.0".into()
            }
        );
        assert!(matches!(
            route_message(&msg("CSTAFF", ChannelKind::Channel, "3.0", None), &p),
            Route::Ignored(_)
        ));
        assert!(matches!(
            route_message(&msg("COTHER", ChannelKind::Channel, "4.0", None), &p),
            Route::Ignored(_)
        ));
    }

    fn press(channel: &str, action: &str, message_ts: &str, thread: Option<&str>) -> ButtonPress {
        ButtonPress {
            user: "U1".into(),
            channel: channel.into(),
            message_ts: message_ts.into(),
            thread_ts: thread.map(str::to_string),
            action_id: action.into(),
            value: "3".into(),
            action_ts: "9.9".into(),
            trigger_id: None,
            response_url: None,
        }
    }

    #[test]
    fn presses_are_choices_or_card_commands() {
        let p = places();
        assert_eq!(
            route_press(&press("D1", "choice_2", "5.0", None), &p),
            PressRoute::Choice {
                conversation_key: "D1".into(),
                reply_to: "D1".into(),
                text: "3".into()
            }
        );
        assert!(matches!(
            route_press(&press("CHELP", "choice_0", "5.5", Some("5.0")), &p),
            PressRoute::Choice { conversation_key, .. } if conversation_key == "CHELP:5.0"
        ));
        assert_eq!(
            route_press(&press("CSTAFF", "claim", "6.0", None), &p),
            PressRoute::Card {
                card: "CSTAFF:6.0".into(),
                command: "!claim"
            }
        );
        assert!(matches!(
            route_press(&press("CSTAFF", "close", "6.0", None), &p),
            PressRoute::Card {
                command: "!close",
                ..
            }
        ));
        assert!(matches!(
            route_press(&press("CHELP", "claim", "6.0", None), &p),
            PressRoute::Ignored(_)
        ));
        assert!(matches!(
            route_press(&press("COTHER", "choice_0", "6.0", None), &p),
            PressRoute::Ignored(_)
        ));
    }

    #[test]
    fn our_bold_becomes_slacks_and_what_people_wrote_is_escaped_as_typed() {
        let line = desk_line(
            &DeskEvent::CustomerLine,
            Some("**Dana**"),
            "<!channel> **now**",
        )
        .unwrap();
        assert_eq!(line.as_str(), "***Dana**:* &lt;!channel&gt; **now**");
        assert!(desk_line(&DeskEvent::Opened, None, "x").is_none());
        assert_eq!(
            customer_text(Author::Agent, Some("<@U1>"), "a & b").as_str(),
            "*&lt;@U1&gt;:* a &amp; b"
        );
        assert_eq!(
            customer_text(Author::Bot, None, "<b>").as_str(),
            "&lt;b&gt;"
        );
    }

    #[test]
    fn errors_map_to_retries_and_dead_letters() {
        let limited = SlackError::RateLimited {
            method: "chat.postMessage".into(),
            retry_after_ms: 2000,
        };
        assert_eq!(
            delivery_error(&limited),
            DeliveryError::Transient {
                message: limited.to_string(),
                retry_after_ms: Some(2000)
            }
        );
        let archived = SlackError::Api {
            method: "chat.postMessage".into(),
            error: "is_archived".into(),
        };
        assert!(matches!(
            delivery_error(&archived),
            DeliveryError::Permanent { .. }
        ));
        let down = SlackError::Http {
            method: "chat.postMessage".into(),
            status: 503,
        };
        assert!(matches!(
            delivery_error(&down),
            DeliveryError::Transient {
                retry_after_ms: None,
                ..
            }
        ));
    }
}
