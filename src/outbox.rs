//! The dispatcher: delivers outbox rows to customers' channels and ticket events to the desk
//! platform, in order per conversation and lane, retrying transient failures with exponential
//! backoff (or the platform's Retry-After) and turning permanent ones into dead letters noted on
//! the conversation for agents.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::channels::{
    AgentDesk, CustomerChannel, Delivery, DeliveryError, DeskDelivery, Platforms,
};
use crate::core::card::{Card, LAST_LINES};
use crate::core::desk_event::{CardRef, DeskEvent};
use crate::core::error::Result;
use crate::core::message::Author;
use crate::core::services::Services;
use crate::store::{Lane, OutboxItem};

/// How long a delivery attempt may take before its row is tried again.
const LEASE_MS: i64 = 60_000;

#[derive(Clone)]
pub struct Dispatcher {
    services: Arc<Services>,
    channels: Arc<HashMap<String, Arc<dyn CustomerChannel>>>,
    desks: Arc<HashMap<String, Arc<dyn AgentDesk>>>,
}

/// What a delivery attempt came to.
type Outcome = std::result::Result<Option<CardRef>, DeliveryError>;

impl Dispatcher {
    pub fn new(services: Arc<Services>, platforms: &Platforms) -> Self {
        let channels = platforms
            .channels
            .iter()
            .map(|c| (c.name().to_string(), c.clone()))
            .collect();
        let desks = platforms
            .desks
            .iter()
            .map(|d| (d.name().to_string(), d.clone()))
            .collect();
        Self {
            services,
            channels: Arc::new(channels),
            desks: Arc::new(desks),
        }
    }

    /// Delivers everything due now, once; returns how many rows it attempted.
    pub async fn run_once(&self) -> Result<usize> {
        let now = self.services.now();
        // Lease the rows first, so a second dispatcher (or a second call) can't send them too.
        {
            let mut tx = self.services.store.read().await?;
            if tx.due_outbox(now, 1).await?.is_empty() {
                return Ok(0);
            }
        }
        let due = {
            let mut w = self.services.write().await?;
            let mut leased = Vec::new();
            for item in w.tx.take_due_outbox(now, 50).await? {
                if w.tx.lease_outbox(item.id, now, now + LEASE_MS).await? {
                    leased.push(item);
                }
            }
            w.commit().await?;
            leased
        };
        for item in &due {
            let started = std::time::Instant::now();
            let attempt = self.attempt(item).await;
            metrics::histogram!(crate::metrics::DELIVERY_SECONDS)
                .record(started.elapsed().as_secs_f64());
            let recorded = match attempt {
                Some(outcome) => self.record(item, outcome).await,
                None => self.hold(item).await,
            };
            // The lease runs out and the row is tried again; the rest of the batch goes on.
            if let Err(e) = recorded {
                tracing::error!(outbox_id = item.id, error = %e, "could not record a delivery");
            }
        }
        Ok(due.len())
    }

    /// One delivery attempt; `None` when the row's channel or desk is not running.
    async fn attempt(&self, item: &OutboxItem) -> Option<Outcome> {
        match item.lane {
            Lane::Customer => {
                let channel = self.channels.get(&item.channel)?;
                Some(channel.deliver(&delivery(item)).await.map(|_| None))
            }
            Lane::Desk => {
                let desk = self.desks.get(&item.channel)?;
                let delivery = match self.desk_delivery(item).await {
                    Ok(Some(d)) => d,
                    // The ticket is gone (erased): nothing left to show.
                    Ok(None) => return Some(Ok(None)),
                    Err(e) => {
                        return Some(Err(DeliveryError::Transient {
                            message: format!("reading the ticket failed: {e}"),
                            retry_after_ms: None,
                        }))
                    }
                };
                Some(desk.publish(&delivery).await)
            }
        }
    }

    /// A desk row with the ticket's card as it stands now, so an edited card is never stale.
    async fn desk_delivery(&self, item: &OutboxItem) -> Result<Option<DeskDelivery>> {
        let (Some(ticket_id), Some(event)) = (item.ticket_id, item.event.clone()) else {
            return Ok(None);
        };
        let mut tx = self.services.store.read().await?;
        let Some(summary) = tx.ticket_summary(ticket_id).await? else {
            return Ok(None);
        };
        let earlier = tx
            .customer_tickets(summary.ticket.customer_id, ticket_id)
            .await?;
        let mut last_lines = tx
            .conversation_lines(summary.ticket.conversation_id, 0, false)
            .await?;
        let skip = last_lines.len().saturating_sub(LAST_LINES);
        last_lines.drain(..skip);
        let card_ref = tx.card(ticket_id, &item.channel).await?;
        Ok(Some(DeskDelivery {
            outbox_id: item.id,
            ping_agents: event.pings_agents(),
            event,
            author: item.author,
            author_name: item.author_name.clone(),
            text: item.text.clone(),
            card: Card {
                ticket: summary.ticket,
                customer: summary.customer_name,
                assignee: summary.assignee_name,
                earlier,
                last_lines,
            },
            card_ref,
        }))
    }

