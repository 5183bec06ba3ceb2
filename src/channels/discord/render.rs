//! What frontline's messages look like on Discord, kept apart from the connection so it is
//! tested without one: button custom ids, action rows for choices and ticket cards, the names
//! shown for authors, and how Discord's errors map onto delivery outcomes.

use serenity::all::{ButtonStyle, CreateActionRow, CreateButton};

use crate::channels::DeliveryError;
use crate::core::choice::Choice;
use crate::core::message::Author;

/// Discord's limit on a message's content, in characters.
pub const MAX_CONTENT: usize = 2000;
/// Discord's limits on buttons: label length, custom id length, buttons per row, rows.
const MAX_LABEL: usize = 80;
const MAX_CUSTOM_ID: usize = 100;
const BUTTONS_PER_ROW: usize = 5;
const MAX_ROWS: usize = 5;

/// What a pressed button means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Press {
    /// A customer's choice; the value is sent as their message.
    Choice(String),
    /// Card buttons, for agents only.
    Claim,
    Close,
    Unknown,
}

const CHOICE_PREFIX: &str = "c:";
pub const CLAIM_ID: &str = "frontline:claim";
pub const CLOSE_ID: &str = "frontline:close";

/// The custom id of a choice button: its value, cut to Discord's 100 characters if it must be
/// (a value is a short label or a number in practice).
pub fn choice_id(value: &str) -> String {
    let room = MAX_CUSTOM_ID - CHOICE_PREFIX.len();
    let value: String = value.chars().take(room).collect();
    format!("{CHOICE_PREFIX}{value}")
}

pub fn parse_custom_id(id: &str) -> Press {
    if let Some(value) = id.strip_prefix(CHOICE_PREFIX) {
        return Press::Choice(value.to_string());
    }
    match id {
        CLAIM_ID => Press::Claim,
        CLOSE_ID => Press::Close,
        _ => Press::Unknown,
    }
}

fn label(text: &str) -> String {
    let mut label: String = text.chars().take(MAX_LABEL).collect();
    if text.chars().count() > MAX_LABEL {
        label.pop();
        label.push('…');
    }
    label
}

/// Choices as rows of buttons; values that would repeat a custom id are left out (Discord
/// refuses the whole message otherwise), as are any beyond 25.
pub fn choice_rows(choices: &[Choice]) -> Vec<CreateActionRow> {
    let mut seen = std::collections::HashSet::new();
    let buttons: Vec<CreateButton> = choices
        .iter()
        .filter(|c| seen.insert(choice_id(&c.value)))
        .take(BUTTONS_PER_ROW * MAX_ROWS)
        .map(|c| {
            let style = if crate::core::choice::is_talk_to_a_person(&c.value) {
                ButtonStyle::Secondary
            } else {
                ButtonStyle::Primary
            };
            CreateButton::new(choice_id(&c.value))
                .label(label(&c.label))
                .style(style)
        })
        .collect();
    buttons
        .chunks(BUTTONS_PER_ROW)
        .map(|row| CreateActionRow::Buttons(row.to_vec()))
        .collect()
}

/// The Claim and Close buttons of a ticket card that is still being worked on; none once closed.
pub fn card_rows(open: bool) -> Vec<CreateActionRow> {
    if !open {
        return Vec::new();
    }
    vec![CreateActionRow::Buttons(vec![
        CreateButton::new(CLAIM_ID)
            .label("Claim")
            .style(ButtonStyle::Primary),
        CreateButton::new(CLOSE_ID)
            .label("Close")
            .style(ButtonStyle::Danger),
    ])]
}

/// A message to a customer: agents' replies carry the agent's name.
pub fn customer_text(author: Author, author_name: Option<&str>, text: &str) -> String {
    match (author, author_name) {
        (Author::Agent, Some(name)) => format!("**{name}:** {text}"),
        _ => text.to_string(),
    }
}

/// A thread's name: Discord allows 1 to 100 characters.
pub fn thread_name(title: &str) -> String {
    let name: String = title.chars().take(100).collect();
    if name.trim().is_empty() {
        "ticket".into()
    } else {
        name
    }
}

/// Discord's JSON error codes frontline reacts to.
pub const CANNOT_DM_USER: isize = 50007;
pub const THREAD_ALREADY_EXISTS: isize = 160004;
pub const UNKNOWN_CHANNEL: isize = 10003;

/// Status and JSON code of a failed Discord call, when it got that far.
pub fn http_failure(e: &serenity::Error) -> Option<(u16, isize)> {
    match e {
        serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(r)) => {
            Some((r.status_code.as_u16(), r.error.code))
        }
        _ => None,
    }
}

/// How a failed call is retried: rate limits, server errors and network trouble come back
/// through the outbox; a refusal (closed DMs, an unknown or forbidden channel) is final.
pub fn delivery_error(e: &serenity::Error) -> DeliveryError {
    let message = e.to_string();
    match http_failure(e) {
        // Discord's own 429 body has no `code`; the status is what counts.
        Some((429, _)) => DeliveryError::Transient {
            message,
            retry_after_ms: None,
        },
        Some((status, code)) if (400..500).contains(&status) => DeliveryError::Permanent {
            message: if code == CANNOT_DM_USER {
                "the customer does not accept direct messages from the bot (Discord 50007)".into()
            } else {
                message
            },
        },
        _ => DeliveryError::Transient {
            message,
            retry_after_ms: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_ids_round_trip_and_fit() {
        assert_eq!(parse_custom_id(&choice_id("2")), Press::Choice("2".into()));
        assert_eq!(parse_custom_id(CLAIM_ID), Press::Claim);
        assert_eq!(parse_custom_id(CLOSE_ID), Press::Close);
        assert_eq!(parse_custom_id("other"), Press::Unknown);
        let long = "é".repeat(300);
        assert!(choice_id(&long).chars().count() <= MAX_CUSTOM_ID);
    }

    #[test]
    fn choices_become_rows_of_at_most_five_unique_buttons() {
        let choices: Vec<Choice> = (0..12)
            .map(|i| Choice::new(format!("option {i}"), format!("{i}")))
            .chain([Choice::new("again", "0")])
            .collect();
        let rows = choice_rows(&choices);
        assert_eq!(rows.len(), 3);
        let json = serde_json::to_value(&rows).unwrap();
        let count: usize = json
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["components"].as_array().unwrap().len())
            .sum();
        assert_eq!(count, 12, "the repeated value is left out: {json}");
    }

    #[test]
    fn long_labels_are_shortened() {
        let rows = choice_rows(&[Choice::new("x".repeat(200), "1")]);
        let json = serde_json::to_value(&rows).unwrap();
        let label = json[0]["components"][0]["label"].as_str().unwrap();
        assert_eq!(label.chars().count(), MAX_LABEL);
        assert!(label.ends_with('…'));
    }

    #[test]
    fn closed_cards_have_no_buttons() {
        assert!(card_rows(false).is_empty());
        assert_eq!(card_rows(true).len(), 1);
    }

    #[test]
    fn agents_replies_are_signed() {
        assert_eq!(
            customer_text(Author::Agent, Some("alice"), "hi"),
            "**alice:** hi"
        );
        assert_eq!(customer_text(Author::Bot, None, "hi"), "hi");
    }
}
