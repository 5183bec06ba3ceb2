//! Block Kit JSON for the two kinds of message the bot sends: text with choice buttons (customers)
//! and ticket cards with Claim / Close (agents).
//!
//! Text comes in as [`Mrkdwn`], i.e. escaped (or deliberately composed) by the caller: this module
//! cannot tell a customer's `<!channel>` from our own markup, the type makes the caller decide.
//! Button labels are `plain_text`, which Slack never parses for mentions, so they need no escaping.
//! Slack's limits are respected here: section text ≤ 3,000 characters (longer text becomes several
//! sections, nothing is dropped), button text ≤ 75 (longer labels are shortened with "…"), ≤ 25
//! elements per actions block (more buttons go to further actions blocks), button value ≤ 2,000
//! (a longer value is an error: cutting it would change what the button means).

use serde_json::{json, Value};

use super::text::{Mrkdwn, SECTION_TEXT_MAX};

pub const BUTTON_TEXT_MAX: usize = 75;
pub const BUTTON_VALUE_MAX: usize = 2000;
pub const ACTIONS_ELEMENTS_MAX: usize = 25;
pub const ACTION_ID_MAX: usize = 255;
/// Slack refuses messages with more blocks than this.
pub const BLOCKS_PER_MESSAGE_MAX: usize = 50;

/// `action_id` of a ticket card's Claim button; its value is the ticket id.
pub const CLAIM_ACTION: &str = "claim";
/// `action_id` of a ticket card's Close button; its value is the ticket id.
pub const CLOSE_ACTION: &str = "close";
/// Prefix of choice buttons' `action_id`s (`choice_0`, `choice_1`, …): Slack wants them unique
/// within a message, so the meaning travels in the button's `value`.
pub const CHOICE_ACTION_PREFIX: &str = "choice_";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlocksError {
    #[error("button value is {len} characters, Slack allows {BUTTON_VALUE_MAX}")]
    ValueTooLong { len: usize },
    #[error("message would need {blocks} blocks, Slack allows {BLOCKS_PER_MESSAGE_MAX}")]
    TooManyBlocks { blocks: usize },
}

/// A button: what it shows and the value it sends back when pressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub label: String,
    pub value: String,
}

impl Button {
    pub fn new(label: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            value: value.into(),
        }
    }
}

/// Which buttons a ticket card shows (none once the ticket is closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardAction {
    Claim,
    Close,
}

