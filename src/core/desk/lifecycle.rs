//! A ticket's life: claimed, closed (by an agent, an admin or the follow-up), released,
//! transferred, reopened, and back in the queue when its agent leaves the team.

use crate::core::agent::Agent;
use crate::core::choice;
use crate::core::conversation::ConversationState;
use crate::core::desk_event::DeskEvent;
use crate::core::engine::{schedule_queue_update, CLOSE_TICKET};
use crate::core::error::{CoreError, Result};
use crate::core::message::Author;
use crate::core::services::Writer;
use crate::core::ticket::{Ticket, TicketStatus};

use super::timers::cancel_followup;
use super::{conversation_of, find_ticket, may_act, require_holder, Desk, Holder};

impl Desk {
    /// Takes an open ticket. Claiming one's own ticket again is fine; another agent's is a conflict.
    pub async fn claim(&self, agent: &Agent, ticket_id: i64) -> Result<Ticket> {
        let mut w = self.services.write().await?;
        let ticket = self.claim_in(&mut w, agent, ticket_id).await?;
        w.commit().await?;
        Ok(ticket)
    }

    pub(super) async fn claim_in(
        &self,
        w: &mut Writer<'_>,
        agent: &Agent,
        ticket_id: i64,
    ) -> Result<Ticket> {
        let now = self.services.now();
        let mut ticket = find_ticket(w, ticket_id).await?;
        if may_act(w, &ticket, agent).await? == Holder::Me {
            return Ok(ticket);
        }
        self.assign(w, &mut ticket, agent, now).await?;
        Ok(ticket)
    }

    /// Resolves the ticket: the customer is thanked and asked for a rating; their next message
    /// within the reopen window reopens it.
    pub async fn close(&self, agent: &Agent, ticket_id: i64, reason: &str) -> Result<Ticket> {
        let mut w = self.services.write().await?;
        let ticket = self.close_in(&mut w, agent, ticket_id, reason).await?;
        w.commit().await?;
        Ok(ticket)
    }

    pub(super) async fn close_in(
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

    pub(super) async fn release_in(
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

    pub(super) async fn transfer_in(
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

    pub(super) async fn reopen_in(
        &self,
        w: &mut Writer<'_>,
        agent: &Agent,
        ticket_id: i64,
    ) -> Result<Ticket> {
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

    pub(super) async fn assign(
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
}
