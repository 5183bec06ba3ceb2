//! Platform-neutral messages: what adapters hand the engine and what the transcript keeps.

use crate::clock::Millis;

/// A customer's message as an adapter hands it over, already stripped of platform detail.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Inbound {
    /// The channel it came from: "web", "discord", "slack", or a test channel's name.
    pub channel: String,
    /// The platform's id for this event; a second event with the same (channel, id) is a duplicate.
    pub external_id: String,
    /// The customer's id on that channel (web: the session id).
    pub customer_key: String,
    pub customer_name: Option<String>,
    /// Which conversation it belongs to on that channel (web: the session id; Discord: the DM channel).
    pub conversation_key: String,
    /// Where replies go on that channel (web: the session id; Slack: channel plus thread).
    pub reply_to: String,
    pub text: String,
    pub received_at: Millis,
    /// Who wrote it: a customer, or an agent working a ticket from a platform thread (then
    /// `conversation_key` is the ticket's card or thread reference on that platform and
    /// `customer_key` the agent's platform user id).
    #[serde(default)]
    pub sender: Sender,
}

/// Who an inbound event comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sender {
    #[default]
    Customer,
    Agent,
}

impl Sender {
    pub fn as_str(self) -> &'static str {
        match self {
            Sender::Customer => "customer",
            Sender::Agent => "agent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "customer" => Sender::Customer,
            "agent" => Sender::Agent,
            _ => return None,
        })
    }
}

/// Who wrote a transcript line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Author {
    Customer,
    Bot,
    Agent,
    /// Status lines from frontline itself (ticket opened, agent joined).
    System,
    /// An agent's internal note: never shown or sent to the customer.
    Note,
}

impl Author {
    pub fn as_str(self) -> &'static str {
        match self {
            Author::Customer => "customer",
            Author::Bot => "bot",
            Author::Agent => "agent",
            Author::System => "system",
            Author::Note => "note",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "customer" => Author::Customer,
            "bot" => Author::Bot,
            "agent" => Author::Agent,
            "system" => Author::System,
            "note" => Author::Note,
            _ => return None,
        })
    }

    /// Whether the customer may ever see a line by this author.
    pub fn customer_visible(self) -> bool {
        self != Author::Note
    }
}

/// One stored line of a conversation. `id` is global and increasing, so it doubles as the `seq`
/// clients poll with.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptLine {
    pub id: i64,
    pub conversation_id: i64,
    pub author: Author,
    /// Display name: the agent's name, the customer's name, or none.
    pub author_name: Option<String>,
    pub text: String,
    pub at: Millis,
    /// For customer lines: the intent the bot matched and its confidence, kept for reports.
    pub intent: Option<String>,
    pub confidence: Option<f64>,
    /// Buttons this line offers the customer (empty for most lines).
    pub choices: Vec<crate::core::choice::Choice>,
}
