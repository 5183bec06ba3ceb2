//! Checkpoints of the SQLite store: copying what the write-ahead log holds back into the database
//! file, then syncing that file. They run on a connection of their own in the background, every
//! [`CHECKPOINT_EVERY`], instead of inside whichever commit happens to fill the log past SQLite's
//! threshold: that commit, and every message waiting behind it, would otherwise pay for copying
//! and syncing up to a thousand pages. Durability is unchanged: a commit is durable once the log
//! is synced (`synchronous = FULL`), and a crash in the middle of a checkpoint leaves the log to
//! be replayed on the next open.
//!
//! A checkpoint that runs while writers commit never catches up with them, and SQLite only
//! starts the log over once everything in it was copied, so under steady writes the log would
//! grow and grow. Each round therefore copies in two steps: first alongside the writers (the bulk
//! of the pages), then, once the log holds [`RESTART_AFTER_PAGES`], again behind the store's
//! write gate, which every write transaction holds for its life: no writer commits during that
//! short second copy, so it finishes the log and the next writer starts it over.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Row};

use super::SqliteStore;
use crate::store::Result;

/// How often the background checkpointer copies the log back into the database file.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// The log size (in pages) at which a commit still checkpoints by itself: only reached if the
/// background checkpointer falls far behind or stopped, so the log cannot grow without bound.
/// SQLite's own default is 1,000.
pub const WRITE_PATH_CHECKPOINT_PAGES: u32 = 20_000;

/// The log size (in pages) from which a checkpoint round finishes the log behind the write gate,
/// so that it starts over (SQLite's own checkpoint threshold is the same).
pub const RESTART_AFTER_PAGES: i64 = 1_000;

/// What one checkpoint found: the pages in the log, and how many of them are now in the
/// database file (all of them unless a reader still needed older ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub log_pages: i64,
    pub checkpointed_pages: i64,
}

pub(super) struct Checkpointer {
    task: tokio::task::JoinHandle<()>,
    /// Checkpoints the task completed, for tests and diagnostics.
    done: Arc<AtomicU64>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A passive checkpoint: copies what it can without waiting for, or holding up, any writer or
/// reader.
async fn checkpoint(conn: &mut SqliteConnection) -> Result<Checkpoint> {
    let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(conn)
        .await?;
    Ok(Checkpoint {
        log_pages: row.try_get(1)?,
        checkpointed_pages: row.try_get(2)?,
    })
}

/// One checkpoint round (see the module doc): a passive checkpoint alongside the writers, then,
/// if the log has grown to [`RESTART_AFTER_PAGES`], another behind the write gate.
async fn checkpoint_round(
    conn: &mut SqliteConnection,
    gate: &tokio::sync::Mutex<()>,
) -> Result<Checkpoint> {
    let first = checkpoint(conn).await?;
    if first.log_pages < RESTART_AFTER_PAGES {
        return Ok(first);
    }
    let _gate = gate.lock().await;
    checkpoint(conn).await
}

/// Checkpoints every `every` on a connection of its own, reconnecting after an error.
pub(super) fn spawn_checkpointer(
    options: SqliteConnectOptions,
    every: Duration,
    gate: Arc<tokio::sync::Mutex<()>>,
) -> Checkpointer {
    let done = Arc::new(AtomicU64::new(0));
    let counter = done.clone();
    let task = tokio::spawn(async move {
        let mut conn: Option<SqliteConnection> = None;
        loop {
            tokio::time::sleep(every).await;
            let result = match conn.as_mut() {
                Some(c) => checkpoint_round(c, &gate).await,
                None => match options.connect().await {
                    Ok(c) => checkpoint_round(conn.insert(c), &gate).await,
                    Err(e) => Err(e.into()),
                },
            };
            match result {
                Ok(_) => {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "checkpointing the SQLite log failed; will retry");
                    conn = None;
                }
            }
        }
    });
    Checkpointer { task, done }
}

impl SqliteStore {
    /// Checkpoints now, on a pooled connection, alongside any writer.
    pub async fn checkpoint(&self) -> Result<Checkpoint> {
        let mut conn = self.pool.acquire().await?;
        checkpoint(&mut conn).await
    }

    /// One round of the background checkpointer, now, on a pooled connection.
    pub async fn checkpoint_round(&self) -> Result<Checkpoint> {
        let mut conn = self.pool.acquire().await?;
        checkpoint_round(&mut conn, &self.write_gate).await
    }

