//! The conversation engine: stores every inbound message before handling it, decides, and writes
//! the state change, transcript lines and outbox rows it causes in one transaction.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::clock::Millis;
use crate::config::Config;
use crate::core::choice::{self, Choice};
use crate::core::conversation::{Conversation, ConversationState};
use crate::core::customer::Customer;
use crate::core::decide::{decide, BotAction, Turn};
use crate::core::desk::{self as desk_rules, Desk};
use crate::core::desk_event::DeskEvent;
use crate::core::error::{check_text, Result};
use crate::core::group_commit::{
    read_ahead_keys, turn_key, BatchWrite, GroupCommit, Item, Pending, QueuedItem,
};
use crate::core::matcher::{Classification, Matcher};
use crate::core::message::{Author, Inbound, Sender, TranscriptLine};
use crate::core::policy;
use crate::core::services::{Services, Writer};
use crate::core::template::{render, Vars};
use crate::core::ticket::{EscalationReason, Ticket, TicketStatus};
use crate::store::{InboxItem, NewLine, NewTicket, Recorded, Timer, TurnContext};

/// Timer kind that finishes a resolved ticket once its reopen window has passed.
pub const CLOSE_TICKET: &str = "close_ticket";
/// Timer kind that tells a customer still in the queue where they stand.
pub const QUEUE_UPDATE: &str = "queue_update";

#[derive(Clone)]
pub struct Engine {
    services: Arc<Services>,
    /// Agents' lines from platform ticket threads come through the inbox too, and are acted on
    /// by the desk.
    desk: Desk,
    /// Held from storing an event until it is handled, so events are handled in the order
    /// they were stored.
    inbox_order: Arc<tokio::sync::Mutex<()>>,
    /// Privacy: customers' lines are redacted before they are stored (see [`Engine::receive`]).
    privacy: Arc<Redaction>,
    group: Arc<GroupCommit>,
    /// Set when an event may have been left unhandled (a failed attempt, or the start of the
    /// process), so the next batch handles those first and per-conversation order holds.
    maybe_unhandled: Arc<AtomicBool>,
}

/// What the engine needs for redaction: the redactor, and the original text of messages stored
/// redacted but not handled yet, so the matcher still reads what the customer wrote.
#[derive(Default)]
struct Redaction {
    redactor: Option<crate::core::redact::Redactor>,
    originals: std::sync::Mutex<std::collections::HashMap<i64, String>>,
}

pub use crate::core::inbox::Received;

impl Engine {
    pub fn new(services: Arc<Services>) -> Self {
        Self {
            desk: Desk::new(services.clone()),
            privacy: Arc::new(Redaction {
                redactor: Some(crate::core::redact::Redactor::new(
                    &services.config.privacy.redact,
                ))
                .filter(|r| r.is_active()),
                originals: Default::default(),
            }),
            services,
            inbox_order: Arc::default(),
            group: Arc::default(),
            maybe_unhandled: Arc::new(AtomicBool::new(true)),
        }
    }

    pub fn services(&self) -> &Arc<Services> {
        &self.services
    }

    /// Stores the event (deduplicated by channel and external id) and handles it, in one
    /// transaction with the other events that arrive with it (see [`GroupCommit`]). Once this
    /// returns `Ok` the message is stored and, unless handling it failed (then the inbox sweep,
    /// [`Engine::handle_unhandled`], retries it), answered.
    ///
    /// A customer's text is redacted (`[privacy] redact`) before it is stored; the original stays
    /// in memory only until the message is handled, for the matcher. A message handled later by
    /// the sweep (after a failure or a restart) is understood from its redacted text.
    pub async fn receive(&self, mut inbound: Inbound) -> Result<Received> {
        check_text(&inbound.text)?;
        let original = self.redact(&mut inbound);
        self.group.clone().submit(self, inbound, original).await
    }

    /// Makes `write` in the next inbox batch's transaction (see [`crate::core::group_commit`]),
    /// so it shares that batch's disk flush; returns once it has committed.
    pub async fn write_in_batch(&self, write: Arc<dyn BatchWrite>) -> Result<()> {
        self.group.clone().write(self, write).await
    }

