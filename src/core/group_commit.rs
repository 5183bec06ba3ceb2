//! Group commit for the inbox: inbound events that arrive together are recorded, handled and
//! their replies written in one transaction, so a burst costs one disk flush instead of one per
//! message.
//!
//! Every caller of [`GroupCommit::submit`] queues its event and waits for its turn; whoever gets
//! the turn takes everything queued (up to `[inbox] batch_max`) and commits it as one batch, in
//! arrival order. While that batch commits, new arrivals queue up and go in the next one, so
//! batches grow with the load on their own and a lone message waits for nobody.
//!
//! What a crash does: before the batch commits, none of its events are stored, and no caller has
//! been told they are (their requests fail, and a client retrying with the same id is
//! deduplicated); after it commits, all of them are stored, handled and answered. An event that
//! fails inside a batch rolls the batch back; each of its events is then taken through the
//! one-at-a-time path (stored in a transaction of its own, then handled, a failure counting
//! toward the inbox's attempt limit), so one bad event never holds up the others.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot::{self, error::TryRecvError};

use crate::core::engine::Engine;
use crate::core::error::Result;
use crate::core::inbox::Received;
use crate::core::message::Inbound;

/// One event waiting for its batch.
pub(crate) struct Pending {
    pub inbound: Inbound,
    /// The customer's text before redaction, for the matcher only.
    pub original: Option<String>,
    pub done: oneshot::Sender<Result<Received>>,
}

#[derive(Default)]
pub(crate) struct GroupCommit {
    queue: std::sync::Mutex<VecDeque<Pending>>,
    /// Held while a batch is being committed.
    turn: Arc<tokio::sync::Mutex<()>>,
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
        let (done, mut result) = oneshot::channel();
        self.queue().push_back(Pending {
            inbound: inbound.clone(),
            original: original.clone(),
            done,
        });
        let config = &engine.services().config.inbox;
        let max = config.batch_max.max(1);
        let wait = Duration::from_micros(config.batch_wait_us);
        loop {
            let turn = self.turn.clone().lock_owned().await;
            match result.try_recv() {
                Ok(received) => return received,
                // The batch that took it panicked before committing, so nothing of it is stored.
                Err(TryRecvError::Closed) => {
                    drop(turn);
                    return engine.receive_one(inbound, original).await;
                }
                Err(TryRecvError::Empty) => {}
            }
            if !wait.is_zero() && self.queue().len() < max {
                tokio::time::sleep(wait).await;
            }
            let batch: Vec<Pending> = {
                let mut queue = self.queue();
                let n = queue.len().min(max);
                queue.drain(..n).collect()
            };
            if batch.is_empty() {
                // Only a batch still to send our result could have taken it; wait for that.
                drop(turn);
                return match result.await {
                    Ok(received) => received,
                    Err(_) => engine.receive_one(inbound, original).await,
                };
            }
            // A task of its own, so the batch completes even if this caller stops waiting.
            let engine = engine.clone();
            let _ = tokio::spawn(async move {
                let _turn = turn;
                engine.commit_batch(batch).await;
            })
            .await;
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Pending>> {
        // Only plain data is held under this lock; a panic elsewhere leaves it usable.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}