    /// A message for a channel that is not running (switched off, or its token missing) waits
    /// for it to come back, without using up its attempts: a restart with a channel off must not
    /// turn its replies into dead letters.
    async fn hold(&self, item: &OutboxItem) -> Result<()> {
        let now = self.services.now();
        let message = format!("no channel named '{}' is running", item.channel);
        tracing::warn!(outbox_id = item.id, error = %message, "delivery held");
        let mut w = self.services.write().await?;
        let next = now + self.services.config.outbox.backoff_max_ms;
        w.tx.mark_retry(item.id, item.attempts, next, &message)
            .await?;
        w.commit().await?;
        Ok(())
    }

    async fn record(&self, item: &OutboxItem, outcome: Outcome) -> Result<()> {
        let now = self.services.now();
        let cfg = &self.services.config.outbox;
        let attempts = item.attempts + 1;
        let mut w = self.services.write().await?;
        match outcome {
            Ok(card) => {
                w.tx.mark_delivered(item.id, now).await?;
                if item.lane == Lane::Customer {
                    metrics::counter!(crate::metrics::MESSAGES_SENT, "channel" => item.channel.clone())
                        .increment(1);
                }
                if let (Some(card), Some(ticket_id)) = (card, item.ticket_id) {
                    w.tx.set_card(ticket_id, &item.channel, &card).await?;
                }
            }
            Err(DeliveryError::Transient {
                message,
                retry_after_ms,
            }) if attempts < cfg.max_attempts => {
                let backoff = cfg
                    .backoff_base_ms
                    .saturating_mul(1 << (attempts - 1).clamp(0, 20))
                    .min(cfg.backoff_max_ms);
                let wait = retry_after_ms.unwrap_or(0).max(backoff);
                tracing::warn!(outbox_id = item.id, attempts, wait_ms = wait, error = %message, "delivery failed; will retry");
                w.tx.mark_retry(item.id, attempts, now + wait, &message)
                    .await?;
            }
            Err(e) => {
                let message = e.to_string();
                tracing::error!(outbox_id = item.id, attempts, error = %message, "delivery failed for good");
                // A desk event that cannot be shown is only logged: noting it would send another.
                let noted = match item.lane {
                    Lane::Customer => w.tx.conversation(item.conversation_id).await?,
                    Lane::Desk => None,
                };
                // The conversation's lock before the row's, as everywhere else.
                if let Some(conv) = &noted {
                    w.lock(&conv.channel, &conv.conversation_key).await?;
                }
                w.tx.mark_dead(item.id, attempts, &message).await?;
                metrics::counter!(crate::metrics::DEAD_LETTERS, "lane" => item.lane.as_str())
                    .increment(1);
                if let Some(conv) = noted {
                    let preview: String = item.text.chars().take(200).collect();
                    let note = format!(
                        "Could not deliver this message to the customer ({message}): \"{preview}\""
                    );
                    let line = w
                        .say(&conv, Author::Note, Some("frontline".into()), note, now)
                        .await?;
                    if let Some(ticket_id) = conv.ticket_id {
                        w.desk_event(ticket_id, DeskEvent::DeadLetter, &line)
                            .await?;
                    }
                }
            }
        }
        w.commit().await?;
        Ok(())
    }

    /// Runs until `shutdown` resolves: delivers what is due, then sleeps until a commit queues
    /// something or the poll interval passes (retries become due on a later poll). Rows are
    /// delivered one at a time.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let poll = Duration::from_millis(self.services.config.outbox.poll_ms.max(10));
        loop {
            let pass = tokio::spawn({
                let this = self.clone();
                async move { this.run_once().await }
            });
            match pass.await {
                Ok(Ok(n)) if n > 0 => continue,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "outbox dispatch failed"),
                Err(e) => tracing::error!(error = %e, "outbox dispatch panicked"),
            }
            tokio::select! {
                _ = self.services.outbox_wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

fn delivery(item: &OutboxItem) -> Delivery {
    Delivery {
        outbox_id: item.id,
        conversation_id: item.conversation_id,
        recipient: item.recipient.clone(),
        author: item.author,
        author_name: item.author_name.clone(),
        text: item.text.clone(),
        choices: item.choices.clone(),
    }
}
