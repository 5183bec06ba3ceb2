//! What the engine, the desk and the workers share: the store, the clock, the matcher, the config,
//! and the one write lock.
//!
//! All writes go through [`Services::write`]. Serialising them keeps SQLite free of lock errors
//! and makes transcript ids commit in increasing order, which is what lets clients poll with
//! "everything after seq N" without missing a line.

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
use crate::store::{Lane, NewLine, NewOutbox, Store, Tx};

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
    /// Bumped after every commit, so long-polling readers know to look again.
    changes: watch::Sender<u64>,
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
            changes: watch::channel(0).0,
        }
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

    /// A receiver that changes after every commit.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
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
}

impl Writer<'_> {
    pub async fn commit(self) -> crate::store::Result<()> {
        let Writer {
            services,
            _guard,
            tx,
            queued,
        } = self;
        tx.commit().await?;
        drop(_guard);
        if queued {
            services.outbox_wake.notify_one();
        }
        services.changes.send_modify(|n| *n += 1);
        Ok(())
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
            })
            .await?;
        if author.customer_visible() && author != Author::Customer {
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
