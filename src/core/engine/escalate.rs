//! Escalation: a ticket opened with the whole context, and the customer told where they stand
//! in the queue, at once and then by timer.

use crate::clock::Millis;
use crate::config::Config;
use crate::core::conversation::{Conversation, ConversationState};
use crate::core::customer::Customer;
use crate::core::desk::{self as desk_rules};
use crate::core::desk_event::DeskEvent;
use crate::core::error::Result;
use crate::core::matcher::Classification;
use crate::core::message::Author;
use crate::core::policy;
use crate::core::services::Writer;
use crate::core::ticket::{EscalationReason, Ticket, TicketStatus};
use crate::store::NewTicket;

use super::{Engine, QUEUE_UPDATE};

impl Engine {
    /// Opens a ticket about `subject` and tells the customer plainly what happens next. A
    /// frustrated customer's ticket is high priority and names the `signal` that fired.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn escalate(
        &self,
        w: &mut Writer<'_>,
        conv: &mut Conversation,
        customer: &Customer,
        subject: &str,
        classification: &Classification,
        reason: EscalationReason,
        signal: Option<String>,
        now: Millis,
    ) -> Result<()> {
        let s = &self.services;
        let subject: String = subject.chars().take(120).collect();
        let described = match &signal {
            Some(signal) => format!("{}: {signal}", reason.describe()),
            None => reason.describe(),
        };
        let mut ticket =
            w.tx.create_ticket(&NewTicket {
                conversation_id: conv.id,
                customer_id: conv.customer_id,
                channel: conv.channel.clone(),
                subject,
                reason: described,
                intents: classification.candidates.clone(),
                created_at: now,
            })
            .await?;
        if reason == EscalationReason::Frustration {
            ticket.priority = crate::core::ticket::Priority::High;
            w.tx.update_ticket(&ticket).await?;
        }
        desk_rules::schedule_sla(w, &s.config, &ticket).await?;
        conv.state = ConversationState::Escalated;
        conv.ticket_id = Some(ticket.id);
        conv.misses = 0;
        conv.clarify.clear();

        let (vars, after_hours) = self.queue_vars(w, ticket.id, now).await?;
        let templates = &s.config.templates;
        let template = if after_hours {
            &templates.escalated_after_hours
        } else {
            &templates.escalated
        };
        let text = self.template(template, &vars);
        schedule_queue_update(w, &self.services.config, ticket.id, now).await?;
        tracing::info!(ticket = ticket.id, reason = %reason.describe(), "conversation escalated");
        let line = self
            .bot_says(w, conv, customer, text, Vec::new(), now)
            .await?;
        w.desk_event(ticket.id, DeskEvent::Opened, &line).await?;
        Ok(())
    }

    /// Where an open ticket stands, as template values: `ticket`, `position`, and `wait` — or,
    /// outside support hours (the flag), `hours` and `back`.
    async fn queue_vars(
        &self,
        w: &mut Writer<'_>,
        ticket_id: i64,
        now: Millis,
    ) -> Result<(Vec<(&'static str, String)>, bool)> {
        let s = &self.services;
        let position = w.tx.queue_position(ticket_id).await?;
        let mut vars = vec![
            ("ticket", ticket_id.to_string()),
            ("position", position.to_string()),
        ];
        let hours = &s.config.support_hours;
        if let Some(back) = hours.next_opening(now) {
            vars.push(("hours", hours.describe()));
            vars.push(("back", hours.local_label(back)));
            return Ok((vars, true));
        }
        let waits = w.tx.recent_claim_waits(s.config.queue.wait_sample).await?;
        let default_wait = s.config.queue.default_wait_minutes * 60_000;
        let wait = policy::expected_wait(position, &waits, default_wait);
        vars.push(("wait", policy::describe_wait(wait)));
        Ok((vars, false))
    }

    /// Tells a customer still waiting where they stand, and plans the next update. Outside
    /// support hours nothing changes, so the next update waits for the team's return.
    pub(super) async fn queue_update(
        &self,
        w: &mut Writer<'_>,
        ticket: &Ticket,
        now: Millis,
    ) -> Result<()> {
        if ticket.status != TicketStatus::Open {
            return Ok(());
        }
        if let Some(back) = self.services.config.support_hours.next_opening(now) {
            w.tx.schedule_timer(QUEUE_UPDATE, ticket.id, back).await?;
            return Ok(());
        }
        let Some(conv) = w.tx.conversation(ticket.conversation_id).await? else {
            return Ok(());
        };
        let (vars, _) = self.queue_vars(w, ticket.id, now).await?;
        let text = self.template(&self.services.config.templates.queue_update, &vars);
        w.say(&conv, Author::System, None, text, now).await?;
        schedule_queue_update(w, &self.services.config, ticket.id, now).await
    }
}

/// Plans the next "where you stand" message for a ticket waiting in the queue; one chain of
/// updates per ticket, however often it went back to the queue.
pub(crate) async fn schedule_queue_update(
    w: &mut Writer<'_>,
    config: &Config,
    ticket_id: i64,
    now: Millis,
) -> Result<()> {
    w.tx.cancel_timers(QUEUE_UPDATE, ticket_id).await?;
    let every = config.queue.update_minutes * 60_000;
    if every > 0 {
        w.tx.schedule_timer(QUEUE_UPDATE, ticket_id, now + every)
            .await?;
    }
    Ok(())
}
