//! Tickets: what agents work on once the bot hands a conversation over.

use crate::clock::Millis;
use crate::core::matcher::Candidate;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TicketStatus {
    /// Waiting in the queue for an agent.
    Open,
    Assigned,
    /// Closed by an agent; may still reopen within the reopen window.
    Resolved,
    Closed,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Assigned => "assigned",
            Self::Resolved => "resolved",
            Self::Closed => "closed",
        }
    }

    /// An agent closed it (resolved, possibly closed for good since): no longer being worked on.
    pub fn is_done(self) -> bool {
        matches!(self, Self::Resolved | Self::Closed)
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "open" => Self::Open,
            "assigned" => Self::Assigned,
            "resolved" => Self::Resolved,
            "closed" => Self::Closed,
            _ => return None,
        })
    }
}

/// Why the bot handed over.
#[derive(Debug, Clone, PartialEq)]
pub enum EscalationReason {
    AskedForHuman,
    IntentNeedsPerson { intent: String },
    NoMatch { misses: i32 },
    Frustration,
}

impl EscalationReason {
    /// The reason as agents read it on the ticket.
    pub fn describe(&self) -> String {
        match self {
            Self::AskedForHuman => "customer asked for a person".into(),
            Self::IntentNeedsPerson { intent } => format!("'{intent}' is handled by a person"),
            Self::NoMatch { misses } => format!("bot could not answer ({misses} misses in a row)"),
            Self::Frustration => "customer seems frustrated".into(),
        }
    }
}

/// The stored ticket row.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    pub id: i64,
    pub conversation_id: i64,
    pub customer_id: i64,
    pub channel: String,
    pub status: TicketStatus,
    pub subject: String,
    pub reason: String,
    /// Intents the bot tried, best first, with their scores.
    pub intents: Vec<Candidate>,
    pub assignee: Option<i64>,
    pub created_at: Millis,
    pub claimed_at: Option<Millis>,
    pub first_reply_at: Option<Millis>,
    pub resolved_at: Option<Millis>,
    pub closed_at: Option<Millis>,
    pub csat: Option<i32>,
}

/// A ticket as listed to agents, joined with the names they want to see.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketSummary {
    pub ticket: Ticket,
    pub customer_name: String,
    pub assignee_name: Option<String>,
}
