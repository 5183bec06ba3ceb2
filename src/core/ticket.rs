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

/// How urgent a ticket is. The queue lists higher priorities first, then older tickets first;
/// each has its own first-reply target (`[sla] first_reply_minutes`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Self::Low, Self::Normal, Self::High, Self::Urgent];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
            Self::Urgent => "urgent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "low" => Self::Low,
            "normal" => Self::Normal,
            "high" => Self::High,
            "urgent" => Self::Urgent,
            _ => return None,
        })
    }

    /// 0 for the most urgent: the queue's sort key.
    pub fn rank(self) -> u8 {
        match self {
            Self::Urgent => 0,
            Self::High => 1,
            Self::Normal => 2,
            Self::Low => 3,
        }
    }
}

/// A tag as stored: trimmed, lower-case, letters, digits, `-` and `_` only (so it fits in a
/// `!tag T` command and a query string), at most 32 characters.
pub fn normalize_tag(raw: &str) -> Option<String> {
    let tag = raw.trim().trim_start_matches('#').to_lowercase();
    let ok = !tag.is_empty()
        && tag.chars().count() <= 32
        && tag
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_');
    ok.then_some(tag)
}

/// Why the bot handed over.
#[derive(Debug, Clone, PartialEq)]
pub enum EscalationReason {
    AskedForHuman,
    IntentNeedsPerson {
        intent: String,
    },
    NoMatch {
        misses: i32,
    },
    /// The customer seemed frustrated; the engine adds which signal fired to the ticket's reason.
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
    pub priority: Priority,
    /// Sorted, each [`normalize_tag`]ged.
    pub tags: Vec<String>,
    /// When the first-reply target was missed.
    pub breached_at: Option<Millis>,
    /// Who closed it when no agent did: "admin" or "followup".
    pub closed_by: Option<String>,
}

/// A ticket as listed to agents, joined with the names they want to see.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketSummary {
    pub ticket: Ticket,
    pub customer_name: String,
    pub assignee_name: Option<String>,
}
