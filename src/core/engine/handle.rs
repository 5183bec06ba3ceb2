//! Handling a stored event: the customer's turn decided and applied, agents' lines passed to
//! the desk, and what a failed attempt leaves behind.

use std::sync::atomic::Ordering;

use crate::clock::Millis;
use crate::core::choice::{self};
use crate::core::conversation::{Conversation, ConversationState};
use crate::core::customer::Customer;
use crate::core::decide::{decide, BotAction, Turn};
use crate::core::desk::{self as desk_rules};
use crate::core::desk_event::DeskEvent;
use crate::core::error::Result;
use crate::core::group_commit::turn_key;
use crate::core::message::{Author, Inbound, Sender};
use crate::core::policy;
use crate::core::services::Writer;
use crate::core::template::Vars;
use crate::core::ticket::{EscalationReason, Ticket};
use crate::store::{InboxItem, NewLine, TurnContext};

use super::timers::finish_ticket;
use super::Engine;

impl Engine {
    /// Handles every stored but unhandled event, oldest first (after a crash, or a failed attempt).
    pub async fn handle_unhandled(&self) -> Result<usize> {
        let _order = self.inbox_order.lock().await;
        self.handle_pending().await
    }

    /// Handles unhandled events oldest first; the caller holds `inbox_order`. One that fails is
    /// logged and left for the next sweep, and the pass goes on past it, so however many keep
    /// failing they cannot hold up everything stored after them.
    pub(super) async fn handle_pending(&self) -> Result<usize> {
        let mut handled = 0;
        let mut after = 0;
        loop {
            let items = {
                let mut tx = self.services.store.read().await?;
                tx.unhandled_inbound(after, 100).await?
            };
            let Some(last) = items.last() else {
                return Ok(handled);
            };
            after = last.id;
            for item in items {
                match self.handle(item.id).await {
                    Ok(()) => handled += 1,
                    Err(e) => {
                        if let Err(e2) = self.handling_failed(&item, &e.to_string()).await {
                            tracing::error!(inbox_id = item.id, error = %e2, "recording the failed attempt failed");
                        }
                    }
                }
            }
        }
    }

    /// Counts a failed attempt at handling `item`; after `[inbox] max_attempts` it becomes a dead
    /// letter: logged once, never tried again, and noted on its conversation's ticket if it has
    /// one. The attempt is counted in a transaction of its own, as the failed one rolled back.
    pub(super) async fn handling_failed(&self, item: &InboxItem, error: &str) -> Result<()> {
        self.maybe_unhandled.store(true, Ordering::SeqCst);
        let now = self.services.now();
        let max = self.services.config.inbox.max_attempts;
        let mut w = self.services.write().await?;
        let attempts = w.tx.inbound_failed(item.id, error).await?;
        if attempts < max {
            w.commit().await?;
            tracing::warn!(
                inbox_id = item.id,
                attempts,
                max,
                error,
                "handling failed; will retry"
            );
            return Ok(());
        }
        if !w.tx.mark_inbound_dead(item.id, now).await? {
            return Ok(());
        }
        tracing::error!(
            inbox_id = item.id,
            attempts,
            error,
            "handling failed for good: a dead letter"
        );
        let msg = &item.inbound;
        // Only the ticket's agents are told; reading the conversation may be what fails, so a
        // failure here still leaves the dead letter recorded.
        let conv = match w
            .tx
            .latest_conversation(&msg.channel, &msg.conversation_key)
            .await
        {
            Ok(conv) => conv,
            Err(e) => {
                tracing::warn!(inbox_id = item.id, error = %e, "dead letter not noted on a ticket");
                w.commit().await?;
                return Ok(());
            }
        };
        if let Some((conv, ticket_id)) = conv.and_then(|c| c.ticket_id.map(|t| (c, t))) {
            let preview: String = msg.text.chars().take(200).collect();
            let note = format!(
                "Could not handle this message after {attempts} attempts ({error}): \"{preview}\""
            );
            let line = w
                .say(&conv, Author::Note, Some("frontline".into()), note, now)
                .await?;
            w.desk_event(ticket_id, DeskEvent::DeadLetter, &line)
                .await?;
        }
        w.commit().await?;
        Ok(())
    }

