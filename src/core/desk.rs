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
use crate::core::desk_event::DeskEvent;
use crate::core::engine::{schedule_queue_update, CLOSE_TICKET};
use crate::core::error::{check_text, CoreError, Result};
use crate::core::message::{Author, Inbound, TranscriptLine};
use crate::core::services::{Services, Writer};
use crate::core::ticket::{Ticket, TicketStatus, TicketSummary};

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

    pub async fn list(&self, queue: Queue) -> Result<Vec<TicketSummary>> {
        let mut tx = self.services.store.read().await?;
        Ok(tx.list_tickets(queue.statuses()).await?)
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
        let mut w = self.services.write().await?;
        let line = self
            .reply_in(&mut w, agent, ticket_id, text, internal, true)
            .await?;
        w.commit().await?;
        Ok(line)
    }

    /// `echo`: show the line in the desk platform's thread too (it was written elsewhere).
    async fn reply_in(
        &self,
        w: &mut Writer<'_>,
        agent: &Agent,
        ticket_id: i64,
        text: &str,
        internal: bool,
        echo: bool,
    ) -> Result<TranscriptLine> {
        check_text(text)?;
        let now = self.services.now();
        let mut ticket = find_ticket(w, ticket_id).await?;
        let conv = conversation_of(w, &ticket).await?;
        let by = agent.name.clone();
        let (line, event) = if internal {
            let line = w
                .say(&conv, Author::Note, Some(by.clone()), text.to_string(), now)
                .await?;
            (line, DeskEvent::Note { agent: by })
        } else {
            if may_act(w, &ticket, agent).await? == Holder::Nobody {
                self.assign(w, &mut ticket, agent, now).await?;
            }
            if ticket.first_reply_at.is_none() {
                ticket.first_reply_at = Some(now);
                w.tx.update_ticket(&ticket).await?;
            }
            let name = self.public_name(agent);
            let line = w
                .say(&conv, Author::Agent, Some(name), text.to_string(), now)
                .await?;
            (line, DeskEvent::AgentLine { agent: by })
        };
        if echo {
            w.desk_event(ticket.id, event, &line).await?;
        }
        Ok(line)
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
        let now = self.services.now();
        let mut ticket = find_ticket(w, ticket_id).await?;
        if may_act(w, &ticket, agent).await? == Holder::Nobody {
            ticket.assignee = Some(agent.id);
        }
        let mut conv = conversation_of(w, &ticket).await?;
        ticket.status = TicketStatus::Resolved;
        ticket.resolved_at = Some(now);
        w.tx.update_ticket(&ticket).await?;
        conv.state = ConversationState::Resolved;
        conv.updated_at = now;
        w.tx.update_conversation(&conv).await?;
        let reason = reason.trim();
        let note = if reason.is_empty() {
            "Closed.".to_string()
        } else {
            format!("Closed: {reason}")
        };
        let note = w
            .say(&conv, Author::Note, Some(agent.name.clone()), note, now)
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
            agent: agent.name.clone(),
        };
        w.desk_event(ticket.id, event, &note).await?;
        Ok(ticket)
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
            Ok(Some(Command::Reply(text))) => self
                .reply_in(w, &agent, ticket_id, &text, false, false)
                .await
                .map(drop),
            Ok(Some(Command::Note(text))) => self
                .reply_in(w, &agent, ticket_id, &text, true, false)
                .await
                .map(drop),
            Ok(Some(Command::Claim)) => self.claim_in(w, &agent, ticket_id).await.map(drop),
            Ok(Some(Command::Close(reason))) => {
                self.close_in(w, &agent, ticket_id, &reason).await.map(drop)
            }
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
            self.release(&mut w, ticket.clone(), &agent, now).await?;
        }
        w.commit().await?;
        Ok(Some(held.len()))
    }

    /// Puts a ticket its agent can no longer work on back in the queue.
    async fn release(
        &self,
        w: &mut Writer<'_>,
        mut ticket: Ticket,
        agent: &Agent,
        now: i64,
    ) -> Result<()> {
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
        let event = DeskEvent::Released {
            agent: agent.name.clone(),
        };
        w.desk_event(ticket.id, event, &line).await?;
        schedule_queue_update(w, &self.services.config, ticket.id, now).await
    }

    async fn assign(
        &self,
        w: &mut Writer<'_>,
        ticket: &mut Ticket,
        agent: &Agent,
        now: i64,
    ) -> Result<()> {
        let mut conv = conversation_of(w, ticket).await?;
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

async fn find_ticket(w: &mut Writer<'_>, ticket_id: i64) -> Result<Ticket> {
    w.tx.ticket(ticket_id)
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