    /// Records and handles a batch of events in one transaction, in order, and tells each waiting
    /// caller its outcome; the batch's writes are made first, in the same transaction. If
    /// anything in the batch fails, the whole transaction rolls back and each item goes on its
    /// own instead: an event through [`Engine::record_and_handle`], a write in a transaction of
    /// its own.
    pub(crate) async fn commit_batch(&self, batch: Vec<QueuedItem>) {
        let _order = self.inbox_order.lock().await;
        let events = batch
            .iter()
            .filter(|q| matches!(q.item, Item::Event(_)))
            .count();
        // Events stored earlier and still unhandled (a failed attempt, a crash) go before this
        // batch's events; writes alone do not wait for them.
        if events > 0 && self.maybe_unhandled.swap(false, Ordering::SeqCst) {
            if let Err(e) = self.handle_pending().await {
                self.maybe_unhandled.store(true, Ordering::SeqCst);
                tracing::error!(error = %e, "handling earlier messages failed; the inbox sweep will retry");
            }
        }
        let started = std::time::Instant::now();
        match self.try_batch(&batch).await {
            Ok(outcomes) => {
                let elapsed = started.elapsed().as_secs_f64();
                if events > 0 {
                    metrics::histogram!(crate::metrics::INBOX_BATCH_SIZE).record(events as f64);
                }
                for (queued, received) in batch.into_iter().zip(outcomes) {
                    if let (Item::Event(pending), Some(received)) = (&queued.item, &received) {
                        if !received.duplicate {
                            metrics::counter!(crate::metrics::MESSAGES_RECEIVED, "channel" => pending.inbound.channel.clone())
                                .increment(1);
                            metrics::histogram!(crate::metrics::HANDLE_SECONDS).record(elapsed);
                        }
                    }
                    let _ = queued.done.send(Ok(received));
                }
            }
            Err(e) => {
                if batch.len() > 1 {
                    tracing::warn!(items = batch.len(), error = %e, "a batch failed; taking its items one at a time");
                }
                for queued in batch {
                    let outcome = match queued.item {
                        Item::Event(Pending { inbound, original }) => {
                            self.record_and_handle(inbound, original).await.map(Some)
                        }
                        Item::Write(write) => self.write_alone(write.as_ref()).await.map(|()| None),
                    };
                    let _ = queued.done.send(outcome);
                }
            }
        }
    }

    /// The batch's outcomes, in order: what each event received, `None` for each write.
    async fn try_batch(&self, batch: &[QueuedItem]) -> Result<Vec<Option<Received>>> {
        let now = self.services.now();
        let mut w = self.services.write().await?;
        for queued in batch {
            if let Item::Write(write) = &queued.item {
                write.write(w.tx.as_mut()).await?;
            }
        }
        let events: Vec<&Pending> = batch
            .iter()
            .filter_map(|q| match &q.item {
                Item::Event(pending) => Some(pending),
                Item::Write(_) => None,
            })
            .collect();
        let mut received = self
            .record_and_apply(&mut w, &events, now)
            .await?
            .into_iter();
        w.commit().await?;
        Ok(batch
            .iter()
            .map(|q| match q.item {
                Item::Event(_) => received.next(),
                Item::Write(_) => None,
            })
            .collect())
    }

