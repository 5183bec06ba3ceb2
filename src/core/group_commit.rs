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

use std::time::Duration;

use crate::core::batcher::{BatchLimits, Batcher, Queued};
use crate::core::engine::Engine;
use crate::core::error::Result;
use crate::core::inbox::Received;
use crate::core::message::Inbound;

/// One event waiting for its batch.
pub(crate) struct Pending {
    pub inbound: Inbound,
    /// The customer's text before redaction, for the matcher only.
    pub original: Option<String>,
}

/// An event in a batch, with where its outcome goes.
pub(crate) type QueuedEvent = Queued<Pending, Result<Received>>;

#[derive(Default)]
pub(crate) struct GroupCommit {
    batcher: Batcher<Pending, Result<Received>>,
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
        let config = &engine.services().config.inbox;
        let limits = BatchLimits {
            max: config.batch_max,
            wait: Duration::from_micros(config.batch_wait_us),
        };
        // Kept for the case where the batch that takes the event panics before committing: then
        // nothing of it is stored, and it is handled on its own.
        let retry = (inbound.clone(), original.clone());
        let pending = Pending { inbound, original };
        let outcome = self
            .batcher
            .submit(pending, limits, |batch| {
                let engine = engine.clone();
                async move { engine.commit_batch(batch).await }
            })
            .await;
        match outcome {
            Some(received) => received,
            None => engine.receive_one(retry.0, retry.1).await,
        }
    }
}
