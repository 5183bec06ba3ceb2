//! What comes in from Slack: envelopes and webhook payloads parsed into messages, button
//! presses and group changes, handed to the inbox; refusals explained to their writer; and,
//! after a (re)connect, the catch-up that reads back what was missed, ticket threads included.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::adapter::{Shared, SLACK};
use super::events::{
    compare_ts, parse_event_body, parse_interactive, ButtonPress, IncomingMessage, Parsed,
};
use super::recovery::{fetch_missed, Watch};
use super::render::{self, PressRoute, Route};
use super::socket::Envelope;
use super::text::Mrkdwn;
use crate::core::error::CoreError;
use crate::core::inbox::Inbox;
use crate::core::message::{Inbound, Sender};

/// How far back recovery looks for conversations to catch up on.
const RECOVERY_DAYS: i64 = 14;
/// How many of the newest ticket cards recovery looks at for replies it has not stored.
const RECOVERY_CARDS: u32 = 200;

impl Shared {
    /// Hands an event to the inbox; returns why it was refused when that is the writer's to
    /// hear (text too long, say), not ours, and `NotStored` when the store failed.
    async fn hand_over(
        &self,
        inbox: &Arc<dyn Inbox>,
        inbound: Inbound,
    ) -> Result<Option<String>, NotStored> {
        let id = inbound.external_id.clone();
        match inbox.receive(inbound).await {
            Ok(r) if r.duplicate => tracing::debug!(event = %id, "slack: already received"),
            Ok(_) => {}
            Err(CoreError::Invalid(why)) => {
                tracing::info!(event = %id, why, "slack: event refused");
                return Ok(Some(why));
            }
            Err(e) => {
                tracing::error!(event = %id, error = %e, "slack: could not store an event");
                return Err(NotStored);
            }
        }
        Ok(None)
    }

    /// Tells the writer of a refused message why, so nothing disappears without a word.
    async fn tell_refused(&self, m: &IncomingMessage, why: &str) {
        let text = Mrkdwn::escaped(&format!("frontline did not take this message: {why}."));
        let thread = m.thread_ts.as_deref();
        if let Err(e) = self
            .api
            .post_ephemeral(&m.channel, &m.user, &text, thread)
            .await
        {
            tracing::warn!(error = %e, "slack: could not explain a refused message");
        }
    }

    /// Whatever an inbound payload means: a message, button presses, a group change.
    /// `NotStored` when an event of it could not be stored (Slack should send it again).
    pub(super) async fn on_parsed(
        &self,
        inbox: &Arc<dyn Inbox>,
        parsed: Parsed,
    ) -> Result<(), NotStored> {
        match parsed {
            Parsed::Message(m) => return self.on_message(inbox, m, true).await,
            Parsed::Buttons(presses) => {
                let mut stored = Ok(());
                for p in presses {
                    stored = stored.and(self.on_press(inbox, p).await);
                }
                return stored;
            }
            Parsed::SubteamMembersChanged { subteam_id } => {
                if self.agent_group.as_deref() == Some(subteam_id.as_str()) {
                    self.load_group().await;
                }
            }
            Parsed::UrlVerification { .. } => {}
            Parsed::Ignored(why) => tracing::trace!(why, "slack: payload ignored"),
        }
        Ok(())
    }

    pub(super) async fn on_envelope(&self, inbox: &Arc<dyn Inbox>, envelope: Envelope) {
        if envelope.retry_attempt > 0 {
            tracing::debug!(envelope = %envelope.envelope_id, attempt = envelope.retry_attempt, "slack: redelivered envelope");
        }
        let parsed = match envelope.kind.as_str() {
            "events_api" => parse_event_body(&envelope.payload, &self.identity().await),
            "interactive" => parse_interactive(&envelope.payload),
            _ => Parsed::Ignored("envelope type not handled"),
        };
        // Acknowledged once stored; what could not be stored Slack sends again.
        if self.on_parsed(inbox, parsed).await.is_ok() {
            envelope.ack();
        }
    }

    /// `live`: as it happened (not read back after a reconnect, when a refusal was explained
    /// already).
    async fn on_message(
        &self,
        inbox: &Arc<dyn Inbox>,
        m: IncomingMessage,
        live: bool,
    ) -> Result<(), NotStored> {
        let text = m.text.trim();
        if text.is_empty() {
            return Ok(());
        }
        let (sender, conversation_key, reply_to) = match render::route_message(&m, &self.places) {
            Route::Customer {
                conversation_key,
                reply_to,
            } => (Sender::Customer, conversation_key, reply_to),
            Route::StaffThread { card } => {
                if !self.is_agent(&m.user) {
                    // Anyone else's text in a ticket thread is not relayed.
                    tracing::debug!(user = %m.user, "slack: non-agent line in a ticket thread");
                    return Ok(());
                }
                (Sender::Agent, card.clone(), card)
            }
            Route::Ignored(why) => {
                tracing::trace!(why, "slack: message ignored");
                return Ok(());
            }
        };
        let inbound = Inbound {
            channel: SLACK.into(),
            external_id: m.dedup_key(),
            customer_key: m.user.clone(),
            customer_name: self.name_of(&m.user).await,
            conversation_key,
            reply_to,
            text: text.to_string(),
            received_at: self.clock.now_ms(),
            sender,
        };
        if let Some(why) = self.hand_over(inbox, inbound).await? {
            if live {
                self.tell_refused(&m, &why).await;
            }
        }
        Ok(())
    }

