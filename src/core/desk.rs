//! The agents' side: the queue, a ticket with its context, claim, reply, note and close, and
//! taking an agent off the team. Every action takes the acting agent and checks it may act before
//! touching anything, whether it comes from the agent API or from a platform ticket thread
//! ([`Desk::platform_line`]). Each change also tells the desk platform, in the same transaction.

use std::sync::Arc;

use crate::config::RelayMode;
use crate::core::agent::Agent;
use crate::core::choice;
use crate::core::command::{self, Command};
use crate::core::conversation::{Conversation, ConversationState};
use crate::core::customer::Customer;
use crate::core::desk_event::DeskEvent;
use crate::core::engine::{schedule_queue_update, CLOSE_TICKET};
use crate::core::error::{check_text, CoreError, Result};
use crate::core::message::{Author, Inbound, TranscriptLine};
use crate::core::services::{Services, Writer};
use crate::core::snippet::{self, Snippet, SnippetError};
use crate::core::ticket::{normalize_tag, Priority, Ticket, TicketStatus, TicketSummary};

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

    /// The agent a bearer token belongs to, if any.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Agent>> {
        let hash = crate::core::agent::token_hash(token);
        let mut tx = self.services.store.read().await?;
        Ok(tx.agent_by_token_hash(&hash).await?)
    }

    /// The tickets of `queue`, most urgent first, then oldest first.
    pub async fn list(&self, queue: Queue) -> Result<Vec<TicketSummary>> {
        self.list_filtered(queue, &Filter::default()).await
    }

    pub async fn list_filtered(&self, queue: Queue, filter: &Filter) -> Result<Vec<TicketSummary>> {
        let mut tx = self.services.store.read().await?;
        let mut tickets = tx.list_tickets(queue.statuses()).await?;
        tickets.retain(|s| {
            filter
                .tag
                .as_ref()
                .is_none_or(|t| s.ticket.tags.contains(t))
                && filter.priority.is_none_or(|p| s.ticket.priority == p)
        });
        Ok(tickets)
    }

    /// Every snippet, read and checked afresh.
    pub fn snippets(&self) -> Result<Vec<Snippet>> {
        snippet::load_dir(
            &self.services.config.desk.snippets_dir,
            &self.snippet_vars(),
        )
        .map_err(snippet_error)
    }

    fn snippet_vars(&self) -> std::collections::BTreeSet<String> {
        self.services.config.known_vars()
    }

    /// A conversation and its whole transcript, notes included (agents follow links from the
    /// report's not-understood questions here).
    pub async fn conversation(&self, id: i64) -> Result<(Conversation, Vec<TranscriptLine>)> {
        let mut tx = self.services.store.read().await?;
        let conv = tx
            .conversation(id)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("conversation {id}")))?;
        let lines = tx.conversation_lines(id, 0, true).await?;
        Ok((conv, lines))
    }

    /// Customers agents have blocked.
    pub async fn blocked(&self) -> Result<Vec<Customer>> {
        let mut tx = self.services.store.read().await?;
        Ok(tx.blocked_customers().await?)
    }

    pub async fn detail(&self, ticket_id: i64) -> Result<TicketDetail> {
        let mut tx = self.services.store.read().await?;
        let summary = tx
            .ticket_summary(ticket_id)
            .await?
            .ok_or_else(|| not_found(ticket_id))?;
        let transcript = tx
            .conversation_lines(summary.ticket.conversation_id, 0, true)
            .await?;
        let previous_tickets = tx
            .customer_tickets(summary.ticket.customer_id, ticket_id)
            .await?;
        Ok(TicketDetail {
            summary,
            transcript,
            previous_tickets,
        })
    }

    /// Takes an open ticket. Claiming one's own ticket again is fine; another agent's is a conflict.
    pub async fn claim(&self, agent: &Agent, ticket_id: i64) -> Result<Ticket> {
        let mut w = self.services.write().await?;
        let ticket = self.claim_in(&mut w, agent, ticket_id).await?;
        w.commit().await?;
        Ok(ticket)
    }

    async fn claim_in(&self, w: &mut Writer<'_>, agent: &Agent, ticket_id: i64) -> Result<Ticket> {
        let now = self.services.now();
        let mut ticket = find_ticket(w, ticket_id).await?;
        if may_act(w, &ticket, agent).await? == Holder::Me {
            return Ok(ticket);
        }
        self.assign(w, &mut ticket, agent, now).await?;
        Ok(ticket)
    }

    /// Sends a reply to the customer, or with `internal` adds a note only agents see. Replying to
    /// an unclaimed ticket claims it; notes may be added by any agent.
    pub async fn reply(
        &self,
        agent: &Agent,
        ticket_id: i64,
        text: &str,
        internal: bool,
    ) -> Result<TranscriptLine> {
        let message = if internal {
            Message::Note(text.to_string())
        } else {
            Message::Reply(text.to_string())
        };
        self.send(agent, ticket_id, message).await
    }

    /// Sends `message` on the ticket: replies (plain, anonymous or a snippet) follow the rules of
    /// a reply (the holder, and replying to an unclaimed ticket claims it); notes any agent.
    pub async fn send(
        &self,
        agent: &Agent,
        ticket_id: i64,
        message: Message,
    ) -> Result<TranscriptLine> {
        let mut w = self.services.write().await?;
        let line = self
            .send_in(&mut w, agent, ticket_id, message, true)
            .await?;
        w.commit().await?;
        Ok(line)
    }

    /// `echo`: show the line in the desk platform's thread too (it was written elsewhere).
    async fn send_in(
        &self,
        w: &mut Writer<'_>,
        agent: &Agent,
        ticket_id: i64,
        message: Message,
        echo: bool,
    ) -> Result<TranscriptLine> {
        let (text, internal, anonymous) = match message {
            Message::Reply(text) => (text, false, false),
            Message::Note(text) => (text, true, false),
            Message::Anonymous(text) => (text, false, true),
            Message::Snippet(name) => {
                let ticket = find_ticket(w, ticket_id).await?;
                (
                    self.render_snippet(w, agent, &ticket, &name).await?,
                    false,
                    false,
                )
            }
        };
        check_text(&text)?;
        let now = self.services.now();
        let mut ticket = find_ticket(w, ticket_id).await?;
        let conv = conversation_of(w, &ticket).await?;
        let by = agent.name.clone();
        let (line, event) = if internal {
            let line = w
                .say(&conv, Author::Note, Some(by.clone()), text, now)
                .await?;
            (line, DeskEvent::Note { agent: by })
        } else {
            if may_act(w, &ticket, agent).await? == Holder::Nobody {
                self.assign(w, &mut ticket, agent, now).await?;
            }
            if ticket.first_reply_at.is_none() {
                ticket.first_reply_at = Some(now);
                w.tx.update_ticket(&ticket).await?;
                // The first-reply target is met: nothing left to remind anyone of.
                w.tx.cancel_timers(SLA_REMIND, ticket.id).await?;
                w.tx.cancel_timers(SLA_BREACH, ticket.id).await?;
            }
            let name = if anonymous {
                ANONYMOUS_NAME.to_string()
            } else {
                self.public_name(agent)
            };
            let line = w.say(&conv, Author::Agent, Some(name), text, now).await?;
            self.schedule_followup(w, ticket.id, now).await?;
            (line, DeskEvent::AgentLine { agent: by })
        };
        if echo {
            w.desk_event(ticket.id, event, &line).await?;
        }
        Ok(line)
    }

    async fn render_snippet(
        &self,
        w: &mut Writer<'_>,
        agent: &Agent,
        ticket: &Ticket,
        name: &str,
    ) -> Result<String> {
        let snippet = snippet::load(
            &self.services.config.desk.snippets_dir,
            name,
            &self.snippet_vars(),
        )
        .map_err(snippet_error)?;
        let customer = w.tx.customer(ticket.customer_id).await?;
        let customer_name = customer.and_then(|c| c.display_name).unwrap_or_default();
        Ok(self.services.render(
            &snippet.text,
            &[
                ("ticket", ticket.id.to_string()),
                ("agent", self.public_name(agent)),
                ("customer.name", customer_name),
            ],
        ))
    }

    /// Plans the follow-up reminder and close after an agent's reply, replacing earlier ones.
    async fn schedule_followup(&self, w: &mut Writer<'_>, ticket_id: i64, now: i64) -> Result<()> {
        cancel_followup(w, ticket_id).await?;
        let cfg = &self.services.config.followup;
        let hour = 3_600_000;
        if cfg.remind_hours > 0 {
            w.tx.schedule_timer(FOLLOWUP_REMIND, ticket_id, now + cfg.remind_hours * hour)
                .await?;
        }
        if cfg.close_hours > 0 {
            w.tx.schedule_timer(FOLLOWUP_CLOSE, ticket_id, now + cfg.close_hours * hour)
                .await?;
        }
        Ok(())
    }

    /// Resolves the ticket: the customer is thanked and asked for a rating; their next message
    /// within the reopen window reopens it.
    pub async fn close(&self, agent: &Agent, ticket_id: i64, reason: &str) -> Result<Ticket> {
        let mut w = self.services.write().await?;
        let ticket = self.close_in(&mut w, agent, ticket_id, reason).await?;
        w.commit().await?;
        Ok(ticket)
    }

    async fn close_in(
        &self,
        w: &mut Writer<'_>,
        agent: &Agent,
        ticket_id: i64,
        reason: &str,
    ) -> Result<Ticket> {
        let mut ticket = find_ticket(w, ticket_id).await?;
        if may_act(w, &ticket, agent).await? == Holder::Nobody {
            ticket.assignee = Some(agent.id);
        }
        self.resolve(w, ticket, &agent.name, None, reason).await
    }

    /// Closes a ticket as an admin (`frontline tickets close`), whoever holds it; recorded as
    /// closed by an admin, not by an agent.
    pub async fn admin_close(&self, ticket_id: i64, reason: &str) -> Result<Ticket> {
        let mut w = self.services.write().await?;
        let ticket = find_ticket(&mut w, ticket_id).await?;
        if ticket.status.is_done() {
            return Err(CoreError::Conflict(format!(
                "ticket #{ticket_id} is already closed"
            )));
        }
        let ticket = self
            .resolve(&mut w, ticket, "admin", Some("admin"), reason)
            .await?;
        w.commit().await?;
        Ok(ticket)
    }

    /// Resolves `ticket`: the customer is thanked and asked for a rating, a note says who closed
    /// it and why, and the reopen window starts. `by` names the closer in the note; `closed_by`
    /// is recorded when it was not an agent.
    pub(crate) async fn resolve(
        &self,
        w: &mut Writer<'_>,
        mut ticket: Ticket,
        by: &str,
        closed_by: Option<&str>,
        reason: &str,
    ) -> Result<Ticket> {
        let now = self.services.now();
        let mut conv = conversation_of(w, &ticket).await?;
        ticket.status = TicketStatus::Resolved;
        ticket.resolved_at = Some(now);
        ticket.closed_by = closed_by.map(str::to_string);
        w.tx.update_ticket(&ticket).await?;
        conv.state = ConversationState::Resolved;
        conv.updated_at = now;
        w.tx.update_conversation(&conv).await?;
        cancel_followup(w, ticket.id).await?;
        let reason = reason.trim();
        let note = if reason.is_empty() {
            "Closed.".to_string()
        } else {
            format!("Closed: {reason}")
        };
        let note = w
            .say(&conv, Author::Note, Some(by.to_string()), note, now)
            .await?;
        let text = self.services.render(
            &self.services.config.templates.resolved,
            &[("ticket", ticket.id.to_string())],
        );
        w.say_with_choices(&conv, Author::System, None, text, choice::rating(), now)
            .await?;
        let window = self.services.config.conversation.reopen_window_secs * 1000;
        w.tx.schedule_timer(CLOSE_TICKET, ticket.id, now + window)
            .await?;
        let event = DeskEvent::Closed {
            agent: by.to_string(),
        };
        w.desk_event(ticket.id, event, &note).await?;
        Ok(ticket)
    }

    /// Puts the ticket back in the queue; only its holder may. The customer hears where they
    /// stand.
    pub async fn release(&self, agent: &Agent, ticket_id: i64) -> Result<Ticket> {
        let mut w = self.services.write().await?;
        let ticket = self.release_in(&mut w, agent, ticket_id).await?;
        w.commit().await?;
        Ok(ticket)
    }

    async fn release_in(
        &self,
        w: &mut Writer<'_>,
        agent: &Agent,
        ticket_id: i64,
    ) -> Result<Ticket> {
        let now = self.services.now();
        let ticket = find_ticket(w, ticket_id).await?;
        require_holder(w, &ticket, agent).await?;
        let event = DeskEvent::Returned {
            agent: agent.name.clone(),
        };
        self.to_queue(w, ticket, agent, event, now).await
    }

    /// Hands the ticket to another agent (an id or an unambiguous name); only its holder may.
    /// The customer hears who took over.
    pub async fn transfer(&self, agent: &Agent, ticket_id: i64, to: &str) -> Result<Ticket> {
        let mut w = self.services.write().await?;
        let ticket = self.transfer_in(&mut w, agent, ticket_id, to).await?;
        w.commit().await?;
        Ok(ticket)
    }

    async fn transfer_in(
        &self,
        w: &mut Writer<'_>,
        agent: &Agent,
        ticket_id: i64,
        to: &str,
    ) -> Result<Ticket> {
        let now = self.services.now();
        let mut ticket = find_ticket(w, ticket_id).await?;
        require_holder(w, &ticket, agent).await?;
        let agents = w.tx.agents().await?;
        let target = match crate::core::agent::find(&agents, to) {
            Ok(target) => target.clone(),
            Err(crate::core::agent::FindError::NotFound) => {
                return Err(CoreError::Invalid(format!(
                    "no agent named '{}'",
                    to.trim()
                )))
            }
            Err(e) => return Err(CoreError::Invalid(e.to_string())),
        };
        if target.id == agent.id {
            return Err(CoreError::Invalid(format!(
                "ticket #{ticket_id} is already yours"
            )));
        }
        ticket.assignee = Some(target.id);
        w.tx.update_ticket(&ticket).await?;
        let conv = conversation_of(w, &ticket).await?;
        let who = if self.services.config.conversation.anonymous_agents {
            "Another support agent".into()
        } else {
            format!("{} from our support team", target.name)
        };
        let text = self.services.render(
            &self.services.config.templates.agent_joined,
            &[("agent", who)],
        );
        let line = w.say(&conv, Author::System, None, text, now).await?;
        let event = DeskEvent::Transferred {
            from: agent.name.clone(),
            to: target.name.clone(),
        };
        w.desk_event(ticket.id, event, &line).await?;
        Ok(ticket)
    }

    /// Reopens a resolved ticket (any agent), who then holds it; the customer is told.
    pub async fn reopen(&self, agent: &Agent, ticket_id: i64) -> Result<Ticket> {
        let mut w = self.services.write().await?;
        let ticket = self.reopen_in(&mut w, agent, ticket_id).await?;
        w.commit().await?;
        Ok(ticket)
    }

    async fn reopen_in(&self, w: &mut Writer<'_>, agent: &Agent, ticket_id: i64) -> Result<Ticket> {
        let now = self.services.now();
        let mut ticket = find_ticket(w, ticket_id).await?;
        match ticket.status {
            TicketStatus::Resolved => {}
            TicketStatus::Closed => {
                return Err(CoreError::Conflict(format!(
                    "ticket #{ticket_id} is closed for good (its reopen window is over); the customer's next message opens a new one"
                )))
            }
            TicketStatus::Open | TicketStatus::Assigned => {
                return Err(CoreError::Conflict(format!(
                    "ticket #{ticket_id} is not resolved"
                )))
            }
        }
        w.tx.cancel_timers(CLOSE_TICKET, ticket.id).await?;
        let mut conv = conversation_of(w, &ticket).await?;
        ticket.status = TicketStatus::Assigned;
        ticket.assignee = Some(agent.id);
        ticket.resolved_at = None;
        ticket.closed_by = None;
        // A rating given for the answer that didn't hold no longer stands.
        ticket.csat = None;
        w.tx.update_ticket(&ticket).await?;
        conv.state = ConversationState::Assigned;
        conv.updated_at = now;
        w.tx.update_conversation(&conv).await?;
        let text = self.services.render(
            &self.services.config.templates.reopened,
            &[
                ("ticket", ticket.id.to_string()),
                ("agent", self.public_name(agent)),
            ],
        );
        let line = w.say(&conv, Author::System, None, text, now).await?;
        let event = DeskEvent::ReopenedBy {
            agent: agent.name.clone(),
        };
        w.desk_event(ticket.id, event, &line).await?;
        Ok(ticket)
    }

    /// Sets the ticket's priority (any agent); the first-reply target follows it.
    pub async fn set_priority(
        &self,
        agent: &Agent,
        ticket_id: i64,
        priority: &str,
    ) -> Result<Ticket> {
        let mut w = self.services.write().await?;
        let ticket = self.priority_in(&mut w, agent, ticket_id, priority).await?;
        w.commit().await?;
        Ok(ticket)
    }

    async fn priority_in(
        &self,
        w: &mut Writer<'_>,
        agent: &Agent,
        ticket_id: i64,
        priority: &str,
    ) -> Result<Ticket> {
        let priority = Priority::parse(priority).ok_or_else(|| {
            CoreError::Invalid(format!(
                "unknown priority '{}': use low, normal, high or urgent",
                priority.trim()
            ))
        })?;
        let mut ticket = find_ticket(w, ticket_id).await?;
        not_done(&ticket)?;
        if ticket.priority == priority {
            return Ok(ticket);
        }
        ticket.priority = priority;
        w.tx.update_ticket(&ticket).await?;
        schedule_sla(w, &self.services.config, &ticket).await?;
        let text = format!("Priority set to {}.", priority.as_str());
        let event = DeskEvent::Prioritized {
            agent: agent.name.clone(),
            priority,
        };
        self.audit(w, &ticket, agent, text, event).await?;
        Ok(ticket)
    }

    /// Adds and removes tags (any agent); each is checked and stored lower-case.
    pub async fn tag(
        &self,
        agent: &Agent,
        ticket_id: i64,
        add: &[String],
        remove: &[String],
    ) -> Result<Ticket> {
        let mut w = self.services.write().await?;
        let ticket = self.tag_in(&mut w, agent, ticket_id, add, remove).await?;
        w.commit().await?;
        Ok(ticket)
    }

    async fn tag_in(
        &self,
        w: &mut Writer<'_>,
        agent: &Agent,
        ticket_id: i64,
        add: &[String],
        remove: &[String],
    ) -> Result<Ticket> {
        let clean = |tags: &[String]| -> Result<Vec<String>> {
            tags.iter()
                .map(|t| {
                    normalize_tag(t).ok_or_else(|| {
                        CoreError::Invalid(format!(
                            "'{}' is not a tag: use letters, digits, '-' and '_' (at most 32)",
                            t.trim()
                        ))
                    })
                })
                .collect()
        };
        let (add, remove) = (clean(add)?, clean(remove)?);
        let mut ticket = find_ticket(w, ticket_id).await?;
        let before = ticket.tags.clone();
        ticket.tags.retain(|t| !remove.contains(t));
        for tag in add {
            if !ticket.tags.contains(&tag) {
                ticket.tags.push(tag);
            }
        }
        ticket.tags.sort();
        if ticket.tags == before {
            return Ok(ticket);
        }
        w.tx.update_ticket(&ticket).await?;
        let text = if ticket.tags.is_empty() {
            "Tags cleared.".to_string()
        } else {
            format!("Tags: {}.", ticket.tags.join(", "))
        };
        let event = DeskEvent::Updated {
            agent: agent.name.clone(),
        };
        self.audit(w, &ticket, agent, text, event).await?;
        Ok(ticket)
    }

    /// Blocks or unblocks the ticket's customer (any agent). A blocked customer gets one polite
    /// notice, then silence and no tickets; what they write is still stored.
    pub async fn set_blocked(
        &self,
        agent: &Agent,
        ticket_id: i64,
        blocked: bool,
    ) -> Result<Ticket> {
        let mut w = self.services.write().await?;
        let ticket = self.block_in(&mut w, agent, ticket_id, blocked).await?;
        w.commit().await?;
        Ok(ticket)
    }

    async fn block_in(
        &self,
        w: &mut Writer<'_>,
        agent: &Agent,
        ticket_id: i64,
        blocked: bool,
    ) -> Result<Ticket> {
        let now = self.services.now();
        let ticket = find_ticket(w, ticket_id).await?;
        w.tx.set_blocked(ticket.customer_id, blocked, now).await?;
        let text = if blocked {
            "Blocked the customer: they get one notice, then no replies and no tickets."
        } else {
            "Unblocked the customer."
        };
        let event = DeskEvent::Updated {
            agent: agent.name.clone(),
        };
        self.audit(w, &ticket, agent, text.to_string(), event)
            .await?;
        Ok(ticket)
    }

    /// Notes a change on the ticket (agents only) and tells the desk platform.
    async fn audit(
        &self,
        w: &mut Writer<'_>,
        ticket: &Ticket,
        agent: &Agent,
        text: String,
        event: DeskEvent,
    ) -> Result<()> {
        let now = self.services.now();
        let conv = conversation_of(w, ticket).await?;
        let line = w
            .say(&conv, Author::Note, Some(agent.name.clone()), text, now)
            .await?;
        w.desk_event(ticket.id, event, &line).await?;
        Ok(())
    }

    /// Fires one of the desk's timers for `ticket`; false for a kind that is not the desk's.
    /// Each checks the ticket still needs it, so a timer left behind by a change does nothing.
    pub(crate) async fn fire(
        &self,
        w: &mut Writer<'_>,
        kind: &str,
        mut ticket: Ticket,
        now: i64,
    ) -> Result<bool> {
        let config = &self.services.config;
        let awaiting_reply = !ticket.status.is_done() && ticket.first_reply_at.is_none();
        match kind {
            SLA_REMIND if awaiting_reply => {
                let due = first_reply_due_at(config, &ticket).unwrap_or(now);
                let minutes_left = ((due - now).max(0) + 59_999) / 60_000;
                let text = format!(
                    "Reminder: no reply yet; the first-reply target for this {} ticket is {} minutes away.",
                    ticket.priority.as_str(),
                    minutes_left
                );
                let event = DeskEvent::SlaReminder {
                    priority: ticket.priority,
                    minutes_left,
                };
                self.frontline_note(w, &ticket, text, event).await?;
            }
            SLA_BREACH if awaiting_reply && ticket.breached_at.is_none() => {
                ticket.breached_at = Some(now);
                w.tx.update_ticket(&ticket).await?;
                let text = format!(
                    "The first-reply target for this {} ticket was missed.",
                    ticket.priority.as_str()
                );
                let event = DeskEvent::SlaBreached {
                    priority: ticket.priority,
                };
                self.frontline_note(w, &ticket, text, event).await?;
            }
            FOLLOWUP_REMIND if ticket.status == TicketStatus::Assigned => {
                let conv = conversation_of(w, &ticket).await?;
                let text = self.services.render(
                    &config.templates.followup,
                    &[("ticket", ticket.id.to_string())],
                );
                let line = w.say(&conv, Author::System, None, text, now).await?;
                w.desk_event(ticket.id, DeskEvent::FollowupSent, &line)
                    .await?;
            }
            FOLLOWUP_CLOSE if ticket.status == TicketStatus::Assigned => {
                let reason = format!(
                    "the customer did not reply within {} hours",
                    config.followup.close_hours
                );
                self.resolve(w, ticket, "frontline", Some("followup"), &reason)
                    .await?;
            }
            SLA_REMIND | SLA_BREACH | FOLLOWUP_REMIND | FOLLOWUP_CLOSE => {}
            _ => return Ok(false),
        }
        Ok(true)
    }

    async fn frontline_note(
        &self,
        w: &mut Writer<'_>,
        ticket: &Ticket,
        text: String,
        event: DeskEvent,
    ) -> Result<()> {
        let now = self.services.now();
        let conv = conversation_of(w, ticket).await?;
        let line = w
            .say(&conv, Author::Note, Some("frontline".into()), text, now)
            .await?;
        w.desk_event(ticket.id, event, &line).await?;
        Ok(())
    }

    /// Acts on what an agent wrote in a ticket's thread on a desk platform (or a card button,
    /// which the adapter hands over as the matching `!` command). The adapter has checked the
    /// author holds the agent role there; the desk checks, as for the agent API, that they may
    /// act on this ticket. A refused or malformed command is answered in the thread, and noted.
    pub(crate) async fn platform_line(&self, w: &mut Writer<'_>, msg: &Inbound) -> Result<()> {
        let now = self.services.now();
        let platform = msg.channel.as_str();
        let Some(ticket_id) = w.tx.ticket_by_card(platform, &msg.conversation_key).await? else {
            tracing::debug!(platform, "agent line outside any ticket thread; ignored");
            return Ok(());
        };
        let name = msg
            .customer_name
            .clone()
            .unwrap_or_else(|| format!("{platform} agent {}", msg.customer_key));
        let agent = match w
            .tx
            .platform_agent(platform, &msg.customer_key, &name, now)
            .await
        {
            Ok(agent) => agent,
            Err(crate::store::StoreError::Conflict(why)) => {
                return self.notice(w, ticket_id, &why).await;
            }
            Err(e) => return Err(e.into()),
        };
        let explicit = self.services.config.desk.relay == RelayMode::Explicit;
        let done = match command::parse(&msg.text, explicit) {
            Ok(None) => Ok(()),
            Ok(Some(command)) => self.command_in(w, &agent, ticket_id, command).await,
            Err(e) => Err(CoreError::Invalid(e.to_string())),
        };
        match done {
            Err(CoreError::Store(e)) => Err(CoreError::Store(e)),
            Err(refused) => {
                let text = format!("{}: {refused}", agent.name);
                self.notice(w, ticket_id, &text).await
            }
            Ok(()) => Ok(()),
        }
    }

    /// Acts on one thread command, with the same checks as the agent API.
    async fn command_in(
        &self,
        w: &mut Writer<'_>,
        agent: &Agent,
        id: i64,
        command: Command,
    ) -> Result<()> {
        // Lines written in the thread are there already: no echo.
        let (w, echo) = (w, false);
        match command {
            Command::Reply(text) => self
                .send_in(w, agent, id, Message::Reply(text), echo)
                .await
                .map(drop),
            Command::Note(text) => self
                .send_in(w, agent, id, Message::Note(text), echo)
                .await
                .map(drop),
            Command::Anon(text) => self
                .send_in(w, agent, id, Message::Anonymous(text), echo)
                .await
                .map(drop),
            Command::Snippet(name) => self
                .send_in(w, agent, id, Message::Snippet(name), echo)
                .await
                .map(drop),
            Command::Claim => self.claim_in(w, agent, id).await.map(drop),
            Command::Close(reason) => self.close_in(w, agent, id, &reason).await.map(drop),
            Command::Release => self.release_in(w, agent, id).await.map(drop),
            Command::Transfer(to) => self.transfer_in(w, agent, id, &to).await.map(drop),
            Command::Reopen => self.reopen_in(w, agent, id).await.map(drop),
            Command::Priority(p) => self.priority_in(w, agent, id, &p).await.map(drop),
            Command::Tag(t) => self.tag_in(w, agent, id, &[t], &[]).await.map(drop),
            Command::Untag(t) => self.tag_in(w, agent, id, &[], &[t]).await.map(drop),
            Command::Block => self.block_in(w, agent, id, true).await.map(drop),
            Command::Unblock => self.block_in(w, agent, id, false).await.map(drop),
        }
    }

    /// A word from frontline to the agents in a ticket's thread, kept as a note.
    async fn notice(&self, w: &mut Writer<'_>, ticket_id: i64, text: &str) -> Result<()> {
        let now = self.services.now();
        let ticket = find_ticket(w, ticket_id).await?;
        let conv = conversation_of(w, &ticket).await?;
        let line = w
            .say(
                &conv,
                Author::Note,
                Some("frontline".into()),
                text.to_string(),
                now,
            )
            .await?;
        w.desk_event(ticket_id, DeskEvent::Notice, &line).await?;
        Ok(())
    }

    /// Takes an agent off the team: their token stops working at once, and the tickets they held
    /// go back to the queue, each customer told where they now stand. `who` is an agent id or an
    /// unambiguous name; `None`: no such agent.
    pub async fn remove_agent(&self, who: &str) -> Result<Option<usize>> {
        let now = self.services.now();
        let mut w = self.services.write().await?;
        let agents = w.tx.agents().await?;
        let agent = match crate::core::agent::find(&agents, who) {
            Ok(agent) => agent.clone(),
            Err(crate::core::agent::FindError::NotFound) => return Ok(None),
            Err(e) => return Err(CoreError::Invalid(e.to_string())),
        };
        let held: Vec<Ticket> =
            w.tx.list_tickets(&[TicketStatus::Assigned])
                .await?
                .into_iter()
                .map(|s| s.ticket)
                .filter(|t| t.assignee == Some(agent.id))
                .collect();
        w.tx.remove_agent(agent.id, now).await?;
        for ticket in &held {
            let event = DeskEvent::Released {
                agent: agent.name.clone(),
            };
            self.to_queue(&mut w, ticket.clone(), &agent, event, now)
                .await?;
        }
        w.commit().await?;
        Ok(Some(held.len()))
    }

    /// Puts a ticket back in the queue (its agent released it, or is gone); the customer hears
    /// where they stand.
    async fn to_queue(
        &self,
        w: &mut Writer<'_>,
        mut ticket: Ticket,
        agent: &Agent,
        event: DeskEvent,
        now: i64,
    ) -> Result<Ticket> {
        let mut conv = conversation_of(w, &ticket).await?;
        ticket.status = TicketStatus::Open;
        ticket.assignee = None;
        w.tx.update_ticket(&ticket).await?;
        conv.state = ConversationState::Escalated;
        conv.updated_at = now;
        w.tx.update_conversation(&conv).await?;
        let position = w.tx.queue_position(ticket.id).await?;
        let who = if self.services.config.conversation.anonymous_agents {
            "Your support agent".to_string()
        } else {
            agent.name.clone()
        };
        let text = self.services.render(
            &self.services.config.templates.agent_left,
            &[
                ("agent", who),
                ("ticket", ticket.id.to_string()),
                ("position", position.to_string()),
            ],
        );
        let line = w.say(&conv, Author::System, None, text, now).await?;
        w.desk_event(ticket.id, event, &line).await?;
        cancel_followup(w, ticket.id).await?;
        schedule_queue_update(w, &self.services.config, ticket.id, now).await?;
        Ok(ticket)
    }

    async fn assign(
        &self,
        w: &mut Writer<'_>,
        ticket: &mut Ticket,
        agent: &Agent,
        now: i64,
    ) -> Result<()> {
        let mut conv = conversation_of(w, ticket).await?;
        if !w
            .tx
            .claim_ticket(ticket.id, agent.id, ticket.assignee)
            .await?
        {
            return Err(CoreError::Conflict(format!(
                "ticket #{} was just taken by another agent",
                ticket.id
            )));
        }
        ticket.status = TicketStatus::Assigned;
        ticket.assignee = Some(agent.id);
        if ticket.claimed_at.is_none() {
            ticket.claimed_at = Some(now);
            let waited = (now - ticket.created_at).max(0) as f64 / 1000.0;
            metrics::histogram!(crate::metrics::TIME_TO_CLAIM_SECONDS).record(waited);
        }
        w.tx.update_ticket(ticket).await?;
        conv.state = ConversationState::Assigned;
        conv.updated_at = now;
        w.tx.update_conversation(&conv).await?;
        let who = if self.services.config.conversation.anonymous_agents {
            "A support agent".into()
        } else {
            format!("{} from our support team", agent.name)
        };
        let text = self.services.render(
            &self.services.config.templates.agent_joined,
            &[("agent", who)],
        );
        let line = w.say(&conv, Author::System, None, text, now).await?;
        let event = DeskEvent::Claimed {
            agent: agent.name.clone(),
        };
        w.desk_event(ticket.id, event, &line).await?;
        Ok(())
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

async fn cancel_followup(w: &mut Writer<'_>, ticket_id: i64) -> Result<()> {
    w.tx.cancel_timers(FOLLOWUP_REMIND, ticket_id).await?;
    w.tx.cancel_timers(FOLLOWUP_CLOSE, ticket_id).await?;
    Ok(())
}

/// A customer wrote: whatever waited on them is off.
pub(crate) async fn customer_wrote(w: &mut Writer<'_>, ticket_id: i64) -> Result<()> {
    cancel_followup(w, ticket_id).await
}

/// When the first reply to `ticket` is due: its priority's target counted in support hours from
/// its opening. `None` without a target.
pub fn first_reply_due_at(config: &crate::config::Config, ticket: &Ticket) -> Option<i64> {
    let minutes = config.sla.first_reply_minutes.of(ticket.priority);
    (minutes > 0).then(|| {
        config
            .support_hours
            .add_support_time(ticket.created_at, minutes * 60_000)
    })
}

/// Plans the ticket's first-reply reminder (at `[sla] remind_at` of its target) and breach (at
/// 100%), replacing earlier ones; nothing once an agent has replied.
pub(crate) async fn schedule_sla(
    w: &mut Writer<'_>,
    config: &crate::config::Config,
    ticket: &Ticket,
) -> Result<()> {
    w.tx.cancel_timers(SLA_REMIND, ticket.id).await?;
    w.tx.cancel_timers(SLA_BREACH, ticket.id).await?;
    if ticket.first_reply_at.is_some() || ticket.status.is_done() {
        return Ok(());
    }
    let minutes = config.sla.first_reply_minutes.of(ticket.priority);
    if minutes <= 0 {
        return Ok(());
    }
    let target = minutes * 60_000;
    let hours = &config.support_hours;
    let remind_at = config.sla.remind_at;
    if remind_at > 0.0 && remind_at < 1.0 {
        let early = (target as f64 * remind_at).round() as i64;
        w.tx.schedule_timer(
            SLA_REMIND,
            ticket.id,
            hours.add_support_time(ticket.created_at, early),
        )
        .await?;
    }
    if ticket.breached_at.is_none() {
        w.tx.schedule_timer(
            SLA_BREACH,
            ticket.id,
            hours.add_support_time(ticket.created_at, target),
        )
        .await?;
    }
    Ok(())
}

fn snippet_error(e: SnippetError) -> CoreError {
    match e {
        SnippetError::Unknown(_) | SnippetError::Invalid { .. } => {
            CoreError::Invalid(e.to_string())
        }
        SnippetError::Io { .. } => {
            tracing::error!(error = %e, "reading snippets failed");
            CoreError::Invalid(e.to_string())
        }
    }
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
