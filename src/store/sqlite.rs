//! The SQLite store: the default, one file next to the binary (or in memory for tests).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

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

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens `sqlite:PATH` (creating the file and its folder) or `sqlite::memory:`, and applies
    /// the migrations in `migrations/sqlite`.
    pub async fn open(url: &str) -> Result<Self> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            // Writers queue behind each other's BEGIN IMMEDIATE instead of failing at once.
            .busy_timeout(Duration::from_secs(5));
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
        let pool = if in_memory {
            // An in-memory database lives as long as a connection to it: keep exactly one, forever,
            // so every transaction sees the same data.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await?
        } else {
            SqlitePoolOptions::new()
                .max_connections(8)
                // The database is in this process: a pooled connection cannot have been cut, and
                // checking it would cost a round trip to its thread on every acquire.
                .test_before_acquire(false)
                .connect_with(options)
                .await?
        };
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn begin(&self) -> Result<Box<dyn Tx>> {
        // Take the write lock up front: a deferred transaction that reads and then writes can
        // fail with SQLITE_BUSY half-way, when another writer got in between.
        Ok(Box::new(SqliteTx(
            self.pool.begin_with("BEGIN IMMEDIATE").await?,
        )))
    }

    fn web_sessions(&self) -> &dyn super::WebSessionStore {
        self
    }

    async fn read(&self) -> Result<Box<dyn Tx>> {
        Ok(Box::new(SqliteTx(self.pool.begin().await?)))
    }
}