    /// Stores the batch's events, then handles the new ones, in order.
    async fn record_and_apply(
        &self,
        w: &mut Writer<'_>,
        batch: &[&Pending],
        now: Millis,
    ) -> Result<Vec<Received>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        w.lock_all(batch.iter().map(|p| {
            (
                p.inbound.channel.as_str(),
                p.inbound.conversation_key.as_str(),
            )
        }))
        .await?;
        // Every event of the batch is stored first, in a few multi-row statements.
        let inbound: Vec<&Inbound> = batch.iter().map(|p| &p.inbound).collect();
        let recorded = w.tx.record_handled_inbound_all(&inbound, now).await?;
        let mut contexts = read_ahead(w, batch).await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        for ((pending, recorded), context) in batch.iter().zip(recorded).zip(&mut contexts) {
            let received = match recorded {
                Recorded::Duplicate(id) => Received {
                    inbox_id: id,
                    duplicate: true,
                },
                Recorded::New(id) => {
                    let item = InboxItem {
                        id,
                        inbound: pending.inbound.clone(),
                        handled_at: Some(now),
                    };
                    self.apply(w, &item, pending.original.as_deref(), context.take())
                        .await?;
                    Received {
                        inbox_id: id,
                        duplicate: false,
                    }
                }
            };
            outcomes.push(received);
        }
        Ok(outcomes)
    }

    /// A batch write whose batch failed or was lost, made in a transaction of its own.
    pub(crate) async fn write_alone(&self, write: &dyn BatchWrite) -> Result<()> {
        let mut w = self.services.write().await?;
        write.write(w.tx.as_mut()).await?;
        w.commit().await?;
        Ok(())
    }

    /// [`Engine::record_and_handle`] under the inbox order, for an event whose batch was lost.
    pub(crate) async fn receive_one(
        &self,
        inbound: Inbound,
        original: Option<String>,
    ) -> Result<Received> {
        let _order = self.inbox_order.lock().await;
        self.record_and_handle(inbound, original).await
    }

    /// The one-at-a-time path: stores the event in a transaction of its own, then handles it in
    /// another. A failure to handle it counts one attempt and leaves it for the sweep. The caller
    /// holds `inbox_order`, and events stored earlier were handled before (see
    /// [`Engine::commit_batch`]).
    async fn record_and_handle(
        &self,
        inbound: Inbound,
        original: Option<String>,
    ) -> Result<Received> {
        let mut w = self.services.write().await?;
        let recorded = w.tx.record_inbound(&inbound).await?;
        w.commit().await?;
        match recorded {
            Recorded::Duplicate(id) => Ok(Received {
                inbox_id: id,
                duplicate: true,
            }),
            Recorded::New(id) => {
                metrics::counter!(crate::metrics::MESSAGES_RECEIVED, "channel" => inbound.channel.clone())
                    .increment(1);
                if let Some(original) = original {
                    self.originals().insert(id, original);
                }
                if let Err(e) = self.handle(id).await {
                    let item = InboxItem {
                        id,
                        inbound,
                        handled_at: None,
                    };
                    if let Err(e2) = self.handling_failed(&item, &e.to_string()).await {
                        tracing::error!(inbox_id = id, error = %e2, "recording the failed attempt failed");
                    }
                }
                self.originals().remove(&id);
                Ok(Received {
                    inbox_id: id,
                    duplicate: false,
                })
            }
        }
    }

    /// Redacts a customer's text in place; the original when anything was replaced.
    fn redact(&self, inbound: &mut Inbound) -> Option<String> {
        let redactor = self.privacy.redactor.as_ref()?;
        if inbound.sender != Sender::Customer {
            return None;
        }
        match redactor.redact(&inbound.text) {
            std::borrow::Cow::Borrowed(_) => None,
            std::borrow::Cow::Owned(redacted) => {
                Some(std::mem::replace(&mut inbound.text, redacted))
            }
        }
    }

    fn originals(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<i64, String>> {
        // A panic while holding this lock leaves only a map of strings behind: keep using it.
        self.privacy
            .originals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Handles every stored but unhandled event, oldest first (after a crash, or a failed attempt).
    pub async fn handle_unhandled(&self) -> Result<usize> {
        let _order = self.inbox_order.lock().await;
        self.handle_pending().await
    }

    /// Handles unhandled events oldest first; the caller holds `inbox_order`. One that fails is
    /// logged and left for the next sweep, and the pass goes on past it, so however many keep
    /// failing they cannot hold up everything stored after them.
    async fn handle_pending(&self) -> Result<usize> {
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
    async fn handling_failed(&self, item: &InboxItem, error: &str) -> Result<()> {
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
    async fn handle(&self, inbox_id: i64) -> Result<()> {
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
    async fn apply(
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

    async fn ticket_of(&self, w: &mut Writer<'_>, conv: &Conversation) -> Result<Option<Ticket>> {
        Ok(match conv.ticket_id {
            Some(id) => w.tx.ticket(id).await?,
            None => None,
        })
    }

    fn reopen_window_over(&self, ticket: &Ticket, now: Millis) -> bool {
        let window = self.services.config.conversation.reopen_window_secs * 1000;
        ticket.resolved_at.is_some_and(|at| now >= at + window)
    }

    /// A message after an agent closed the ticket: a rating is kept, thanks or goodbye are
    /// answered, a bare "ok" is let be, anything else reopens the ticket with the same agent.
    #[allow(clippy::too_many_arguments)]
    async fn after_close(
        &self,
        w: &mut Writer<'_>,
        conv: &mut Conversation,
        text: &str,
        classification: &Classification,
        matcher: &dyn Matcher,
        vars: &Vars,
        now: Millis,
    ) -> Result<()> {
        let s = &self.services;
        let Some(mut ticket) = self.ticket_of(w, conv).await? else {
            return Ok(());
        };
        if let Some(rating) = policy::parse_rating(text) {
            ticket.csat = Some(rating);
            w.tx.update_ticket(&ticket).await?;
            let reply = self.template(&s.config.templates.csat_thanks, &[]);
            w.say(conv, Author::Bot, None, reply, now).await?;
            return Ok(());
        }
        if let crate::core::matcher::Verdict::Answer { intent } = &classification.verdict {
            if s.config.conversation.closing_intents.contains(intent) {
                if matcher
                    .intent(intent)
                    .is_some_and(|i| !i.answers.is_empty())
                {
                    let (reply, _) = self.answer_text(conv, matcher, intent, vars);
                    w.say(conv, Author::Bot, None, reply, now).await?;
                }
                return Ok(());
            }
        }
        if policy::is_acknowledgement(text) {
            return Ok(());
        }
        // Reopen, to the same agent if they are still on the team.
        w.tx.cancel_timers(CLOSE_TICKET, ticket.id).await?;
        let agent = match ticket.assignee {
            Some(id) => w.tx.agent(id).await?,
            None => None,
        };
        ticket.resolved_at = None;
        // A rating given for the answer that didn't hold no longer stands.
        ticket.csat = None;
        let who = match &agent {
            Some(a) => {
                ticket.status = TicketStatus::Assigned;
                conv.state = ConversationState::Assigned;
                if s.config.conversation.anonymous_agents {
                    "your support agent".into()
                } else {
                    a.name.clone()
                }
            }
            None => {
                ticket.status = TicketStatus::Open;
                ticket.assignee = None;
                conv.state = ConversationState::Escalated;
                schedule_queue_update(w, &self.services.config, ticket.id, now).await?;
                "our support team".into()
            }
        };
        w.tx.update_ticket(&ticket).await?;
        let reply = self.template(
            &s.config.templates.reopened,
            &[("ticket", ticket.id.to_string()), ("agent", who)],
        );
        let line = w.say(conv, Author::System, None, reply, now).await?;
        w.desk_event(ticket.id, DeskEvent::Reopened, &line).await?;
        Ok(())
    }

    /// A bare rating that opens a new conversation is meant for the customer's last ticket, if
    /// that one was closed without a rating (its reopen window may have ended meanwhile): that
    /// ticket and the rating.
    async fn late_rating(
        &self,
        w: &mut Writer<'_>,
        conv: &Conversation,
        text: &str,
    ) -> Result<Option<(Ticket, i32)>> {
        let Some(rating) = policy::parse_rating(text) else {
            return Ok(None);
        };
        let last =
            w.tx.customer_tickets(conv.customer_id, conv.ticket_id.unwrap_or(0))
                .await?
                .into_iter()
                .next();
        let Some(ticket) = last else {
            return Ok(None);
        };
        if ticket.csat.is_some() || !ticket.status.is_done() {
            return Ok(None);
        }
        Ok(Some((ticket, rating)))
    }

    /// Keeps a late rating (see [`Engine::late_rating`]) and thanks the customer.
    async fn rate_late(
        &self,
        w: &mut Writer<'_>,
        conv: &Conversation,
        mut ticket: Ticket,
        rating: i32,
        now: Millis,
    ) -> Result<()> {
        ticket.csat = Some(rating);
        w.tx.update_ticket(&ticket).await?;
        let reply = self.template(&self.services.config.templates.csat_thanks, &[]);
        w.say(conv, Author::Bot, None, reply, now).await?;
        Ok(())
    }

    /// Opens a ticket about `subject` and tells the customer plainly what happens next. A
    /// frustrated customer's ticket is high priority and names the `signal` that fired.
    #[allow(clippy::too_many_arguments)]
    async fn escalate(
        &self,
        w: &mut Writer<'_>,
        conv: &mut Conversation,
        customer: &Customer,
        subject: &str,
        classification: &Classification,
        reason: EscalationReason,
        signal: Option<String>,
        now: Millis,
    ) -> Result<()> {
        let s = &self.services;
        let subject: String = subject.chars().take(120).collect();
        let described = match &signal {
            Some(signal) => format!("{}: {signal}", reason.describe()),
            None => reason.describe(),
        };
        let mut ticket =
            w.tx.create_ticket(&NewTicket {
                conversation_id: conv.id,
                customer_id: conv.customer_id,
                channel: conv.channel.clone(),
                subject,
                reason: described,
                intents: classification.candidates.clone(),
                created_at: now,
            })
            .await?;
        if reason == EscalationReason::Frustration {
            ticket.priority = crate::core::ticket::Priority::High;
            w.tx.update_ticket(&ticket).await?;
        }
        desk_rules::schedule_sla(w, &s.config, &ticket).await?;
        conv.state = ConversationState::Escalated;
        conv.ticket_id = Some(ticket.id);
        conv.misses = 0;
        conv.clarify.clear();

        let (vars, after_hours) = self.queue_vars(w, ticket.id, now).await?;
        let templates = &s.config.templates;
        let template = if after_hours {
            &templates.escalated_after_hours
        } else {
            &templates.escalated
        };
        let text = self.template(template, &vars);
        schedule_queue_update(w, &self.services.config, ticket.id, now).await?;
        tracing::info!(ticket = ticket.id, reason = %reason.describe(), "conversation escalated");
        let line = self
            .bot_says(w, conv, customer, text, Vec::new(), now)
            .await?;
        w.desk_event(ticket.id, DeskEvent::Opened, &line).await?;
        Ok(())
    }

    /// Where an open ticket stands, as template values: `ticket`, `position`, and `wait` — or,
    /// outside support hours (the flag), `hours` and `back`.
    async fn queue_vars(
        &self,
        w: &mut Writer<'_>,
        ticket_id: i64,
        now: Millis,
    ) -> Result<(Vec<(&'static str, String)>, bool)> {
        let s = &self.services;
        let position = w.tx.queue_position(ticket_id).await?;
        let mut vars = vec![
            ("ticket", ticket_id.to_string()),
            ("position", position.to_string()),
        ];
        let hours = &s.config.support_hours;
        if let Some(back) = hours.next_opening(now) {
            vars.push(("hours", hours.describe()));
            vars.push(("back", hours.local_label(back)));
            return Ok((vars, true));
        }
        let waits = w.tx.recent_claim_waits(s.config.queue.wait_sample).await?;
        let default_wait = s.config.queue.default_wait_minutes * 60_000;
        let wait = policy::expected_wait(position, &waits, default_wait);
        vars.push(("wait", policy::describe_wait(wait)));
        Ok((vars, false))
    }

    /// Tells a customer still waiting where they stand, and plans the next update. Outside
    /// support hours nothing changes, so the next update waits for the team's return.
    async fn queue_update(&self, w: &mut Writer<'_>, ticket: &Ticket, now: Millis) -> Result<()> {
        if ticket.status != TicketStatus::Open {
            return Ok(());
        }
        if let Some(back) = self.services.config.support_hours.next_opening(now) {
            w.tx.schedule_timer(QUEUE_UPDATE, ticket.id, back).await?;
            return Ok(());
        }
        let Some(conv) = w.tx.conversation(ticket.conversation_id).await? else {
            return Ok(());
        };
        let (vars, _) = self.queue_vars(w, ticket.id, now).await?;
        let text = self.template(&self.services.config.templates.queue_update, &vars);
        w.say(&conv, Author::System, None, text, now).await?;
        schedule_queue_update(w, &self.services.config, ticket.id, now).await
    }

    /// The bot's reply to `customer`; the first reply of a conversation also says it is
    /// automated.
    async fn bot_says(
        &self,
        w: &mut Writer<'_>,
        conv: &mut Conversation,
        customer: &Customer,
        text: String,
        choices: Vec<Choice>,
        now: Millis,
    ) -> Result<TranscriptLine> {
        let text = if conv.disclosed {
            text
        } else {
            conv.disclosed = true;
            let disclosure = self.template(&self.services.config.templates.disclosure, &[]);
            match self.returning_name(w, conv, customer).await? {
                Some(name) => {
                    let welcome = self.template(
                        &self.services.config.templates.welcome_back,
                        &[("customer.name", name)],
                    );
                    format!("{welcome} {disclosure}\n\n{text}")
                }
                None => format!("{disclosure}\n\n{text}"),
            }
        };
        Ok(
            w.say_with_choices(conv, Author::Bot, None, text, choices, now)
                .await?,
        )
    }

    /// The name of the conversation's customer if they had a conversation before this one, to
    /// greet them by it. `customer` is the one who wrote, as read in this transaction: when they
    /// are the conversation's customer and have no name, nothing needs to be read.
    async fn returning_name(
        &self,
        w: &mut Writer<'_>,
        conv: &Conversation,
        customer: &Customer,
    ) -> Result<Option<String>> {
        let name = if customer.id == conv.customer_id {
            customer.display_name.clone()
        } else {
            w.tx.customer(conv.customer_id)
                .await?
                .and_then(|c| c.display_name)
        };
        let Some(name) = name.filter(|n| !n.trim().is_empty()) else {
            return Ok(None);
        };
        let earlier =
            w.tx.earlier_conversations(conv.customer_id, conv.id)
                .await?;
        Ok((earlier > 0).then_some(name))
    }

    /// The intent's answer (variants in turn), with related questions if it has any, listed in
    /// the text and offered as buttons.
    fn answer_text(
        &self,
        conv: &mut Conversation,
        matcher: &dyn Matcher,
        intent: &str,
        vars: &Vars,
    ) -> (String, Vec<Choice>) {
        let Some(info) = matcher.intent(intent) else {
            return (String::new(), Vec::new());
        };
        if info.answers.is_empty() {
            return (String::new(), Vec::new());
        }
        let variant = &info.answers[conv.answer_turn.unsigned_abs() as usize % info.answers.len()];
        conv.answer_turn = conv.answer_turn.wrapping_add(1);
        let mut text = render(variant, &[vars, &self.services.vars]);
        if !info.quick_replies.is_empty() {
            let related = self.template(
                &self.services.config.templates.related,
                &[("options", info.quick_replies.join(", "))],
            );
            text = format!("{text}\n\n{related}");
        }
        let choices = info
            .quick_replies
            .iter()
            .map(|q| Choice::new(q.clone(), q.clone()))
            .collect();
        (text, choices)
    }

    fn template(&self, template: &str, extra: &[(&str, String)]) -> String {
        self.services.render(template, extra)
    }

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

/// Plans the next "where you stand" message for a ticket waiting in the queue; one chain of
/// updates per ticket, however often it went back to the queue.
/// The turn contexts of the batch's events that may be read before any of them is handled (see
/// [`read_ahead_keys`]), all in one read; `None` for the others, which read their own.
async fn read_ahead(w: &mut Writer<'_>, batch: &[&Pending]) -> Result<Vec<Option<TurnContext>>> {
    let keys = read_ahead_keys(batch);
    let wanted: Vec<_> = keys.iter().flatten().copied().collect();
    let mut read = w.tx.turn_contexts(&wanted).await?.into_iter();
    Ok(keys
        .iter()
        .map(|key| key.and_then(|_| read.next()))
        .collect())
}

pub(crate) async fn schedule_queue_update(
    w: &mut Writer<'_>,
    config: &Config,
    ticket_id: i64,
    now: Millis,
) -> Result<()> {
    w.tx.cancel_timers(QUEUE_UPDATE, ticket_id).await?;
    let every = config.queue.update_minutes * 60_000;
    if every > 0 {
        w.tx.schedule_timer(QUEUE_UPDATE, ticket_id, now + every)
            .await?;
    }
    Ok(())
}

/// A resolved ticket whose reopen window is over: closed for good, with its conversation.
async fn finish_ticket(w: &mut Writer<'_>, mut ticket: Ticket, now: Millis) -> Result<()> {
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
