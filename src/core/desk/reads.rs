//! What agents read: the agent a token belongs to, the queue and its filters, a conversation,
//! blocked customers, and a ticket with its context.

use crate::core::agent::Agent;
use crate::core::conversation::Conversation;
use crate::core::customer::Customer;
use crate::core::error::{CoreError, Result};
use crate::core::message::TranscriptLine;
use crate::core::ticket::TicketSummary;

use super::{not_found, Desk, Filter, Queue, TicketDetail};

impl Desk {
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
}
