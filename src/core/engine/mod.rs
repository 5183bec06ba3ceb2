//! The conversation engine: stores every inbound message before handling it, decides, and writes
//! the state change, transcript lines and outbox rows it causes in one transaction.
//!
//! # Layout
//! - this file: [`Engine`], taking events in (redaction, the inbox, group commit).
//! - `handle.rs`: a stored event handled: the customer's turn decided and applied.
//! - `replies.rs`: what the bot says; `escalate.rs`: tickets opened and queue updates;
//!   `closing.rs`: ratings, thanks and reopening after a ticket is resolved.
//! - `timers.rs`: tickets closed after their reopen window, queue updates on time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::clock::Millis;
use crate::core::desk::Desk;
use crate::core::error::{check_text, Result};
use crate::core::group_commit::{
    read_ahead_keys, BatchWrite, GroupCommit, Item, Pending, QueuedItem,
};
use crate::core::message::{Inbound, Sender};
use crate::core::services::{Services, Writer};
use crate::store::{InboxItem, Recorded, TurnContext};

mod closing;
mod escalate;
mod handle;
mod replies;
mod timers;

pub(crate) use escalate::schedule_queue_update;

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
}

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
