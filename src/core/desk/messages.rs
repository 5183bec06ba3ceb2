//! What an agent sends on a ticket: a reply (plain, anonymous or a snippet) or a note.

use crate::core::agent::Agent;
use crate::core::desk_event::DeskEvent;
use crate::core::error::{check_text, Result};
use crate::core::message::{Author, TranscriptLine};
use crate::core::services::Writer;

use super::{
    conversation_of, find_ticket, may_act, Desk, Holder, Message, ANONYMOUS_NAME, SLA_BREACH,
    SLA_REMIND,
};

impl Desk {
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
    pub(super) async fn send_in(
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
}
