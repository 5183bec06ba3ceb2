//! The inbox: every inbound event, stored and deduplicated before it is handled. Its SQL and its part of each database's transaction type.

/// Race-free dedup: of two concurrent inserts of the same (channel, external id) one inserts and
/// the other, once the first commits, returns no row and reads the existing id.
pub(in crate::store) const INSERT_INBOUND: &str =
    "INSERT INTO inbox (channel, external_id, customer_key, customer_name, conversation_key, \
                        reply_to, text, received_at, sender, handled_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
     ON CONFLICT (channel, external_id) DO NOTHING \
     RETURNING id";
/// The most events one multi-row insert of [`insert_inbound_rows`] takes.
pub(in crate::store) const MAX_INBOUND_ROWS: usize = 32;

/// [`INSERT_INBOUND`] for `n` events at once (`n` a power of two up to [`MAX_INBOUND_ROWS`], so a
/// handful of statement texts, which each connection prepares once and keeps, serve a batch of
/// any size in one statement per [`MAX_INBOUND_ROWS`] events), each
/// row returning its channel and external id too, as inserted rows come back in no set order.
pub(in crate::store) fn insert_inbound_rows(n: usize) -> &'static str {
    use std::sync::OnceLock;
    static SQL: [OnceLock<String>; 6] = [const { OnceLock::new() }; 6];
    assert!(
        n.is_power_of_two() && n <= MAX_INBOUND_ROWS,
        "{n} rows: a power of two up to {MAX_INBOUND_ROWS}"
    );
    SQL[n.trailing_zeros() as usize].get_or_init(|| {
        let rows: Vec<String> = (0..n)
            .map(|row| {
                let params: Vec<String> = (1..=10).map(|i| format!("${}", row * 10 + i)).collect();
                format!("({})", params.join(", "))
            })
            .collect();
        format!(
            "INSERT INTO inbox (channel, external_id, customer_key, customer_name, \
             conversation_key, reply_to, text, received_at, sender, handled_at) VALUES {} \
             ON CONFLICT (channel, external_id) DO NOTHING \
             RETURNING id, channel, external_id",
            rows.join(", ")
        )
    })
}

pub(in crate::store) const INBOUND_ID: &str =
    "SELECT id FROM inbox WHERE channel = $1 AND external_id = $2";
pub(in crate::store) const INBOX_ITEM: &str =
    "SELECT id, channel, external_id, customer_key, customer_name, conversation_key, reply_to, \
            text, received_at, handled_at, sender \
     FROM inbox WHERE id = $1";
pub(in crate::store) const UNHANDLED_INBOUND: &str =
    "SELECT id, channel, external_id, customer_key, customer_name, conversation_key, reply_to, \
            text, received_at, handled_at, sender \
     FROM inbox WHERE handled_at IS NULL AND id > $1 ORDER BY id LIMIT $2";
pub(in crate::store) const MARK_INBOUND_HANDLED: &str =
    "UPDATE inbox SET handled_at = $2 WHERE id = $1 AND handled_at IS NULL";
pub(in crate::store) const INBOUND_FAILED: &str =
    "UPDATE inbox SET attempts = attempts + 1, last_error = $2 \
     WHERE id = $1 AND handled_at IS NULL RETURNING attempts";
pub(in crate::store) const MARK_INBOUND_DEAD: &str =
    "UPDATE inbox SET handled_at = $2, dead_at = $2 WHERE id = $1 AND handled_at IS NULL";
pub(in crate::store) const INBOX_CURSORS: &str =
    "SELECT i.conversation_key, i.reply_to, i.sender, i.external_id, i.received_at \
     FROM inbox i \
     WHERE i.id IN (SELECT MAX(id) FROM inbox WHERE channel = $1 AND received_at >= $2 \
                    GROUP BY conversation_key) \
     ORDER BY i.id";

