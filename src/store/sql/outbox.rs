//! The outbox: messages and desk events waiting for delivery. Its SQL and its part of each database's transaction type.

pub(in crate::store) const ENQUEUE: &str =
    "INSERT INTO outbox (conversation_id, channel, recipient, line_id, author, author_name, text, \
                         status, attempts, next_attempt_at, created_at, lane, choices, ticket_id, \
                         event) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8, $9, $10, $11, $12) RETURNING id";
/// The head of a conversation lane's queue is its oldest pending row; only heads are ever sent,
/// so a row waiting for a retry holds back the rows behind it in its lane, while delivered and
/// dead rows do not.
pub(in crate::store) const DUE_OUTBOX: &str =
    "SELECT o.id, o.conversation_id, o.channel, o.recipient, o.line_id, o.author, \
            o.author_name, o.text, o.status, o.attempts, o.next_attempt_at, o.last_error, \
            o.created_at, o.delivered_at, o.lane, o.choices, o.ticket_id, o.event \
     FROM outbox o \
     WHERE o.status = 'pending' AND o.next_attempt_at <= $1 \
       AND NOT EXISTS (SELECT 1 FROM outbox p \
                       WHERE p.status = 'pending' AND p.conversation_id = o.conversation_id \
                         AND p.lane = o.lane AND p.id < o.id) \
     ORDER BY o.id LIMIT $2";
pub(in crate::store) const OUTBOX_ITEM: &str =
    "SELECT id, conversation_id, channel, recipient, line_id, author, author_name, text, status, \
            attempts, next_attempt_at, last_error, created_at, delivered_at, lane, choices, \
            ticket_id, event \
     FROM outbox WHERE id = $1";
pub(in crate::store) const MARK_DELIVERED: &str =
    "UPDATE outbox SET status = 'delivered', delivered_at = $2, last_error = NULL WHERE id = $1";
pub(in crate::store) const MARK_RETRY: &str =
    "UPDATE outbox SET attempts = $2, next_attempt_at = $3, last_error = $4 \
     WHERE id = $1 AND status = 'pending'";
pub(in crate::store) const LEASE_OUTBOX: &str =
    "UPDATE outbox SET next_attempt_at = $2 WHERE id = $1 AND status = 'pending' AND next_attempt_at <= $3";
pub(in crate::store) const MARK_DEAD: &str =
    "UPDATE outbox SET status = 'dead', attempts = $2, last_error = $3 WHERE id = $1";
/// Only heads count: a row behind a head that waits for its retry cannot go before the head, and
/// counting it would wake the dispatcher for nothing until the head is due.
pub(in crate::store) const NEXT_OUTBOX_DUE: &str = "SELECT MIN(o.next_attempt_at) FROM outbox o \
     WHERE o.status = 'pending' \
       AND NOT EXISTS (SELECT 1 FROM outbox p \
                       WHERE p.status = 'pending' AND p.conversation_id = o.conversation_id \
                         AND p.lane = o.lane AND p.id < o.id)";

pub(in crate::store) const OUTBOX_BACKLOG: &str =
    "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox WHERE status = 'pending'";

/// Implements [`OutboxStore`](crate::store::OutboxStore) for a transaction type of `sql::impl_tx!`.
macro_rules! impl_outbox {
    ($tx:ident) => {
        #[async_trait]
        impl OutboxStore for $tx {
            async fn enqueue(&mut self, item: &NewOutbox) -> Result<i64> {
                Ok(sqlx::query_scalar(sql::ENQUEUE)
                    .bind(item.conversation_id)
                    .bind(&item.channel)
                    .bind(&item.recipient)
                    .bind(item.line_id)
                    .bind(item.author.as_str())
                    .bind(&item.author_name)
                    .bind(&item.text)
                    .bind(item.created_at)
                    .bind(item.lane.as_str())
                    .bind(sql::choices_to_db(&item.choices)?)
                    .bind(item.ticket_id)
                    .bind(
                        item.event
                            .as_ref()
                            .map(|e| sql::to_json("desk event", e))
                            .transpose()?,
                    )
                    .fetch_one(self.db().await?)
                    .await?)
            }

            async fn due_outbox(&mut self, now: Millis, limit: i64) -> Result<Vec<OutboxItem>> {
                let rows = sqlx::query(sql::DUE_OUTBOX)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(self.db().await?)
                    .await?;
                all(rows, outbox_item)
            }

            async fn take_due_outbox(
                &mut self,
                now: Millis,
                limit: i64,
            ) -> Result<Vec<OutboxItem>> {
                // With the database's row-lock suffix: an instance leasing rows passes over the
                // heads another instance is leasing at the same moment.
                static DUE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                    format!("{}{}", sql::DUE_OUTBOX, super::SKIP_LOCKED)
                });
                let rows = sqlx::query(DUE.as_str())
                    .bind(now)
                    .bind(limit)
                    .fetch_all(self.db().await?)
                    .await?;
                all(rows, outbox_item)
            }

            async fn outbox_item(&mut self, id: i64) -> Result<Option<OutboxItem>> {
                let row = sqlx::query(sql::OUTBOX_ITEM)
                    .bind(id)
                    .fetch_optional(self.db().await?)
                    .await?;
                row.as_ref().map(outbox_item).transpose()
            }

            async fn mark_delivered(&mut self, id: i64, now: Millis) -> Result<()> {
                sqlx::query(sql::MARK_DELIVERED)
                    .bind(id)
                    .bind(now)
                    .execute(self.db().await?)
                    .await?;
                Ok(())
            }

            async fn lease_outbox(&mut self, id: i64, now: Millis, until: Millis) -> Result<bool> {
                let done = sqlx::query(sql::LEASE_OUTBOX)
                    .bind(id)
                    .bind(until)
                    .bind(now)
                    .execute(self.db().await?)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn mark_retry(
                &mut self,
                id: i64,
                attempts: i32,
                next_attempt_at: Millis,
                error: &str,
            ) -> Result<()> {
                sqlx::query(sql::MARK_RETRY)
                    .bind(id)
                    .bind(attempts)
                    .bind(next_attempt_at)
                    .bind(error)
                    .execute(self.db().await?)
                    .await?;
                Ok(())
            }

            async fn mark_dead(&mut self, id: i64, attempts: i32, error: &str) -> Result<()> {
                sqlx::query(sql::MARK_DEAD)
                    .bind(id)
                    .bind(attempts)
                    .bind(error)
                    .execute(self.db().await?)
                    .await?;
                Ok(())
            }

            async fn next_outbox_due(&mut self) -> Result<Option<Millis>> {
                Ok(sqlx::query_scalar(sql::NEXT_OUTBOX_DUE)
                    .fetch_one(self.db().await?)
                    .await?)
            }

            async fn outbox_backlog(&mut self) -> Result<(i64, Option<Millis>)> {
                let row = sqlx::query(sql::OUTBOX_BACKLOG)
                    .fetch_one(self.db().await?)
                    .await?;
                Ok((row.try_get("n")?, row.try_get("oldest")?))
            }
        }
    };
}

pub(in crate::store) use impl_outbox;