    /// How many checkpoints the background checkpointer has completed.
    pub fn background_checkpoints(&self) -> u64 {
        self.checkpointer
            .as_ref()
            .map_or(0, |c| c.done.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::message::Inbound;
    use crate::store::Store;

    fn scratch(name: &str) -> String {
        let dir = std::env::temp_dir().join(format!(
            "frontline-sqlite-{name}-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        format!("sqlite:{}", dir.join("test.db").display())
    }

    /// An inbound message a few pages long.
    fn long_message(external_id: String) -> Inbound {
        Inbound {
            channel: "test".into(),
            external_id,
            customer_key: "c".into(),
            customer_name: None,
            conversation_key: "c".into(),
            reply_to: "c".into(),
            text: "x".repeat(9_000),
            received_at: 0,
            sender: Default::default(),
        }
    }

    /// Writes `n` transactions of one inbound message each, every one a few pages long.
    async fn write(store: &SqliteStore, n: usize, tag: &str) {
        for i in 0..n {
            let mut tx = store.begin().await.unwrap();
            tx.record_inbound(&long_message(format!("{tag}-{i}")))
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    }

    /// Commits leave the log to the checkpointer: well past SQLite's default threshold of 1,000
    /// pages nothing has been copied back, and one checkpoint then copies all of it, after which
    /// the log starts over.
    #[tokio::test]
    async fn commits_do_not_checkpoint() {
        let url = scratch("commits");
        let store = SqliteStore::open_with(&url, None).await.unwrap();
        store.checkpoint().await.unwrap();
        write(&store, 400, "a").await;
        let first = store.checkpoint().await.unwrap();
        assert!(first.log_pages >= 1_200, "{first:?}");
        assert_eq!(first.checkpointed_pages, first.log_pages, "{first:?}");
        write(&store, 1, "b").await;
        let next = store.checkpoint().await.unwrap();
        assert!(next.log_pages < 50, "the log did not start over: {next:?}");
    }

    /// The background checkpointer copies the log back by itself, so the log starts over
    /// instead of growing.
    #[tokio::test]
    async fn the_background_checkpointer_keeps_the_log_short() {
        let url = scratch("background");
        let store = SqliteStore::open_with(&url, Some(Duration::from_millis(1)))
            .await
            .unwrap();
        write(&store, 400, "a").await;
        // Two more completed checkpoints: at least one started after the last commit.
        let after_writes = store.background_checkpoints();
        for _ in 0..10_000 {
            if store.background_checkpoints() >= after_writes + 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(store.background_checkpoints() >= after_writes + 2);
        write(&store, 1, "b").await;
        let now = store.checkpoint().await.unwrap();
        assert!(now.log_pages < 50, "the log kept growing: {now:?}");
    }

    /// Under writes that never pause, a round still finishes the log: its second copy waits for
    /// the writer that holds the gate and keeps the next one out, so the log then starts over.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_round_finishes_the_log_between_two_writers() {
        let url = scratch("round");
        let store = Arc::new(SqliteStore::open_with(&url, None).await.unwrap());
        write(&store, 400, "a").await;
        // A writer in the middle of its transaction, with pages of its own in the log already
        // committed before it.
        let mut open = store.begin().await.unwrap();
        let round = tokio::spawn({
            let store = store.clone();
            async move { store.checkpoint_round().await.unwrap() }
        });
        // The round copies what it can alongside the writer, then waits for the gate.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !round.is_finished(),
            "the round did not wait for the writer"
        );
        open.record_inbound(&long_message("open".into()))
            .await
            .unwrap();
        open.commit().await.unwrap();
        let done = round.await.unwrap();
        assert!(done.log_pages >= 1_200, "{done:?}");
        assert_eq!(done.checkpointed_pages, done.log_pages, "{done:?}");
        write(&store, 1, "b").await;
        let next = store.checkpoint().await.unwrap();
        assert!(next.log_pages < 50, "the log did not start over: {next:?}");
    }

    /// In memory there is no log to checkpoint, and no checkpointer.
    #[tokio::test]
    async fn no_checkpointer_in_memory() {
        let store = SqliteStore::open("sqlite::memory:").await.unwrap();
        assert!(store.checkpointer.is_none());
    }
}
