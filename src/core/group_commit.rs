//! Group commit for the inbox: inbound events that arrive together are recorded, handled and
//! their replies written in one transaction, so a burst costs one disk flush instead of one per
//! message. The events take turns in batches through a [`Batcher`] (bounded by `[inbox]
//! batch_max` and `batch_wait_us`), in arrival order.
//!
//! What a crash does: before the batch commits, none of its events are stored, and no caller has
//! been told they are (their requests fail, and a client retrying with the same id is
//! deduplicated); after it commits, all of them are stored, handled and answered. An event that
//! fails inside a batch rolls the batch back; each of its events is then taken through the
//! one-at-a-time path (stored in a transaction of its own, then handled, a failure counting
//! toward the inbox's attempt limit), so one bad event never holds up the others.
//!
//! Other writes that must be stored before their caller goes on (a new web chat's customer and
//! session) can ride in the same batches as a [`BatchWrite`], sharing the batch's disk flush
//! instead of taking one of their own; they are made first, and made again in a transaction of
//! their own if the batch fails.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::core::batcher::{BatchLimits, Batcher, Queued};
use crate::core::engine::Engine;
use crate::core::error::Result;
use crate::core::inbox::Received;
use crate::core::message::{Inbound, Sender};
use crate::store::{TurnKey, Tx};

/// One event waiting for its batch.
pub(crate) struct Pending {
    pub inbound: Inbound,
    /// The customer's text before redaction, for the matcher only.
    pub original: Option<String>,
}

/// A write that shares the inbox's next batch transaction (see the module doc).
#[async_trait]
pub trait BatchWrite: Send + Sync {
    /// Makes the write in `tx`, which the caller commits. If the batch fails, this is called
    /// again in a transaction of its own, so it must not count on state kept from the first call.
    async fn write(&self, tx: &mut dyn Tx) -> Result<()>;
}

/// What a batch takes.
pub(crate) enum Item {
    Event(Pending),
    Write(Arc<dyn BatchWrite>),
}

/// An item in a batch, with where its outcome goes: `None` for a write.
pub(crate) type QueuedItem = Queued<Item, Result<Option<Received>>>;

#[derive(Default)]
pub(crate) struct GroupCommit {
    batcher: Batcher<Item, Result<Option<Received>>>,
}

impl GroupCommit {
    /// Queues the event and returns once the batch that took it has committed (or it was handled
    /// on its own after the batch failed).
    pub(crate) async fn submit(
        &self,
        engine: &Engine,
        inbound: Inbound,
        original: Option<String>,
    ) -> Result<Received> {
        // Kept for the case where the batch that takes the event panics before committing: then
        // nothing of it is stored, and it is handled on its own.
        let retry = (inbound.clone(), original.clone());
        let pending = Pending { inbound, original };
        match self.run(engine, Item::Event(pending)).await {
            Some(Ok(Some(received))) => Ok(received),
            Some(Ok(None)) => unreachable!("an event's outcome is what it received"),
            Some(Err(e)) => Err(e),
            None => engine.receive_one(retry.0, retry.1).await,
        }
    }

    /// Makes `write` in the next batch transaction and returns once it has committed (or was
    /// made and committed on its own after the batch failed).
    pub(crate) async fn write(&self, engine: &Engine, write: Arc<dyn BatchWrite>) -> Result<()> {
        match self.run(engine, Item::Write(write.clone())).await {
            Some(outcome) => outcome.map(|_| ()),
            None => engine.write_alone(write.as_ref()).await,
        }
    }

    async fn run(&self, engine: &Engine, item: Item) -> Option<Result<Option<Received>>> {
        let config = &engine.services().config.inbox;
        let limits = BatchLimits {
            max: config.batch_max,
            wait: Duration::from_micros(config.batch_wait_us),
        };
        self.batcher
            .submit(item, limits, |batch| {
                let engine = engine.clone();
                async move { engine.commit_batch(batch).await }
            })
            .await
    }
}

/// Whose turn context the customer message reads.
pub(crate) fn turn_key(inbound: &Inbound) -> TurnKey<'_> {
    TurnKey {
        channel: &inbound.channel,
        customer_key: &inbound.customer_key,
        conversation_key: &inbound.conversation_key,
    }
}

/// For each event of a batch, the turn context to read for it before the batch is handled, so
/// the batch reads them all in one statement; `None` where that read could be out of date by
/// the time the event is handled: an agent's event, and everything after one (it may change any
/// conversation), and a customer message whose customer or conversation an earlier message of
/// the batch writes to. A customer's message writes only to its own customer and conversation,
/// and what it adds (tickets, cards) is not part of anyone's turn context.
pub(crate) fn read_ahead_keys<'a>(batch: &[&'a Pending]) -> Vec<Option<TurnKey<'a>>> {
    let mut customers = HashSet::new();
    let mut conversations = HashSet::new();
    let mut after_agent = false;
    batch
        .iter()
        .map(|pending| {
            let inbound = &pending.inbound;
            if inbound.sender != Sender::Customer {
                after_agent = true;
            }
            let customer_new = customers.insert((&inbound.channel, &inbound.customer_key));
            let conversation_new =
                conversations.insert((&inbound.channel, &inbound.conversation_key));
            (!after_agent && customer_new && conversation_new).then(|| turn_key(inbound))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(customer: &str, conversation: &str, sender: Sender) -> Pending {
        Pending {
            inbound: Inbound {
                channel: "test".into(),
                external_id: format!("{customer}/{conversation}"),
                customer_key: customer.into(),
                customer_name: None,
                conversation_key: conversation.into(),
                reply_to: conversation.into(),
                text: "hi".into(),
                received_at: 0,
                sender,
            },
            original: None,
        }
    }

    #[test]
    fn only_contexts_nothing_earlier_in_the_batch_writes_to_are_read_ahead() {
        let batch = [
            event("ann", "chat-ann", Sender::Customer),
            event("bo", "chat-bo", Sender::Customer),
            // Ann again: her first message changes her conversation.
            event("ann", "chat-ann", Sender::Customer),
            // Bo in another conversation: his customer row may change.
            event("bo", "thread-bo", Sender::Customer),
            // Someone else in Bo's conversation.
            event("cy", "chat-bo", Sender::Customer),
            event("dee", "chat-dee", Sender::Customer),
            // An agent's line may change any conversation: nothing after it is read ahead.
            event("agent", "thread-1", Sender::Agent),
            event("eli", "chat-eli", Sender::Customer),
        ];
        let refs: Vec<&Pending> = batch.iter().collect();
        let keys = read_ahead_keys(&refs);
        let read: Vec<Option<&str>> = keys.iter().map(|k| k.map(|k| k.conversation_key)).collect();
        assert_eq!(
            read,
            vec![
                Some("chat-ann"),
                Some("chat-bo"),
                None,
                None,
                None,
                Some("chat-dee"),
                None,
                None
            ]
        );
        assert_eq!(keys[0].unwrap().customer_key, "ann");
        assert_eq!(keys[0].unwrap().channel, "test");
    }
}
