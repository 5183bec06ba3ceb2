//! The SQLite store: the default, one file next to the binary (or in memory for tests).
//!
//! Write transactions take turns on one connection kept for them; reads share a pool. The
//! write-ahead log is copied back into the database file in the background ([`checkpoint`]).

mod checkpoint;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use checkpoint::{spawn_checkpointer, Checkpointer};
pub use checkpoint::{
    Checkpoint, CHECKPOINT_EVERY, RESTART_AFTER_PAGES, WRITE_PATH_CHECKPOINT_PAGES,
};

use super::{Result, Store, StoreError, Tx};

super::sql::impl_tx!(SqliteTx, sqlx::Sqlite);

super::sql::web_sessions::impl_web_sessions!(SqliteStore);

/// SQLite has no row locks: a write transaction holds the whole database (`BEGIN IMMEDIATE`).
const SKIP_LOCKED: &str = "";

/// One writer at a time holds the whole database, so no conversation needs a lock of its own.
#[async_trait]
impl super::LockStore for SqliteTx {
    fn locks_conversations(&self) -> bool {
        false
    }

    async fn lock_conversation(&mut self, _key: i32) -> Result<()> {
        Ok(())
    }
}

/// A pool of exactly one connection, kept for good. Write transactions all go to it: in WAL mode
/// a connection throws its page cache away whenever it finds that another connection wrote since
/// its last transaction, so writers taking turns on pooled connections would each start cold and
/// read every page they touch back from the file; one writer keeps its cache across batches.
fn writer_pool() -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .test_before_acquire(false)
}

pub struct SqliteStore {
    /// Reads: the chat API's, the reports', checkpoints.
    pool: SqlitePool,
    /// Write transactions, on one connection kept for them (see [`writer_pool`]).
    writer: SqlitePool,
    /// Held by every write transaction, and by the checkpointer while it finishes the log.
    write_gate: Arc<tokio::sync::Mutex<()>>,
    /// The background checkpointer of a database file (none in memory); stopped with the store.
    checkpointer: Option<Checkpointer>,
}

impl SqliteStore {
    /// Opens `sqlite:PATH` (creating the file and its folder) or `sqlite::memory:`, and applies
    /// the migrations in `migrations/sqlite`.
    pub async fn open(url: &str) -> Result<Self> {
        Self::open_with(url, Some(CHECKPOINT_EVERY)).await
    }

    /// [`SqliteStore::open`] with the background checkpointer running every `checkpoint_every`,
    /// or not at all (`None`: then commits checkpoint once the log reaches
    /// [`WRITE_PATH_CHECKPOINT_PAGES`]).
    pub async fn open_with(url: &str, checkpoint_every: Option<Duration>) -> Result<Self> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            // Writers queue behind each other's BEGIN IMMEDIATE instead of failing at once.
            .busy_timeout(Duration::from_secs(5))
            // Commits leave checkpoints to the background checkpointer (see the module doc).
            .pragma(
                "wal_autocheckpoint",
                WRITE_PATH_CHECKPOINT_PAGES.to_string(),
            );
        if !in_memory {
            if let Some(folder) = options
                .get_filename()
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
            {
                std::fs::create_dir_all(folder).map_err(|source| StoreError::Folder {
                    path: folder.display().to_string(),
                    source,
                })?;
            }
        }
        let (pool, writer) = if in_memory {
            // An in-memory database lives as long as a connection to it: keep exactly one, forever,
            // so every transaction sees the same data.
            let pool = writer_pool().connect_with(options.clone()).await?;
            (pool.clone(), pool)
        } else {
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                // The database is in this process: a pooled connection cannot have been cut, and
                // checking it would cost a round trip to its thread on every acquire.
                .test_before_acquire(false)
                .connect_with(options.clone())
                .await?;
            (pool, writer_pool().connect_with(options.clone()).await?)
        };
        sqlx::migrate!("migrations/sqlite").run(&writer).await?;
        let write_gate = Arc::new(tokio::sync::Mutex::new(()));
        let checkpointer = match checkpoint_every {
            Some(every) if !in_memory => {
                Some(spawn_checkpointer(options, every, write_gate.clone()))
            }
            _ => None,
        };
        Ok(Self {
            pool,
            writer,
            write_gate,
            checkpointer,
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn begin(&self) -> Result<Box<dyn Tx>> {
        // Take the write lock up front: a deferred transaction that reads and then writes can
        // fail with SQLITE_BUSY half-way, when another writer got in between.
        // The write gate first, so the checkpointer can find a moment with no writer.
        let gate = self.write_gate.clone().lock_owned().await;
        Ok(Box::new(SqliteTx::new(
            self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Some(gate),
            true,
        )))
    }

    fn web_sessions(&self) -> &dyn super::WebSessionStore {
        self
    }

    async fn read(&self) -> Result<Box<dyn Tx>> {
        Ok(Box::new(SqliteTx::new(
            self.pool.begin().await?,
            None,
            false,
        )))
    }
}
