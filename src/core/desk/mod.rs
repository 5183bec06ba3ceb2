//! The agents' side: the queue, a ticket with its context, claim, reply, note and close, and
//! taking an agent off the team. Every action takes the acting agent and checks it may act before
//! touching anything, whether it comes from the agent API or from a platform ticket thread
//! (`Desk::platform_line`). Each change also tells the desk platform, in the same transaction.
//!
//! # Layout
//! - this file: the public types and timer kinds, [`Desk::new`], and the checks every action
//!   shares: the ticket under its lock, whether the agent may act, the name customers see.
//! - `reads.rs`: the queue and its filters, a ticket's detail, conversations, blocked customers,
//!   and the agent a token belongs to.
//! - `messages.rs`: what an agent sends on a ticket: replies (plain, anonymous, a snippet), notes.
//! - `snippets.rs`: the snippet list, and one snippet filled in for a ticket.
//! - `lifecycle.rs`: claim, close, release, transfer and reopen, and taking an agent off the team.
//! - `fields.rs`: a ticket's priority and tags, and blocking its customer.
//! - `platform.rs`: lines and `!` commands from a ticket's thread on a desk platform.
//! - `notes.rs`: the desk's notes in a ticket's thread: an agent's change, a word from frontline.
//! - `timers.rs`: the first-reply target and the follow-up: when due, planned, cancelled, fired.

use std::sync::Arc;

use crate::core::agent::Agent;
use crate::core::conversation::Conversation;
use crate::core::error::{CoreError, Result};
use crate::core::message::TranscriptLine;
use crate::core::services::{Services, Writer};
use crate::core::ticket::{Priority, Ticket, TicketStatus, TicketSummary};

mod fields;
mod lifecycle;
mod messages;
mod notes;
mod platform;
mod reads;
mod snippets;
mod timers;

pub use timers::first_reply_due_at;
pub(crate) use timers::{customer_wrote, schedule_sla};

/// Timer kinds of the desk: the first-reply reminder and breach, and waiting on the customer.
pub const SLA_REMIND: &str = "sla_remind";
pub const SLA_BREACH: &str = "sla_breach";
pub const FOLLOWUP_REMIND: &str = "followup_remind";
pub const FOLLOWUP_CLOSE: &str = "followup_close";

/// The name customers see on an anonymous reply.
pub const ANONYMOUS_NAME: &str = "Support team";

/// What an agent sends on a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A reply signed with the agent's (public) name.
    Reply(String),
    /// An internal note, never shown to the customer.
    Note(String),
    /// A reply signed "Support team".
    Anonymous(String),
    /// The named snippet, filled in.
    Snippet(String),
}

/// Filters of the ticket list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub tag: Option<String>,
    pub priority: Option<Priority>,
}

#[derive(Clone)]
pub struct Desk {
    services: Arc<Services>,
}

/// A ticket with everything an agent needs so the customer never repeats themselves.
#[derive(Debug, Clone)]
pub struct TicketDetail {
    pub summary: TicketSummary,
    /// The whole conversation, internal notes included.
    pub transcript: Vec<TranscriptLine>,
    /// The customer's earlier tickets, newest first.
    pub previous_tickets: Vec<Ticket>,
}

/// Which tickets to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// Waiting for an agent.
    Open,
    Assigned,
    /// Resolved or closed.
    Closed,
    /// Open and assigned: everything still being worked on.
    Active,
}

impl Queue {
    fn statuses(self) -> &'static [TicketStatus] {
        match self {
            Queue::Open => &[TicketStatus::Open],
            Queue::Assigned => &[TicketStatus::Assigned],
            Queue::Closed => &[TicketStatus::Resolved, TicketStatus::Closed],
            Queue::Active => &[TicketStatus::Open, TicketStatus::Assigned],
        }
    }
}

impl Desk {
    pub fn new(services: Arc<Services>) -> Self {
        Self { services }
    }

    /// The name customers see for an agent.
    fn public_name(&self, agent: &Agent) -> String {
        if self.services.config.conversation.anonymous_agents {
            "Support agent".into()
        } else {
            agent.name.clone()
        }
    }
}

/// Who holds a ticket, from the acting agent's point of view.
#[derive(Debug, PartialEq, Eq)]
enum Holder {
    /// Unclaimed, or held by an agent who has since been removed.
    Nobody,
    Me,
}

/// Checks that `agent` may work on `ticket`: it must not be closed or held by another agent.
async fn may_act(w: &mut Writer<'_>, ticket: &Ticket, agent: &Agent) -> Result<Holder> {
    if ticket.status.is_done() {
        return Err(CoreError::Conflict(format!(
            "ticket #{} is closed; the customer's next message reopens it",
            ticket.id
        )));
    }
    match ticket.assignee {
        Some(id) if id == agent.id => Ok(Holder::Me),
        Some(id) => match w.tx.agent(id).await? {
            Some(holder) => Err(CoreError::Conflict(format!(
                "ticket #{} is held by {}",
                ticket.id, holder.name
            ))),
            None => Ok(Holder::Nobody),
        },
        None => Ok(Holder::Nobody),
    }
}

/// Checks that `agent` holds `ticket` (for the holder-only actions: release, transfer).
async fn require_holder(w: &mut Writer<'_>, ticket: &Ticket, agent: &Agent) -> Result<()> {
    match may_act(w, ticket, agent).await? {
        Holder::Me => Ok(()),
        Holder::Nobody => Err(CoreError::Conflict(format!(
            "ticket #{} is not yours: only the agent holding it may do that",
            ticket.id
        ))),
    }
}

fn not_done(ticket: &Ticket) -> Result<()> {
    if ticket.status.is_done() {
        return Err(CoreError::Conflict(format!(
            "ticket #{} is closed; reopen it first",
            ticket.id
        )));
    }
    Ok(())
}

/// The ticket, under the lock of its conversation: every desk action changes it.
async fn find_ticket(w: &mut Writer<'_>, ticket_id: i64) -> Result<Ticket> {
    w.lock_ticket(ticket_id)
        .await?
        .ok_or_else(|| not_found(ticket_id))
}

async fn conversation_of(w: &mut Writer<'_>, ticket: &Ticket) -> Result<Conversation> {
    w.tx.conversation(ticket.conversation_id)
        .await?
        .ok_or_else(|| CoreError::NotFound(format!("conversation of ticket #{}", ticket.id)))
}

fn not_found(ticket_id: i64) -> CoreError {
    CoreError::NotFound(format!("ticket #{ticket_id}"))
}
