//! The desk's timers: the first-reply target (when it is due, its reminder and breach) and the
//! follow-up after an agent's reply (a reminder to the customer, then closing), planned,
//! cancelled and fired.

use crate::core::desk_event::DeskEvent;
use crate::core::error::Result;
use crate::core::message::Author;
use crate::core::services::Writer;
use crate::core::ticket::{Ticket, TicketStatus};

use super::{conversation_of, Desk, FOLLOWUP_CLOSE, FOLLOWUP_REMIND, SLA_BREACH, SLA_REMIND};

impl Desk {
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

    /// Plans the follow-up reminder and close after an agent's reply, replacing earlier ones.
    pub(super) async fn schedule_followup(
        &self,
        w: &mut Writer<'_>,
        ticket_id: i64,
        now: i64,
    ) -> Result<()> {
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
}

pub(super) async fn cancel_followup(w: &mut Writer<'_>, ticket_id: i64) -> Result<()> {
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
