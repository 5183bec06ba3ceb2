//! Timers: resolved tickets closed once their reopen window is over, queue updates sent.

use crate::clock::Millis;
use crate::core::conversation::ConversationState;
use crate::core::error::Result;
use crate::core::services::Writer;
use crate::core::ticket::{Ticket, TicketStatus};
use crate::store::Timer;

use super::{Engine, CLOSE_TICKET, QUEUE_UPDATE};

impl Engine {
    /// Fires due timers: resolved tickets whose reopen window has passed become closed, and
    /// customers still waiting in the queue hear where they stand. Each timer fires in its own
    /// transaction, so one that fails is logged and tried again on the next pass without holding
    /// up the others.
    pub async fn fire_timers(&self) -> Result<usize> {
        let now = self.services.now();
        let due = {
            let mut tx = self.services.store.read().await?;
            tx.due_timers(now, 100).await?
        };
        let mut fired = 0;
        for timer in &due {
            match self.fire_timer(timer, now).await {
                Ok(true) => fired += 1,
                Ok(false) => {}
                Err(e) => tracing::error!(
                    timer = timer.id,
                    kind = %timer.kind,
                    error = %e,
                    "timer failed; will retry"
                ),
            }
        }
        Ok(fired)
    }

    /// Fires one timer under the write lock; false when another pass (or instance) fired it.
    async fn fire_timer(&self, timer: &Timer, now: Millis) -> Result<bool> {
        let mut w = self.services.write().await?;
        // The retention pass is about no ticket.
        if timer.kind == crate::core::privacy::RETENTION {
            if !w.tx.mark_timer_fired(timer.id, now).await? {
                return Ok(false);
            }
            crate::core::privacy::retention_pass(&mut w, &self.services, now).await?;
            w.commit().await?;
            return Ok(true);
        }
        // The conversation's lock before the timer's row, the order every desk action takes
        // them in (cancelling a timer included), so the two never wait for each other.
        let ticket = w.lock_ticket(timer.subject_id).await?;
        if !w.tx.mark_timer_fired(timer.id, now).await? {
            return Ok(false);
        }
        if let Some(ticket) = ticket {
            match timer.kind.as_str() {
                CLOSE_TICKET => {
                    if ticket.status == TicketStatus::Resolved
                        && self.reopen_window_over(&ticket, now)
                    {
                        finish_ticket(&mut w, ticket, now).await?;
                    }
                }
                QUEUE_UPDATE => self.queue_update(&mut w, &ticket, now).await?,
                other => {
                    if !self.desk.fire(&mut w, other, ticket, now).await? {
                        tracing::warn!(kind = other, "unknown timer kind; ignored");
                    }
                }
            }
        }
        w.commit().await?;
        Ok(true)
    }
}

/// A resolved ticket whose reopen window is over: closed for good, with its conversation.
pub(super) async fn finish_ticket(
    w: &mut Writer<'_>,
    mut ticket: Ticket,
    now: Millis,
) -> Result<()> {
    ticket.status = TicketStatus::Closed;
    ticket.closed_at = Some(now);
    w.tx.update_ticket(&ticket).await?;
    if let Some(mut conv) = w.tx.conversation(ticket.conversation_id).await? {
        conv.state = ConversationState::Closed;
        conv.updated_at = now;
        w.tx.update_conversation(&conv).await?;
    }
    w.tx.cancel_timers(CLOSE_TICKET, ticket.id).await?;
    Ok(())
}
