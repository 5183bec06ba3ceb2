//! A ticket's fields agents set: its priority and tags, and whether its customer is blocked.

use crate::core::agent::Agent;
use crate::core::desk_event::DeskEvent;
use crate::core::error::{CoreError, Result};
use crate::core::services::Writer;
use crate::core::ticket::{normalize_tag, Priority, Ticket};

use super::timers::schedule_sla;
use super::{find_ticket, not_done, Desk};

impl Desk {
    /// Sets the ticket's priority (any agent); the first-reply target follows it.
    pub async fn set_priority(
        &self,
        agent: &Agent,
        ticket_id: i64,
        priority: &str,
    ) -> Result<Ticket> {
        let mut w = self.services.write().await?;
        let ticket = self.priority_in(&mut w, agent, ticket_id, priority).await?;
        w.commit().await?;
        Ok(ticket)
    }

    pub(super) async fn priority_in(
        &self,
        w: &mut Writer<'_>,
        agent: &Agent,
        ticket_id: i64,
        priority: &str,
    ) -> Result<Ticket> {
        let priority = Priority::parse(priority).ok_or_else(|| {
            CoreError::Invalid(format!(
                "unknown priority '{}': use low, normal, high or urgent",
                priority.trim()
            ))
        })?;
        let mut ticket = find_ticket(w, ticket_id).await?;
        not_done(&ticket)?;
        if ticket.priority == priority {
            return Ok(ticket);
        }
        ticket.priority = priority;
        w.tx.update_ticket(&ticket).await?;
        schedule_sla(w, &self.services.config, &ticket).await?;
        let text = format!("Priority set to {}.", priority.as_str());
        let event = DeskEvent::Prioritized {
            agent: agent.name.clone(),
            priority,
        };
        self.audit(w, &ticket, agent, text, event).await?;
        Ok(ticket)
    }

    /// Adds and removes tags (any agent); each is checked and stored lower-case.
    pub async fn tag(
        &self,
        agent: &Agent,
        ticket_id: i64,
        add: &[String],
        remove: &[String],
    ) -> Result<Ticket> {
        let mut w = self.services.write().await?;
        let ticket = self.tag_in(&mut w, agent, ticket_id, add, remove).await?;
        w.commit().await?;
        Ok(ticket)
    }

    pub(super) async fn tag_in(
        &self,
        w: &mut Writer<'_>,
        agent: &Agent,
        ticket_id: i64,
        add: &[String],
        remove: &[String],
    ) -> Result<Ticket> {
        let clean = |tags: &[String]| -> Result<Vec<String>> {
            tags.iter()
                .map(|t| {
                    normalize_tag(t).ok_or_else(|| {
                        CoreError::Invalid(format!(
                            "'{}' is not a tag: use letters, digits, '-' and '_' (at most 32)",
                            t.trim()
                        ))
                    })
                })
                .collect()
        };
        let (add, remove) = (clean(add)?, clean(remove)?);
        let mut ticket = find_ticket(w, ticket_id).await?;
        let before = ticket.tags.clone();
        ticket.tags.retain(|t| !remove.contains(t));
        for tag in add {
            if !ticket.tags.contains(&tag) {
                ticket.tags.push(tag);
            }
        }
        ticket.tags.sort();
        if ticket.tags == before {
            return Ok(ticket);
        }
        w.tx.update_ticket(&ticket).await?;
        let text = if ticket.tags.is_empty() {
            "Tags cleared.".to_string()
        } else {
            format!("Tags: {}.", ticket.tags.join(", "))
        };
        let event = DeskEvent::Updated {
            agent: agent.name.clone(),
        };
        self.audit(w, &ticket, agent, text, event).await?;
        Ok(ticket)
    }

    /// Blocks or unblocks the ticket's customer (any agent). A blocked customer gets one polite
    /// notice, then silence and no tickets; what they write is still stored.
    pub async fn set_blocked(
        &self,
        agent: &Agent,
        ticket_id: i64,
        blocked: bool,
    ) -> Result<Ticket> {
        let mut w = self.services.write().await?;
        let ticket = self.block_in(&mut w, agent, ticket_id, blocked).await?;
        w.commit().await?;
        Ok(ticket)
    }

    pub(super) async fn block_in(
        &self,
        w: &mut Writer<'_>,
        agent: &Agent,
        ticket_id: i64,
        blocked: bool,
    ) -> Result<Ticket> {
        let now = self.services.now();
        let ticket = find_ticket(w, ticket_id).await?;
        w.tx.set_blocked(ticket.customer_id, blocked, now).await?;
        let text = if blocked {
            "Blocked the customer: they get one notice, then no replies and no tickets."
        } else {
            "Unblocked the customer."
        };
        let event = DeskEvent::Updated {
            agent: agent.name.clone(),
        };
        self.audit(w, &ticket, agent, text.to_string(), event)
            .await?;
        Ok(ticket)
    }
}
