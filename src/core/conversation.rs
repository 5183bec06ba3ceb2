//! A conversation and its lifecycle: `bot → escalated → assigned → resolved → closed`, with reopen.

use crate::clock::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConversationState {
    /// The bot is answering.
    Bot,
    /// A ticket is open and waiting in the queue; the bot is silent.
    Escalated,
    /// An agent holds the ticket; the bot is silent.
    Assigned,
    /// The agent closed the ticket; a message within the reopen window reopens it.
    Resolved,
    /// Finished for good; the next message starts a new conversation.
    Closed,
}

impl ConversationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bot => "bot",
            Self::Escalated => "escalated",
            Self::Assigned => "assigned",
            Self::Resolved => "resolved",
            Self::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "bot" => Self::Bot,
            "escalated" => Self::Escalated,
            "assigned" => Self::Assigned,
            "resolved" => Self::Resolved,
            "closed" => Self::Closed,
            _ => return None,
        })
    }

    /// While a person owns the conversation the bot must not answer.
    pub fn bot_is_silent(self) -> bool {
        matches!(self, Self::Escalated | Self::Assigned)
    }
}

/// The stored conversation row.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub id: i64,
    pub channel: String,
    pub conversation_key: String,
    pub reply_to: String,
    pub customer_id: i64,
    pub state: ConversationState,
    /// Misses in a row (no match, or an unresolved clarification); an answer resets it.
    pub misses: i32,
    /// Intent ids offered in a pending "did you mean" question, if any.
    pub clarify: Vec<String>,
    /// The ticket this conversation escalated to, once it has.
    pub ticket_id: Option<i64>,
    /// Whether the automated-assistant disclosure was already sent.
    pub disclosed: bool,
    /// Per-conversation counter used to rotate answer variants.
    pub answer_turn: i32,
    pub created_at: Millis,
    pub updated_at: Millis,
}
