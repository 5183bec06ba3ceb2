//! Taking turns in batches: callers queue an item and wait; whoever gets the turn takes
//! everything queued (up to a bound) and runs it as one batch, in arrival order. While that
//! batch runs, new arrivals queue up and go in the next one, so batches grow with the load on
//! their own and a lone item waits for nobody. Used where a batch shares one transaction, so a
//! burst costs one disk flush instead of one per item ([`crate::core::group_commit`], and the
//! web chat's new sessions).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot::{self, error::TryRecvError};

/// One item in a batch, with where its result goes.
pub(crate) struct Queued<T, R> {
    pub item: T,
    pub done: oneshot::Sender<R>,
}

/// How a batch is formed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchLimits {
    /// At most this many items a batch (at least 1).
    pub max: usize,
    /// How long the turn's holder waits for more items when fewer than `max` are queued.
    pub wait: Duration,
}

pub(crate) struct Batcher<T, R> {
    queue: std::sync::Mutex<VecDeque<Queued<T, R>>>,
    /// Held while a batch runs.
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl<T, R> Default for Batcher<T, R> {
    fn default() -> Self {
        Self {
            queue: std::sync::Mutex::new(VecDeque::new()),
            turn: Arc::default(),
        }
    }
}

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    /// Queues `item` and returns its result once the batch that took it has run. `run` must
    /// answer every item of its batch. `None`: the batch that took the item stopped before
    /// answering it (its task panicked), so the caller decides what to do with it alone.
    pub(crate) async fn submit<F, Fut>(&self, item: T, limits: BatchLimits, run: F) -> Option<R>
    where
        F: Fn(Vec<Queued<T, R>>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (done, mut result) = oneshot::channel();
        self.queue().push_back(Queued { item, done });
        let max = limits.max.max(1);
        loop {
            let turn = self.turn.clone().lock_owned().await;
            match result.try_recv() {
                Ok(r) => return Some(r),
                Err(TryRecvError::Closed) => return None,
                Err(TryRecvError::Empty) => {}
            }
            if !limits.wait.is_zero() && self.queue().len() < max {
                tokio::time::sleep(limits.wait).await;
            }
            let batch: Vec<Queued<T, R>> = {
                let mut queue = self.queue();
                let n = queue.len().min(max);
                queue.drain(..n).collect()
            };
            if batch.is_empty() {
                // Only a batch still to send our result could have taken it; wait for that.
                drop(turn);
                return result.await.ok();
            }
            // A task of its own, so the batch completes even if this caller stops waiting.
            let batch = run(batch);
            let _ = tokio::spawn(async move {
                let _turn = turn;
                batch.await;
            })
            .await;
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Queued<T, R>>> {
        // Only plain data is held under this lock; a panic elsewhere leaves it usable.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// For a `run` whose batch shares one operation: sends each item of `batch` its part of `done`
/// (one result per item, in order); if the shared operation failed, does each item again on its
/// own with `alone`, so one bad item never fails the others (a lone item gets its error as it
/// is).
pub(crate) async fn answer_each<T, R, E, F, Fut>(
    batch: Vec<Queued<T, Result<R, E>>>,
    done: Result<Vec<R>, E>,
    alone: F,
) where
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<R, E>>,
{
    match done {
        Ok(results) => {
            for (queued, result) in batch.into_iter().zip(results) {
                let _ = queued.done.send(Ok(result));
            }
        }
        Err(e) if batch.len() == 1 => {
            if let Some(queued) = batch.into_iter().next() {
                let _ = queued.done.send(Err(e));
            }
        }
        Err(_) => {
            for queued in batch {
                let result = alone(queued.item).await;
                let _ = queued.done.send(result);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn limits(max: usize) -> BatchLimits {
        BatchLimits {
            max,
            wait: Duration::ZERO,
        }
    }

    #[tokio::test]
    async fn items_that_arrive_together_share_a_batch_in_order_and_each_gets_its_own_result() {
        let batcher = Arc::new(Batcher::<u32, u32>::default());
        let batches = Arc::new(std::sync::Mutex::new(Vec::<Vec<u32>>::new()));
        // Hold the turn, so everything submitted meanwhile queues up.
        let held = batcher.turn.clone().lock_owned().await;
        let mut calls = Vec::new();
        for i in 0..5 {
            let (batcher, batches) = (batcher.clone(), batches.clone());
            calls.push(tokio::spawn(async move {
                batcher
                    .submit(i, limits(3), move |batch| {
                        let batches = batches.clone();
                        async move {
                            batches
                                .lock()
                                .unwrap()
                                .push(batch.iter().map(|q| q.item).collect());
                            for q in batch {
                                let _ = q.done.send(q.item * 10);
                            }
                        }
                    })
                    .await
            }));
            tokio::task::yield_now().await;
        }
        while batcher.queue().len() < 5 {
            tokio::task::yield_now().await;
        }
        drop(held);
        for (i, call) in calls.into_iter().enumerate() {
            assert_eq!(call.await.unwrap(), Some(i as u32 * 10));
        }
        assert_eq!(*batches.lock().unwrap(), vec![vec![0, 1, 2], vec![3, 4]]);
    }

    #[tokio::test]
    async fn an_item_whose_batch_panicked_comes_back_as_none_and_the_next_batch_runs() {
        let batcher = Batcher::<u32, u32>::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let run = |batch: Vec<Queued<u32, u32>>| {
            let runs = runs.clone();
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                for q in batch {
                    assert_ne!(q.item, 13, "a batch that fails");
                    let _ = q.done.send(q.item);
                }
            }
        };
        assert_eq!(batcher.submit(13, limits(8), run).await, None);
        assert_eq!(batcher.submit(7, limits(8), run).await, Some(7));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}
