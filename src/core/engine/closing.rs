//! After a ticket is resolved: ratings (late ones too), thanks and goodbyes, and reopening.

use crate::clock::Millis;
use crate::core::conversation::{Conversation, ConversationState};
use crate::core::desk_event::DeskEvent;
use crate::core::error::Result;
use crate::core::matcher::{Classification, Matcher};
use crate::core::message::Author;
use crate::core::policy;
use crate::core::services::Writer;
use crate::core::template::Vars;
use crate::core::ticket::{Ticket, TicketStatus};

use super::{schedule_queue_update, Engine, CLOSE_TICKET};

impl Engine {
    /// A message after an agent closed the ticket: a rating is kept, thanks or goodbye are
    /// answered, a bare "ok" is let be, anything else reopens the ticket with the same agent.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn after_close(
        &self,
        w: &mut Writer<'_>,
        conv: &mut Conversation,
        text: &str,
        classification: &Classification,
        matcher: &dyn Matcher,
        vars: &Vars,
        now: Millis,
    ) -> Result<()> {
        let s = &self.services;
        let Some(mut ticket) = self.ticket_of(w, conv).await? else {
            return Ok(());
        };
        if let Some(rating) = policy::parse_rating(text) {
            ticket.csat = Some(rating);
            w.tx.update_ticket(&ticket).await?;
            let reply = self.template(&s.config.templates.csat_thanks, &[]);
            w.say(conv, Author::Bot, None, reply, now).await?;
            return Ok(());
        }
        if let crate::core::matcher::Verdict::Answer { intent } = &classification.verdict {
            if s.config.conversation.closing_intents.contains(intent) {
                if matcher
                    .intent(intent)
                    .is_some_and(|i| !i.answers.is_empty())
                {
                    let (reply, _) = self.answer_text(conv, matcher, intent, vars);
                    w.say(conv, Author::Bot, None, reply, now).await?;
                }
                return Ok(());
            }
        }
        if policy::is_acknowledgement(text) {
            return Ok(());
        }
        // Reopen, to the same agent if they are still on the team.
        w.tx.cancel_timers(CLOSE_TICKET, ticket.id).await?;
        let agent = match ticket.assignee {
            Some(id) => w.tx.agent(id).await?,
            None => None,
        };
        ticket.resolved_at = None;
        // A rating given for the answer that didn't hold no longer stands.
        ticket.csat = None;
        let who = match &agent {
            Some(a) => {
                ticket.status = TicketStatus::Assigned;
                conv.state = ConversationState::Assigned;
                if s.config.conversation.anonymous_agents {
                    "your support agent".into()
                } else {
                    a.name.clone()
                }
            }
            None => {
                ticket.status = TicketStatus::Open;
                ticket.assignee = None;
                conv.state = ConversationState::Escalated;
                schedule_queue_update(w, &self.services.config, ticket.id, now).await?;
                "our support team".into()
            }
        };
        w.tx.update_ticket(&ticket).await?;
        let reply = self.template(
            &s.config.templates.reopened,
            &[("ticket", ticket.id.to_string()), ("agent", who)],
        );
        let line = w.say(conv, Author::System, None, reply, now).await?;
        w.desk_event(ticket.id, DeskEvent::Reopened, &line).await?;
        Ok(())
    }

    /// A bare rating that opens a new conversation is meant for the customer's last ticket, if
    /// that one was closed without a rating (its reopen window may have ended meanwhile): that
    /// ticket and the rating.
    pub(super) async fn late_rating(
        &self,
        w: &mut Writer<'_>,
        conv: &Conversation,
        text: &str,
    ) -> Result<Option<(Ticket, i32)>> {
        let Some(rating) = policy::parse_rating(text) else {
            return Ok(None);
        };
        let last =
            w.tx.customer_tickets(conv.customer_id, conv.ticket_id.unwrap_or(0))
                .await?
                .into_iter()
                .next();
        let Some(ticket) = last else {
            return Ok(None);
        };
        if ticket.csat.is_some() || !ticket.status.is_done() {
            return Ok(None);
        }
        Ok(Some((ticket, rating)))
    }

    /// Keeps a late rating (see [`Engine::late_rating`]) and thanks the customer.
    pub(super) async fn rate_late(
        &self,
        w: &mut Writer<'_>,
        conv: &Conversation,
        mut ticket: Ticket,
        rating: i32,
        now: Millis,
    ) -> Result<()> {
        ticket.csat = Some(rating);
        w.tx.update_ticket(&ticket).await?;
        let reply = self.template(&self.services.config.templates.csat_thanks, &[]);
        w.say(conv, Author::Bot, None, reply, now).await?;
        Ok(())
    }
}