/// Implements [`InboxStore`](crate::store::InboxStore) for a transaction type of `sql::impl_tx!`.
macro_rules! impl_inbox {
    ($tx:ident) => {
        impl $tx {
            async fn insert_inbound(
                &mut self,
                inbound: &Inbound,
                handled_at: Option<Millis>,
            ) -> Result<Recorded> {
                let inserted: Option<i64> = sqlx::query_scalar(sql::INSERT_INBOUND)
                    .bind(&inbound.channel)
                    .bind(&inbound.external_id)
                    .bind(&inbound.customer_key)
                    .bind(&inbound.customer_name)
                    .bind(&inbound.conversation_key)
                    .bind(&inbound.reply_to)
                    .bind(&inbound.text)
                    .bind(inbound.received_at)
                    .bind(inbound.sender.as_str())
                    .bind(handled_at)
                    .fetch_optional(self.db().await?)
                    .await?;
                if let Some(id) = inserted {
                    return Ok(Recorded::New(id));
                }
                let id: i64 = sqlx::query_scalar(sql::INBOUND_ID)
                    .bind(&inbound.channel)
                    .bind(&inbound.external_id)
                    .fetch_one(self.db().await?)
                    .await?;
                Ok(Recorded::Duplicate(id))
            }
        }

        #[async_trait]
        impl InboxStore for $tx {
            async fn record_inbound(&mut self, inbound: &Inbound) -> Result<Recorded> {
                self.insert_inbound(inbound, None).await
            }

            async fn record_handled_inbound(
                &mut self,
                inbound: &Inbound,
                now: Millis,
            ) -> Result<Recorded> {
                self.insert_inbound(inbound, Some(now)).await
            }

            async fn record_handled_inbound_all(
                &mut self,
                batch: &[&Inbound],
                now: Millis,
            ) -> Result<Vec<Recorded>> {
                // Inserted: (channel, external id) -> id.
                let mut inserted = std::collections::HashMap::new();
                for chunk in batch.chunks(sql::MAX_INBOUND_ROWS) {
                    // Padded to a power of two with copies of the last event, so a handful of
                    // statement texts serve every batch size: a copy conflicts with its
                    // original, so the conflict clause leaves it out.
                    let n = chunk.len().next_power_of_two();
                    let copies = std::iter::repeat_n(&chunk[chunk.len() - 1], n - chunk.len());
                    let mut query = sqlx::query(sql::insert_inbound_rows(n));
                    for inbound in chunk.iter().chain(copies) {
                        query = query
                            .bind(&inbound.channel)
                            .bind(&inbound.external_id)
                            .bind(&inbound.customer_key)
                            .bind(&inbound.customer_name)
                            .bind(&inbound.conversation_key)
                            .bind(&inbound.reply_to)
                            .bind(&inbound.text)
                            .bind(inbound.received_at)
                            .bind(inbound.sender.as_str())
                            .bind(Some(now));
                    }
                    for row in query.fetch_all(self.db().await?).await? {
                        let key: (String, String) =
                            (row.try_get("channel")?, row.try_get("external_id")?);
                        inserted.insert(key, row.try_get::<i64, _>("id")?);
                    }
                }
                let mut seen = std::collections::HashSet::new();
                let mut outcomes = Vec::with_capacity(batch.len());
                for inbound in batch {
                    let key = (inbound.channel.clone(), inbound.external_id.clone());
                    let first = seen.insert(key.clone());
                    outcomes.push(match inserted.get(&key) {
                        Some(&id) if first => Recorded::New(id),
                        // The same event twice in the batch: the second is the first's duplicate.
                        Some(&id) => Recorded::Duplicate(id),
                        None => {
                            let id: i64 = sqlx::query_scalar(sql::INBOUND_ID)
                                .bind(&inbound.channel)
                                .bind(&inbound.external_id)
                                .fetch_one(self.db().await?)
                                .await?;
                            Recorded::Duplicate(id)
                        }
                    });
                }
                Ok(outcomes)
            }

            async fn inbox_item(&mut self, id: i64) -> Result<Option<InboxItem>> {
                let row = sqlx::query(sql::INBOX_ITEM)
                    .bind(id)
                    .fetch_optional(self.db().await?)
                    .await?;
                row.as_ref().map(inbox_item).transpose()
            }

            async fn unhandled_inbound(
                &mut self,
                after_id: i64,
                limit: i64,
            ) -> Result<Vec<InboxItem>> {
                let rows = sqlx::query(sql::UNHANDLED_INBOUND)
                    .bind(after_id)
                    .bind(limit)
                    .fetch_all(self.db().await?)
                    .await?;
                all(rows, inbox_item)
            }

            async fn mark_inbound_handled(&mut self, id: i64, now: Millis) -> Result<bool> {
                let done = sqlx::query(sql::MARK_INBOUND_HANDLED)
                    .bind(id)
                    .bind(now)
                    .execute(self.db().await?)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn inbound_failed(&mut self, id: i64, error: &str) -> Result<i32> {
                let attempts: Option<i32> = sqlx::query_scalar(sql::INBOUND_FAILED)
                    .bind(id)
                    .bind(error)
                    .fetch_optional(self.db().await?)
                    .await?;
                Ok(attempts.unwrap_or(0))
            }

            async fn mark_inbound_dead(&mut self, id: i64, now: Millis) -> Result<bool> {
                let done = sqlx::query(sql::MARK_INBOUND_DEAD)
                    .bind(id)
                    .bind(now)
                    .execute(self.db().await?)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn inbox_cursors(
                &mut self,
                channel: &str,
                since: Millis,
            ) -> Result<Vec<InboxCursor>> {
                let rows = sqlx::query(sql::INBOX_CURSORS)
                    .bind(channel)
                    .bind(since)
                    .fetch_all(self.db().await?)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok(InboxCursor {
                            conversation_key: r.try_get("conversation_key")?,
                            reply_to: r.try_get("reply_to")?,
                            sender: sql::sender(r.try_get("sender")?)?,
                            last_external_id: r.try_get("external_id")?,
                            received_at: r.try_get("received_at")?,
                        })
                    })
                    .collect()
            }
        }
    };
}

pub(in crate::store) use impl_inbox;
