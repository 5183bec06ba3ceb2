//! The PostgreSQL store, for when one machine is not enough.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

use super::{Result, Store, Tx};

super::sql::impl_tx!(PgTx, sqlx::Postgres);

super::sql::web_sessions::impl_web_sessions!(PgStore);

/// Rows a writer takes for itself (outbox rows to deliver, timers to fire) are locked, and rows
/// another instance has locked are passed over rather than waited for.
const SKIP_LOCKED: &str = " FOR UPDATE SKIP LOCKED";

#[async_trait]
impl super::LockStore for PgTx {
    fn locks_conversations(&self) -> bool {
        true
    }

    async fn lock_conversation(&mut self, key: i32) -> Result<()> {
        // Two-key form: the schema's hash keeps instances of other schemas (other deployments,
        // tests) in a key space of their own.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext(current_schema()), $1)")
            .bind(key)
            .execute(self.db().await?)
            .await?;
        Ok(())
    }
}

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` and applies the migrations in `migrations/postgres`. With `schema`, the
    /// schema is created if missing and every pooled connection works in it (its `search_path`),
    /// migration bookkeeping included, so several instances can share one database.
    pub async fn open(url: &str, schema: Option<&str>) -> Result<Self> {
        let mut options = PgConnectOptions::from_str(url)?;
        if let Some(schema) = schema {
            check_schema_name(schema)?;
            let mut conn = options.connect().await?;
            // The name was checked to be a plain lowercase identifier, so it needs no escaping.
            let create = format!("CREATE SCHEMA IF NOT EXISTS {schema}");
            match sqlx::query(AssertSqlSafe(create)).execute(&mut conn).await {
                Ok(_) => {}
                // Two opens racing to create the same schema: the loser's IF NOT EXISTS can still
                // trip over the catalog's unique index; the schema exists either way.
                Err(sqlx::Error::Database(e))
                    if e.is_unique_violation() || e.code().as_deref() == Some("42P06") => {}
                Err(e) => return Err(e.into()),
            }
            conn.close().await?;
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(10)
            // While the server refuses connections, requests fail (503) after this, not after
            // sqlx's default 30 s.
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    /// Opens `url` in a fresh schema of its own (`t_<pid>_<counter>_<random>`), so tests running
    /// in parallel against one database never see each other's rows.
    pub async fn open_isolated(url: &str) -> Result<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let schema = format!(
            "t_{}_{}_{:08x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        Self::open(url, Some(&schema)).await
    }
}

/// Only plain lowercase identifiers, so the name can go into SQL and `search_path` as it is.
fn check_schema_name(schema: &str) -> Result<()> {
    let ok = !schema.is_empty()
        && schema.len() <= 63
        && !schema.starts_with(|c: char| c.is_ascii_digit())
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(sqlx::Error::Configuration(
            format!(
                "schema name '{schema}' must be lowercase letters, digits and '_' (at most 63)"
            )
            .into(),
        )
        .into())
    }
}

#[async_trait]
impl Store for PgStore {
    /// Instances sharing this schema work in parallel: what must not interleave is serialised
    /// per conversation ([`super::LockStore`]) and per row (conditional updates, `SKIP LOCKED`).
    async fn begin(&self) -> Result<Box<dyn Tx>> {
        Ok(Box::new(PgTx::new(self.pool.begin().await?, None, false)))
    }

    fn web_sessions(&self) -> &dyn super::WebSessionStore {
        self
    }

    async fn read(&self) -> Result<Box<dyn Tx>> {
        Ok(Box::new(PgTx::new(self.pool.begin().await?, None, false)))
    }
}
