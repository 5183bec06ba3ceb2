//! The port platform adapters hand their events to: a narrow view of the engine, so an adapter
//! can store customer messages and agents' thread lines, and find where to resume after a
//! reconnect, without reaching anything else.

use async_trait::async_trait;

use crate::clock::Millis;
use crate::core::error::Result;
use crate::core::message::{Inbound, Sender};
use crate::core::ticket::TicketStatus;
use crate::store::InboxCursor;

/// What [`Inbox::receive`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub inbox_id: i64,
    /// The event had been received before and was not handled again.
    pub duplicate: bool,
}

#[async_trait]
pub trait Inbox: Send + Sync + 'static {
    /// Stores the event, deduplicated by (channel, external id), then handles it. Once this
    /// returns `Ok` the event is safe: a crash before it is handled only delays it.
    async fn receive(&self, event: Inbound) -> Result<Received>;
    /// For each conversation key on `channel` active since `since`, the newest event stored:
    /// where to resume reading after a reconnect. The thread of each ticket still being worked
    /// on whose card is on `channel` (as a desk platform) is listed too, from its card, so an
    /// agent's first line there is not lost either.
    async fn cursors(&self, channel: &str, since: Millis) -> Result<Vec<InboxCursor>>;
}

#[async_trait]
impl Inbox for crate::core::engine::Engine {
    async fn receive(&self, event: Inbound) -> Result<Received> {
        crate::core::engine::Engine::receive(self, event).await
    }

    async fn cursors(&self, channel: &str, since: Millis) -> Result<Vec<InboxCursor>> {
        let mut tx = self.services().store.read().await?;
        let mut cursors = tx.inbox_cursors(channel, since).await?;
        let working = [TicketStatus::Open, TicketStatus::Assigned];
        for summary in tx.list_tickets(&working).await? {
            let Some(card) = tx.card(summary.ticket.id, channel).await? else {
                continue;
            };
            if cursors.iter().all(|c| c.conversation_key != card.thread) {
                cursors.push(InboxCursor {
                    conversation_key: card.thread,
                    reply_to: String::new(),
                    sender: Sender::Agent,
                    // Everything in a thread made from the card comes after the card.
                    last_external_id: card.card,
                    received_at: summary.ticket.created_at,
                });
            }
        }
        Ok(cursors)
    }
}
