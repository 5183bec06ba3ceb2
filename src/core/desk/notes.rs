//! The desk's notes in a ticket's thread: an agent's change, and a word from frontline. Each
//! tells the desk platform too.

use crate::core::agent::Agent;
use crate::core::desk_event::DeskEvent;
use crate::core::error::Result;
use crate::core::message::Author;
use crate::core::services::Writer;
use crate::core::ticket::Ticket;

use super::{conversation_of, find_ticket, Desk};

impl Desk {
    /// Notes a change on the ticket (agents only) and tells the desk platform.
    pub(super) async fn audit(
        &self,
        w: &mut Writer<'_>,
        ticket: &Ticket,
        agent: &Agent,
        text: String,
        event: DeskEvent,
    ) -> Result<()> {
        self.note_as(w, ticket, agent.name.clone(), text, event)
            .await
    }

    pub(super) async fn frontline_note(
        &self,
        w: &mut Writer<'_>,
        ticket: &Ticket,
        text: String,
        event: DeskEvent,
    ) -> Result<()> {
        self.note_as(w, ticket, "frontline".into(), text, event)
            .await
    }

    /// A note signed `by` in the ticket's conversation, and the event for the desk platform.
    async fn note_as(
        &self,
        w: &mut Writer<'_>,
        ticket: &Ticket,
        by: String,
        text: String,
        event: DeskEvent,
    ) -> Result<()> {
        let now = self.services.now();
        let conv = conversation_of(w, ticket).await?;
        let line = w.say(&conv, Author::Note, Some(by), text, now).await?;
        w.desk_event(ticket.id, event, &line).await?;
        Ok(())
    }

    /// A word from frontline to the agents in a ticket's thread, kept as a note.
    pub(super) async fn notice(
        &self,
        w: &mut Writer<'_>,
        ticket_id: i64,
        text: &str,
    ) -> Result<()> {
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
}