/// Blocks for a message: the text in section blocks, then the buttons (action ids `choice_0`,
/// `choice_1`, … and each button's value as given). The caller keeps the text ≤ 3,000 characters
/// per message with [`Mrkdwn::split`]; longer text still goes out whole, in several sections.
pub fn message(text: &Mrkdwn, buttons: &[Button]) -> Result<Vec<Value>, BlocksError> {
    let mut blocks = sections(text);
    let elements = buttons
        .iter()
        .enumerate()
        .map(|(i, b)| {
            button(
                &format!("{CHOICE_ACTION_PREFIX}{i}"),
                &b.label,
                &b.value,
                None,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    blocks.extend(actions(elements));
    check_count(blocks)
}

/// A ticket card: the body (composed by the caller, with customer text escaped) and the chosen
/// Claim / Close buttons, whose value is the ticket id.
pub fn ticket_card(
    body: &Mrkdwn,
    ticket_id: i64,
    buttons: &[CardAction],
) -> Result<Vec<Value>, BlocksError> {
    let mut blocks = sections(body);
    let value = ticket_id.to_string();
    let elements = buttons
        .iter()
        .map(|b| match b {
            CardAction::Claim => button(CLAIM_ACTION, "Claim", &value, Some("primary")),
            CardAction::Close => button(CLOSE_ACTION, "Close", &value, Some("danger")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    blocks.extend(actions(elements));
    check_count(blocks)
}

fn sections(text: &Mrkdwn) -> Vec<Value> {
    text.split(SECTION_TEXT_MAX)
        .into_iter()
        .map(|piece| json!({"type": "section", "text": {"type": "mrkdwn", "text": piece.as_str()}}))
        .collect()
}

fn button(
    action_id: &str,
    label: &str,
    value: &str,
    style: Option<&str>,
) -> Result<Value, BlocksError> {
    let len = value.chars().count();
    if len > BUTTON_VALUE_MAX {
        return Err(BlocksError::ValueTooLong { len });
    }
    let mut b = json!({
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": shorten(label, BUTTON_TEXT_MAX), "emoji": true},
        "value": value,
    });
    if let Some(style) = style {
        b["style"] = json!(style);
    }
    Ok(b)
}

fn actions(elements: Vec<Value>) -> Vec<Value> {
    elements
        .chunks(ACTIONS_ELEMENTS_MAX)
        .map(|chunk| json!({"type": "actions", "elements": chunk}))
        .collect()
}

fn check_count(blocks: Vec<Value>) -> Result<Vec<Value>, BlocksError> {
    if blocks.len() > BLOCKS_PER_MESSAGE_MAX {
        return Err(BlocksError::TooManyBlocks {
            blocks: blocks.len(),
        });
    }
    Ok(blocks)
}

/// `text` cut to at most `max` characters, ending in "…" when cut; an empty label becomes "…"
/// because Slack refuses empty button text.
fn shorten(text: &str, max: usize) -> String {
    if text.is_empty() {
        return "…".to_string();
    }
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buttons_of(blocks: &[Value]) -> Vec<Value> {
        blocks
            .iter()
            .filter(|b| b["type"] == "actions")
            .flat_map(|b| b["elements"].as_array().unwrap().clone())
            .collect()
    }

    #[test]
    fn a_message_has_a_mrkdwn_section_and_buttons_with_unique_action_ids() {
        let text = Mrkdwn::escaped("Did you mean <one> of these?");
        let blocks = message(
            &text,
            &[
                Button::new("Track my order", "intent:track_order"),
                Button::new("Talk to a person", "human"),
            ],
        )
        .unwrap();
        assert_eq!(blocks[0]["type"], "section");
        assert_eq!(blocks[0]["text"]["type"], "mrkdwn");
        assert_eq!(
            blocks[0]["text"]["text"],
            "Did you mean &lt;one&gt; of these?"
        );
        let buttons = buttons_of(&blocks);
        assert_eq!(buttons.len(), 2);
        assert_eq!(buttons[0]["action_id"], "choice_0");
        assert_eq!(buttons[1]["action_id"], "choice_1");
        assert_eq!(buttons[0]["value"], "intent:track_order");
        assert_eq!(buttons[1]["text"]["type"], "plain_text");
        assert_eq!(buttons[1]["text"]["text"], "Talk to a person");
    }

    #[test]
    fn no_buttons_means_no_actions_block() {
        let blocks = message(&Mrkdwn::escaped("hi"), &[]).unwrap();
        assert_eq!(blocks.len(), 1);
    }

    #[test]
    fn slack_limits_hold() {
        let long_label = "x".repeat(100);
        let many: Vec<Button> = (0..30)
            .map(|i| Button::new(&long_label, i.to_string()))
            .collect();
        let text = Mrkdwn::escaped(&"word ".repeat(1500)); // 7,500 characters
        let blocks = message(&text, &many).unwrap();
        let sections: Vec<&Value> = blocks.iter().filter(|b| b["type"] == "section").collect();
        assert_eq!(sections.len(), 3);
        // Cut between words (the space at each cut is dropped), nothing else lost.
        let joined: Vec<&str> = sections
            .iter()
            .map(|s| s["text"]["text"].as_str().unwrap())
            .collect();
        assert_eq!(joined.join(" "), text.as_str());
        assert!(sections
            .iter()
            .all(|s| s["text"]["text"].as_str().unwrap().chars().count() <= 3000));
        let actions: Vec<&Value> = blocks.iter().filter(|b| b["type"] == "actions").collect();
        assert_eq!(actions.len(), 2);
        assert!(actions
            .iter()
            .all(|a| a["elements"].as_array().unwrap().len() <= 25));
        let buttons = buttons_of(&blocks);
        assert_eq!(buttons.len(), 30);
        let label = buttons[0]["text"]["text"].as_str().unwrap();
        assert_eq!(label.chars().count(), 75);
        assert!(label.ends_with('…'));
        let mut ids: Vec<&str> = buttons
            .iter()
            .map(|b| b["action_id"].as_str().unwrap())
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 30);
        assert_eq!(
            message(&text, &[Button::new("x", "v".repeat(2001))]),
            Err(BlocksError::ValueTooLong { len: 2001 })
        );
        assert!(message(&text, &[Button::new("x", "v".repeat(2000))]).is_ok());
    }

    #[test]
    fn a_ticket_card_has_claim_and_close_carrying_the_ticket_id() {
        let mut body = Mrkdwn::trusted("*Ticket #42* ");
        body.push(&Mrkdwn::escaped("<!channel> refund please"));
        let blocks = ticket_card(&body, 42, &[CardAction::Claim, CardAction::Close]).unwrap();
        assert_eq!(
            blocks[0]["text"]["text"],
            "*Ticket #42* &lt;!channel&gt; refund please"
        );
        let buttons = buttons_of(&blocks);
        assert_eq!(buttons[0]["action_id"], CLAIM_ACTION);
        assert_eq!(buttons[0]["value"], "42");
        assert_eq!(buttons[1]["action_id"], CLOSE_ACTION);
        assert_eq!(buttons[1]["value"], "42");
        assert_eq!(buttons[1]["style"], "danger");
        let closed = ticket_card(&body, 42, &[]).unwrap();
        assert!(buttons_of(&closed).is_empty());
    }
}
