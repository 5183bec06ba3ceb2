//! What the engine, the desk and the workers share: the store, the clock, the matcher, the config,
//! and the one write lock.
//!
//! All writes go through [`Services::write`]. In one process they take turns, which keeps SQLite
//! (one writer at a time) free of lock errors. Across instances sharing PostgreSQL, what must not
//! interleave is serialised per conversation ([`Writer::lock`]): every change to a conversation
//! is made under its lock, so its transcript ids commit in increasing order, which is what lets
//! clients poll with "everything after seq N" without missing a line.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::{watch, Mutex, MutexGuard, Notify};

use crate::clock::{Clock, Millis};
use crate::config::Config;
use crate::core::choice::Choice;
use crate::core::conversation::Conversation;
use crate::core::desk_event::DeskEvent;
use crate::core::matcher::MatcherHandle;
use crate::core::message::{Author, TranscriptLine};
use crate::core::template::Vars;
use crate::core::ticket::Ticket;
use crate::store::{conversation_lock_key, Lane, NewLine, NewOutbox, Store, Tx};

/// Shards of the long-poll wake-ups: a commit wakes the readers of the shards it wrote to, so
/// with many open chats a reply wakes a few polls instead of all of them. At most 64 (a `u64`
/// mask in the writer).
const CHANGE_SHARDS: usize = 64;

fn change_shard(lock_key: i32) -> usize {
    lock_key as u32 as usize % CHANGE_SHARDS
}

pub struct Services {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub matcher: MatcherHandle,
    pub config: Arc<Config>,
    /// `[vars]` flattened once at start.
    pub vars: Vars,
    write_lock: Mutex<()>,
    /// Woken after a commit that queued outbound messages.
    pub outbox_wake: Notify,
    /// Bumped after a commit, so long-polling readers know to look again: one counter per shard
    /// of conversations (see [`Services::subscribe`]).
    changes: Box<[watch::Sender<u64>]>,
    /// Channels whose customers read the transcript itself (the web chat): a line is delivered
    /// when it commits, so it gets no outbox row.
    delivered_on_commit: HashSet<String>,
}

impl Services {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        matcher: MatcherHandle,
        config: Arc<Config>,
    ) -> Self {
        let vars = config.vars();
        Self {
            store,
            clock,
            matcher,
            config,
            vars,
            write_lock: Mutex::new(()),
            outbox_wake: Notify::new(),
            changes: (0..CHANGE_SHARDS).map(|_| watch::channel(0).0).collect(),
            delivered_on_commit: HashSet::new(),
        }
    }

    /// Names the channels whose lines are delivered by their commit (see
    /// [`crate::channels::CustomerChannel::delivered_on_commit`]).
    pub fn with_delivered_on_commit(mut self, channels: impl IntoIterator<Item = String>) -> Self {
        self.delivered_on_commit = channels.into_iter().collect();
        self
    }

    pub fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    /// Takes the write lock and opens a write transaction.
    pub async fn write(&self) -> crate::store::Result<Writer<'_>> {
        let guard = self.write_lock.lock().await;
        let tx = self.store.begin().await?;
        Ok(Writer {
            services: self,
            _guard: guard,
            tx,
            queued: false,
            sent_on_commit: Vec::new(),
            locked: HashSet::new(),
            touched: 0,
        })
    }

    /// Renders one of the bot's own templates with `extra` values on top of `[vars]`.
    pub fn render(&self, template: &str, extra: &[(&str, String)]) -> String {
        let extra: Vars = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        crate::core::template::render(template, &[&extra, &self.vars])
    }

    /// A receiver that changes after every commit that wrote to the conversation with this
    /// channel and key (or to one of the few others that share its shard).
    pub fn subscribe(&self, channel: &str, conversation_key: &str) -> watch::Receiver<u64> {
        self.changes[Self::change_shard(channel, conversation_key)].subscribe()
    }

    /// Which shard of long-poll wake-ups the conversation with this channel and key is in.
    pub fn change_shard(channel: &str, conversation_key: &str) -> usize {
        change_shard(conversation_lock_key(channel, conversation_key))
    }

    /// Wakes the readers of the shards in `mask` (bit i: shard i).
    fn announce(&self, mask: u64) {
        for (i, changes) in self.changes.iter().enumerate() {
            if mask & (1 << i) != 0 {
                changes.send_modify(|n| *n += 1);
            }
        }
    }

    /// The platform where ticket cards and threads go, or `None` when agents work in the web
    /// console only (it reads the tickets straight from the store, so nothing is sent).
    pub fn desk_platform(&self) -> Option<&'static str> {
        self.config.desk.platform.channel()
    }
}

/// A write transaction under the write lock. Dropping it without [`Writer::commit`] rolls back.
pub struct Writer<'a> {
    services: &'a Services,
    _guard: MutexGuard<'a, ()>,
    pub tx: Box<dyn Tx>,
    queued: bool,
    /// Channels of lines that are delivered by this commit, for the sent-messages count.
    sent_on_commit: Vec<String>,
    /// Conversation locks this transaction holds.
    locked: HashSet<i32>,
    /// Change shards of the conversations this transaction wrote to (every write to a
    /// conversation takes its lock first, see [`Writer::lock`]), whose readers its commit wakes.
    touched: u64,
}