    /// Handles one stored event exactly once: the "handled" mark is written first (which also
    /// locks the row against a second handler) and commits with its effects.
    pub(super) async fn handle(&self, inbox_id: i64) -> Result<()> {
        let started = std::time::Instant::now();
        let mut w = self.services.write().await?;
        if !w
            .tx
            .mark_inbound_handled(inbox_id, self.services.now())
            .await?
        {
            return Ok(());
        }
        let Some(item) = w.tx.inbox_item(inbox_id).await? else {
            return Ok(());
        };
        w.lock(&item.inbound.channel, &item.inbound.conversation_key)
            .await?;
        let original = self.originals().remove(&item.id);
        self.apply(&mut w, &item, original.as_deref(), None).await?;
        w.commit().await?;
        metrics::histogram!(crate::metrics::HANDLE_SECONDS).record(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// What a stored event does: a customer's message is answered, an agent's thread line acted on.
    /// `context` is the customer message's turn context if it was read ahead for it.
    pub(super) async fn apply(
        &self,
        w: &mut Writer<'_>,
        item: &InboxItem,
        original: Option<&str>,
        context: Option<TurnContext>,
    ) -> Result<()> {
        match item.inbound.sender {
            Sender::Customer => self.handle_item(w, item, original, context).await,
            Sender::Agent => self.desk.platform_line(w, &item.inbound).await,
        }
    }

    async fn handle_item(
        &self,
        w: &mut Writer<'_>,
        item: &InboxItem,
        original: Option<&str>,
        context: Option<TurnContext>,
    ) -> Result<()> {
        let s = &self.services;
        let msg = &item.inbound;
        let now = s.now();
        // The customer, their conversation and what they said in it, in one read.
        let context = match context {
            Some(context) => context,
            None => {
                let key = turn_key(msg);
                w.tx.turn_contexts(&[key]).await?.pop().unwrap_or_default()
            }
        };
        let customer = match context.customer {
            // Nothing to change: a name given is the one stored.
            Some(c) if msg.customer_name.is_none() || msg.customer_name == c.display_name => c,
            _ => {
                w.tx.upsert_customer(
                    &msg.channel,
                    &msg.customer_key,
                    msg.customer_name.as_deref(),
                    now,
                )
                .await?
            }
        };
        let (mut conv, fresh) = self
            .current_conversation(w, msg, customer.id, context.conversation, now)
            .await?;
        if customer.blocked_at.is_some() {
            return self.blocked(w, &mut conv, &customer, msg, now).await;
        }

        let matcher = s.matcher.current();
        // The matcher reads what the customer wrote; everything stored has it redacted.
        let classification = matcher.classify(original.unwrap_or(&msg.text));
        // A conversation opened by this message has nothing earlier to read.
        let earlier: Vec<String> = if fresh {
            Vec::new()
        } else {
            context.customer_lines
        };
        let late_rating = if earlier.is_empty() {
            self.late_rating(w, &conv, &msg.text).await?
        } else {
            None
        };
        // What the bot does is decided before the customer's line is written, so the line is
        // stored with its outcome in one statement.
        let decision = match conv.state {
            ConversationState::Bot | ConversationState::Closed if late_rating.is_none() => {
                let turn = Turn {
                    text: &msg.text,
                    misses: conv.misses,
                    pending_clarify: &conv.clarify,
                    frustrated: policy::looks_frustrated(&msg.text, &earlier),
                };
                Some(decide(
                    &turn,
                    &classification,
                    matcher.as_ref(),
                    &s.config.conversation,
                ))
            }
            _ => None,
        };
        let outcome = decision.as_ref().map(|d| d.action.outcome().as_str());
        let top = classification.candidates.first();
        let customer_line =
            w.tx.append_line(&NewLine {
                conversation_id: conv.id,
                author: Author::Customer,
                author_name: customer.display_name.clone(),
                text: msg.text.clone(),
                at: msg.received_at,
                intent: top.map(|c| c.intent.clone()),
                confidence: top.map(|c| c.score as f64),
                choices: Vec::new(),
                outcome: outcome.map(str::to_string),
            })
            .await?;

        let mut vars = Vars::new();
        vars.insert(
            "customer.name".into(),
            customer.display_name.clone().unwrap_or_default(),
        );
        if let Some((ticket, rating)) = late_rating {
            self.rate_late(w, &conv, ticket, rating, now).await?;
            conv.updated_at = now;
            w.tx.update_conversation(&conv).await?;
            return Ok(());
        }
        match conv.state {
            // The bot is silent; the agents' thread hears what the customer said.
            ConversationState::Escalated | ConversationState::Assigned => {
                if let Some(ticket_id) = conv.ticket_id {
                    desk_rules::customer_wrote(w, ticket_id).await?;
                    w.desk_event(ticket_id, DeskEvent::CustomerLine, &customer_line)
                        .await?;
                }
            }
            ConversationState::Resolved => {
                self.after_close(
                    w,
                    &mut conv,
                    &msg.text,
                    &classification,
                    matcher.as_ref(),
                    &vars,
                    now,
                )
                .await?
            }
            ConversationState::Bot | ConversationState::Closed => {
                let Some(decision) = decision else {
                    unreachable!("decided above for a conversation with the bot")
                };
                conv.misses = decision.misses;
                conv.clarify = decision.clarify;
                let outcome = decision.action.outcome().as_str();
                metrics::counter!(crate::metrics::BOT_OUTCOMES, "outcome" => outcome).increment(1);
                match decision.action {
                    BotAction::Answer { intent } => {
                        let (text, choices) =
                            self.answer_text(&mut conv, matcher.as_ref(), &intent, &vars);
                        self.bot_says(w, &mut conv, &customer, text, choices, now)
                            .await?;
                    }
                    BotAction::Clarify { intents } => {
                        let labels: Vec<String> = intents
                            .iter()
                            .map(|id| {
                                matcher
                                    .intent(id)
                                    .map_or(id.as_str(), |i| i.description.as_str())
                                    .to_string()
                            })
                            .collect();
                        let options: Vec<String> = labels
                            .iter()
                            .enumerate()
                            .map(|(i, label)| format!("{}) {label}", i + 1))
                            .collect();
                        let text = self.template(
                            &s.config.templates.clarify,
                            &[("options", options.join("\n"))],
                        );
                        let choices = choice::numbered(&labels);
                        self.bot_says(w, &mut conv, &customer, text, choices, now)
                            .await?;
                    }
                    BotAction::Rephrase => {
                        let text = self.template(&s.config.templates.rephrase, &[]);
                        let choices = vec![choice::talk_to_a_person()];
                        self.bot_says(w, &mut conv, &customer, text, choices, now)
                            .await?;
                    }
                    BotAction::Escalate(reason) => {
                        // The ticket's subject is what the customer first asked.
                        let subject = earlier.first().unwrap_or(&msg.text);
                        let signal = (reason == EscalationReason::Frustration)
                            .then(|| policy::frustration_signal(&msg.text, &earlier))
                            .flatten();
                        self.escalate(
                            w,
                            &mut conv,
                            &customer,
                            subject,
                            &classification,
                            reason,
                            signal,
                            now,
                        )
                        .await?;
                    }
                }
            }
        }
        conv.updated_at = now;
        w.tx.update_conversation(&conv).await?;
        Ok(())
    }

    /// A blocked customer's message: stored, answered once with the `blocked` notice, then
    /// silence; no ticket is opened and nothing reaches the agents.
    async fn blocked(
        &self,
        w: &mut Writer<'_>,
        conv: &mut Conversation,
        customer: &Customer,
        msg: &Inbound,
        now: Millis,
    ) -> Result<()> {
        w.tx.append_line(&NewLine {
            conversation_id: conv.id,
            author: Author::Customer,
            // The stored name, as on every other customer line.
            author_name: customer.display_name.clone(),
            text: msg.text.clone(),
            at: msg.received_at,
            intent: None,
            confidence: None,
            choices: Vec::new(),
            outcome: None,
        })
        .await?;
        if w.tx.notice_block(conv.customer_id, now).await? {
            let text = self.template(&self.services.config.templates.blocked, &[]);
            w.say(conv, Author::System, None, text, now).await?;
        }
        conv.updated_at = now;
        w.tx.update_conversation(conv).await?;
        Ok(())
    }

    /// The conversation this message belongs to, and whether it was opened for it just now:
    /// `latest` (the newest with its channel and key), or a new one when that is finished, or
    /// resolved and past its reopen window (even if the timer that closes it has not fired yet).
    async fn current_conversation(
        &self,
        w: &mut Writer<'_>,
        msg: &Inbound,
        customer_id: i64,
        latest: Option<Conversation>,
        now: Millis,
    ) -> Result<(Conversation, bool)> {
        if let Some(conv) = latest {
            if conv.state == ConversationState::Resolved {
                if let Some(ticket) = self.ticket_of(w, &conv).await? {
                    if self.reopen_window_over(&ticket, now) {
                        finish_ticket(w, ticket, now).await?;
                        let conv = self.new_conversation(w, msg, customer_id, now).await?;
                        return Ok((conv, true));
                    }
                }
            }
            if conv.state != ConversationState::Closed {
                return Ok((conv, false));
            }
        }
        let conv = self.new_conversation(w, msg, customer_id, now).await?;
        Ok((conv, true))
    }

    async fn new_conversation(
        &self,
        w: &mut Writer<'_>,
        msg: &Inbound,
        customer_id: i64,
        now: Millis,
    ) -> Result<Conversation> {
        let mut conv = Conversation {
            id: 0,
            channel: msg.channel.clone(),
            conversation_key: msg.conversation_key.clone(),
            reply_to: msg.reply_to.clone(),
            customer_id,
            state: ConversationState::Bot,
            misses: 0,
            clarify: Vec::new(),
            ticket_id: None,
            disclosed: false,
            answer_turn: 0,
            created_at: now,
            updated_at: now,
        };
        conv.id = w.tx.create_conversation(&conv).await?;
        Ok(conv)
    }

    pub(super) async fn ticket_of(
        &self,
        w: &mut Writer<'_>,
        conv: &Conversation,
    ) -> Result<Option<Ticket>> {
        Ok(match conv.ticket_id {
            Some(id) => w.tx.ticket(id).await?,
            None => None,
        })
    }

    pub(super) fn reopen_window_over(&self, ticket: &Ticket, now: Millis) -> bool {
        let window = self.services.config.conversation.reopen_window_secs * 1000;
        ticket.resolved_at.is_some_and(|at| now >= at + window)
    }
}