    async fn on_press(&self, inbox: &Arc<dyn Inbox>, p: ButtonPress) -> Result<(), NotStored> {
        let (sender, conversation_key, reply_to, text) = match render::route_press(&p, &self.places)
        {
            PressRoute::Choice {
                conversation_key,
                reply_to,
                text,
            } => (Sender::Customer, conversation_key, reply_to, text),
            PressRoute::Card { card, command } => {
                if !self.is_agent(&p.user) {
                    let refusal = Mrkdwn::escaped(render::NOT_AN_AGENT);
                    let sent = self
                        .api
                        .post_ephemeral(&p.channel, &p.user, &refusal, p.thread_ts.as_deref())
                        .await;
                    if let Err(e) = sent {
                        tracing::warn!(error = %e, "slack: could not refuse a button press");
                    }
                    return Ok(());
                }
                (Sender::Agent, card.clone(), card, command.to_string())
            }
            PressRoute::Ignored(why) => {
                tracing::trace!(why, "slack: button press ignored");
                return Ok(());
            }
        };
        let inbound = Inbound {
            channel: SLACK.into(),
            external_id: p.dedup_key(),
            customer_key: p.user.clone(),
            customer_name: self.name_of(&p.user).await,
            conversation_key,
            reply_to,
            text,
            received_at: self.clock.now_ms(),
            sender,
        };
        self.hand_over(inbox, inbound).await.map(|_| ())
    }

    /// Catches up after a (re)connect: every DM, help-channel conversation and ticket thread
    /// with recent activity is read after the newest event stored for it, and each help
    /// channel after its newest conversation; the inbox drops what it already has.
    pub(super) async fn recover(&self, inbox: &Arc<dyn Inbox>) {
        let since = self.clock.now_ms() - RECOVERY_DAYS * 24 * 3_600_000;
        let cursors = match inbox.cursors(SLACK, since).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "slack: could not read where to resume");
                return;
            }
        };
        let mut watches = Vec::new();
        let mut help_newest: BTreeMap<String, String> = BTreeMap::new();
        for c in &cursors {
            let (Some(last), Some((channel, thread))) = (
                render::ts_of_external_id(&c.last_external_id),
                render::parse_address(&c.conversation_key),
            ) else {
                continue;
            };
            if let Some(root) = &thread {
                if self.places.help_channels.contains(&channel) {
                    let newest = help_newest.entry(channel.clone()).or_insert(root.clone());
                    if compare_ts(root, newest).is_gt() {
                        *newest = root.clone();
                    }
                }
            }
            watches.push(Watch {
                channel,
                thread_ts: thread,
                last_seen_ts: Some(last.to_string()),
            });
        }
        watches.extend(help_newest.into_iter().map(|(channel, root)| Watch {
            channel,
            thread_ts: None,
            last_seen_ts: Some(root),
        }));
        self.watch_card_threads(&mut watches).await;
        if watches.is_empty() {
            return;
        }
        let recovered = fetch_missed(&self.api, &watches, &self.identity().await).await;
        for (watch, e) in &recovered.failures {
            tracing::warn!(channel = %watch.channel, error = %e, "slack: could not catch up");
        }
        tracing::info!(
            places = watches.len(),
            messages = recovered.messages.len(),
            "slack: caught up"
        );
        for m in recovered.messages {
            // Logged where it failed; the next catch-up reads it again.
            let _ = self.on_message(inbox, m, false).await;
        }
    }

    /// Adds the open tickets' threads in the staff channel with replies newer than what was
    /// stored from them, including threads no agent had written in yet (which have no cursor):
    /// the newest cards, read with one `conversations.history` call, say when their last reply was.
    async fn watch_card_threads(&self, watches: &mut Vec<Watch>) {
        let Some(staff) = &self.places.staff_channel else {
            return;
        };
        let cards = match self.api.latest(staff, RECOVERY_CARDS).await {
            Ok(cards) => cards,
            Err(e) => {
                tracing::warn!(error = %e, "slack: could not read the staff channel's cards");
                return;
            }
        };
        for card in cards {
            let has_replies = card.reply_count.unwrap_or(0) > 0 || card.latest_reply.is_some();
            // Closed tickets' cards have no buttons; their threads have nothing to relay.
            if !has_replies || !card.has_buttons() {
                continue;
            }
            let known = watches
                .iter()
                .position(|w| &w.channel == staff && w.thread_ts.as_deref() == Some(&card.ts));
            match known {
                // Read from the cursor already, unless Slack says nothing came after it.
                Some(i) => {
                    let seen = watches[i].last_seen_ts.clone();
                    if let (Some(latest), Some(seen)) = (&card.latest_reply, &seen) {
                        if !compare_ts(latest, seen).is_gt() {
                            watches.remove(i);
                        }
                    }
                }
                None => watches.push(Watch {
                    channel: staff.clone(),
                    thread_ts: Some(card.ts.clone()),
                    last_seen_ts: None,
                }),
            }
        }
    }
}

/// An inbound event could not be stored (the database was unavailable, say): the platform should
/// send it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct NotStored;
