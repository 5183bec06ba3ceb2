//! What goes out to Slack: [`CustomerChannel`] (messages to DMs and help-channel threads,
//! choices as buttons, text split at Slack's section limit) and [`AgentDesk`] (ticket cards in
//! the staff channel, edited with `chat.update`, and the ticket's lines in the card's thread).

use async_trait::async_trait;

use super::adapter::{Shared, Slack, SLACK};
use super::blocks::{self, Button, CardAction};
use super::render;
use super::text::{Mrkdwn, SECTION_TEXT_MAX};
use crate::channels::{
    AgentDesk, CustomerChannel, Delivered, Delivery, DeliveryError, DeskDelivery,
};
use crate::core::desk_event::CardRef;

impl Shared {
    /// Posts `text` split to Slack's section limit, buttons under the last piece; returns the
    /// last message's `ts`.
    async fn send(
        &self,
        channel: &str,
        thread: Option<&str>,
        text: &Mrkdwn,
        buttons: &[Button],
    ) -> Result<String, DeliveryError> {
        let mut pieces = text.split(SECTION_TEXT_MAX);
        if pieces.is_empty() {
            pieces.push(Mrkdwn::trusted("…"));
        }
        let last = pieces.len() - 1;
        let mut ts = String::new();
        for (i, piece) in pieces.iter().enumerate() {
            let buttons = if i == last { buttons } else { &[] };
            let blocks = blocks::message(piece, buttons).map_err(|e| DeliveryError::Permanent {
                message: e.to_string(),
            })?;
            ts = self
                .api
                .post_message(channel, thread, piece, Some(&blocks))
                .await
                .map_err(|e| render::delivery_error(&e))?;
        }
        Ok(ts)
    }

    fn staff_channel(&self) -> Result<&str, DeliveryError> {
        self.places
            .staff_channel
            .as_deref()
            .ok_or_else(|| DeliveryError::Permanent {
                message: "slack.staff_channel is not set".into(),
            })
    }

    fn card_blocks(&self, d: &DeskDelivery) -> Result<Vec<serde_json::Value>, DeliveryError> {
        let actions: &[CardAction] = if d.card.ticket.status.is_done() {
            &[]
        } else {
            &[CardAction::Claim, CardAction::Close]
        };
        blocks::ticket_card(&render::card_body(&d.card), d.card.ticket.id, actions).map_err(|e| {
            DeliveryError::Permanent {
                message: e.to_string(),
            }
        })
    }

    async fn post_card(&self, d: &DeskDelivery) -> Result<CardRef, DeliveryError> {
        let staff = self.staff_channel()?;
        let blocks = self.card_blocks(d)?;
        let ts = self
            .api
            .post_message(staff, None, &render::card_fallback(&d.card), Some(&blocks))
            .await
            .map_err(|e| render::delivery_error(&e))?;
        // The card's thread is the card itself.
        let at = render::address(staff, Some(&ts));
        Ok(CardRef {
            card: at.clone(),
            thread: at,
        })
    }

    async fn update_card(
        &self,
        d: &DeskDelivery,
        channel: &str,
        ts: &str,
    ) -> Result<(), DeliveryError> {
        let blocks = self.card_blocks(d)?;
        self.api
            .update(channel, ts, &render::card_fallback(&d.card), Some(&blocks))
            .await
            .map_err(|e| render::delivery_error(&e))
    }
}

#[async_trait]
impl CustomerChannel for Slack {
    fn name(&self) -> &str {
        SLACK
    }

    async fn deliver(&self, d: &Delivery) -> Result<Delivered, DeliveryError> {
        let s = &self.shared;
        let (channel, thread) =
            render::parse_address(&d.recipient).ok_or_else(|| DeliveryError::Permanent {
                message: format!("malformed Slack reply_to '{}'", d.recipient),
            })?;
        // A user id: their DM with the app.
        let channel = if channel.starts_with('U') || channel.starts_with('W') {
            s.api
                .conversations_open(&channel)
                .await
                .map_err(|e| render::delivery_error(&e))?
        } else {
            channel
        };
        let text = render::customer_text(d.author, d.author_name.as_deref(), &d.text);
        let buttons: Vec<Button> = d
            .choices
            .iter()
            .map(|c| Button::new(&c.label, &c.value))
            .collect();
        let ts = s.send(&channel, thread.as_deref(), &text, &buttons).await?;
        Ok(Delivered {
            message_ref: Some(render::address(&channel, Some(&ts))),
        })
    }
}

#[async_trait]
impl AgentDesk for Slack {
    fn name(&self) -> &str {
        SLACK
    }

    async fn publish(&self, d: &DeskDelivery) -> Result<Option<CardRef>, DeliveryError> {
        let s = &self.shared;
        let (card, new) = match &d.card_ref {
            Some(card) => (card.clone(), None),
            None => {
                let card = s.post_card(d).await?;
                (card.clone(), Some(card))
            }
        };
        let Some((channel, Some(ts))) = render::parse_address(&card.thread) else {
            return Err(DeliveryError::Permanent {
                message: format!("malformed Slack card reference '{}'", card.thread),
            });
        };
        if new.is_none() && d.event.changes_card() {
            s.update_card(d, &channel, &ts).await?;
        }
        if let Some(line) = render::desk_line(&d.event, d.author_name.as_deref(), &d.text) {
            // A card made just now is returned even if its first line fails, so a retry does
            // not post the card again (the line is retried then).
            let sent = s.send(&channel, Some(&ts), &line, &[]).await;
            if let Err(e) = sent {
                if new.is_none() {
                    return Err(e);
                }
                tracing::warn!(error = %e, "slack: could not post in a new ticket thread");
            }
        }
        Ok(new)
    }
}