impl Writer<'_> {
    pub async fn commit(self) -> crate::store::Result<()> {
        let Writer {
            services,
            _guard,
            tx,
            queued,
            sent_on_commit,
            locked: _,
            touched,
        } = self;
        tx.commit().await?;
        drop(_guard);
        if queued {
            services.outbox_wake.notify_one();
        }
        for channel in sent_on_commit {
            metrics::counter!(crate::metrics::MESSAGES_SENT, "channel" => channel).increment(1);
        }
        // Lines are written only under their conversation's lock, so a commit that took none
        // (a new chat's session, an agent's sign-in) wakes nobody.
        services.announce(touched);
        Ok(())
    }

    /// Takes the lock of the conversation with this channel and key (see
    /// [`crate::store::LockStore`]) for the rest of the transaction; true when it was taken just
    /// now, so whatever was read of the conversation before may be stale.
    pub async fn lock(&mut self, channel: &str, key: &str) -> crate::store::Result<bool> {
        let key = conversation_lock_key(channel, key);
        self.touched |= 1 << change_shard(key);
        if !self.tx.locks_conversations() {
            return Ok(false);
        }
        if !self.locked.insert(key) {
            return Ok(false);
        }
        self.tx.lock_conversation(key).await?;
        Ok(true)
    }

    /// Takes the locks of several conversations (a batch of events) in one fixed order, so two
    /// instances taking overlapping sets can never wait for each other.
    pub async fn lock_all<'k>(
        &mut self,
        conversations: impl Iterator<Item = (&'k str, &'k str)>,
    ) -> crate::store::Result<()> {
        let keys = conversations.map(|(channel, key)| conversation_lock_key(channel, key));
        if !self.tx.locks_conversations() {
            for key in keys {
                self.touched |= 1 << change_shard(key);
            }
            return Ok(());
        }
        let mut keys: Vec<i32> = keys
            .inspect(|&key| self.touched |= 1 << change_shard(key))
            .filter(|key| !self.locked.contains(key))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            self.tx.lock_conversation(key).await?;
            self.locked.insert(key);
        }
        Ok(())
    }

    /// The ticket, read under the lock of its conversation, for a change to it.
    pub async fn lock_ticket(&mut self, ticket_id: i64) -> crate::store::Result<Option<Ticket>> {
        let Some(ticket) = self.tx.ticket(ticket_id).await? else {
            return Ok(None);
        };
        if !self.tx.locks_conversations() {
            return Ok(Some(ticket));
        }
        let Some(conv) = self.tx.conversation(ticket.conversation_id).await? else {
            return Ok(Some(ticket));
        };
        if self.lock(&conv.channel, &conv.conversation_key).await? {
            return self.tx.ticket(ticket_id).await;
        }
        Ok(Some(ticket))
    }

    /// Appends a line to the conversation and, if the customer may see it and did not write it,
    /// queues it for delivery on the conversation's channel, in this same transaction.
    pub async fn say(
        &mut self,
        conversation: &Conversation,
        author: Author,
        author_name: Option<String>,
        text: String,
        at: Millis,
    ) -> crate::store::Result<TranscriptLine> {
        self.say_with_choices(conversation, author, author_name, text, Vec::new(), at)
            .await
    }

    /// [`Writer::say`] with buttons for the customer.
    pub async fn say_with_choices(
        &mut self,
        conversation: &Conversation,
        author: Author,
        author_name: Option<String>,
        text: String,
        choices: Vec<Choice>,
        at: Millis,
    ) -> crate::store::Result<TranscriptLine> {
        self.lock(&conversation.channel, &conversation.conversation_key)
            .await?;
        let line = self
            .tx
            .append_line(&NewLine {
                conversation_id: conversation.id,
                author,
                author_name: author_name.clone(),
                text,
                at,
                intent: None,
                confidence: None,
                choices,
                outcome: None,
            })
            .await?;
        if author.customer_visible() && author != Author::Customer {
            if self
                .services
                .delivered_on_commit
                .contains(&conversation.channel)
            {
                self.sent_on_commit.push(conversation.channel.clone());
                return Ok(line);
            }
            self.tx
                .enqueue(&NewOutbox {
                    conversation_id: conversation.id,
                    lane: Lane::Customer,
                    channel: conversation.channel.clone(),
                    recipient: conversation.reply_to.clone(),
                    line_id: line.id,
                    author,
                    author_name,
                    text: line.text.clone(),
                    choices: line.choices.clone(),
                    ticket_id: None,
                    event: None,
                    created_at: at,
                })
                .await?;
            self.queued = true;
        }
        Ok(line)
    }

    /// Tells the desk platform what happened to a ticket, with `line` (already in the
    /// transcript) as the text to show; nothing when agents work in the web console only.
    pub async fn desk_event(
        &mut self,
        ticket_id: i64,
        event: DeskEvent,
        line: &TranscriptLine,
    ) -> crate::store::Result<()> {
        let Some(platform) = self.services.desk_platform() else {
            return Ok(());
        };
        self.tx
            .enqueue(&NewOutbox {
                conversation_id: line.conversation_id,
                lane: Lane::Desk,
                channel: platform.to_string(),
                recipient: ticket_id.to_string(),
                line_id: line.id,
                author: line.author,
                author_name: line.author_name.clone(),
                text: line.text.clone(),
                choices: Vec::new(),
                ticket_id: Some(ticket_id),
                event: Some(event),
                // Due now: a line's time can be the platform's (a Discord message's timestamp),
                // which may be ahead of this clock and would hold the desk lane back.
                created_at: self.services.now(),
            })
            .await?;
        self.queued = true;
        Ok(())
    }
}
