//! Customers' data rights: who is stored, export, erasure, retention, and admin agents. Its SQL
//! and its part of each database's transaction type.
//!
//! Export and erasure go table by table over the same row sets, so whatever export shows is
//! exactly what forget removes. Web sessions are the web channel's records, outside the core's
//! transaction elsewhere, but erasure must be one transaction, so they are deleted here too.

/// Every customers row, with how much is stored about it.
pub(in crate::store) const CUSTOMERS_LIST: &str =
    "SELECT c.id, c.channel, c.external_id, c.display_name, c.email, \
            COALESCE(c.person_id, c.id) AS person, c.created_at, \
            (SELECT COUNT(*) FROM conversations v WHERE v.customer_id = c.id) AS conversations, \
            (SELECT COUNT(*) FROM tickets t WHERE t.customer_id = c.id) AS tickets \
     FROM customers c WHERE c.channel <> 'erased' ORDER BY c.id";
/// The rows of one person: the same `COALESCE(person_id, id)` as `$1`'s.
pub(in crate::store) const PERSON_CUSTOMERS: &str = "SELECT id FROM customers \
     WHERE channel <> 'erased' AND COALESCE(person_id, id) = \
       (SELECT COALESCE(person_id, id) FROM customers WHERE id = $1) ORDER BY id";
/// Moves every row of person `$2` to person `$1`.
pub(in crate::store) const LINK_PERSON: &str =
    "UPDATE customers SET person_id = $1 WHERE COALESCE(person_id, id) = $2";
pub(in crate::store) const PERSON_OF: &str =
    "SELECT COALESCE(person_id, id) FROM customers WHERE id = $1";
pub(in crate::store) const SET_EMAIL: &str = "UPDATE customers SET email = $2 WHERE id = $1";
pub(in crate::store) const SET_ADMIN: &str = "UPDATE agents SET admin = $2 WHERE id = $1";
pub(in crate::store) const IS_ADMIN: &str =
    "SELECT admin FROM agents WHERE id = $1 AND removed_at IS NULL";

/// Row sets of one customer (`$1`), as (table, `SELECT *` tail). `inbox` holds what they wrote
/// and what agents wrote in their tickets' platform threads.
macro_rules! customer_tables {
    () => {
        [
            ("customers", "FROM customers WHERE id = $1"),
            ("web_sessions", "FROM web_sessions WHERE customer_id = $1"),
            ("conversations", "FROM conversations WHERE customer_id = $1"),
            (
                "transcript_lines",
                "FROM transcript_lines WHERE conversation_id IN \
                   (SELECT id FROM conversations WHERE customer_id = $1)",
            ),
            ("tickets", "FROM tickets WHERE customer_id = $1"),
            (
                "inbox",
                "FROM inbox i WHERE EXISTS (SELECT 1 FROM customers c WHERE c.id = $1 \
                   AND c.channel = i.channel AND c.external_id = i.customer_key \
                   AND i.sender = 'customer') \
                 OR EXISTS (SELECT 1 FROM desk_cards d JOIN tickets t ON t.id = d.ticket_id \
                   WHERE t.customer_id = $1 AND d.platform = i.channel \
                   AND d.thread_ref = i.conversation_key)",
            ),
            (
                "outbox",
                "FROM outbox WHERE conversation_id IN \
                   (SELECT id FROM conversations WHERE customer_id = $1)",
            ),
            (
                "desk_cards",
                "FROM desk_cards WHERE ticket_id IN (SELECT id FROM tickets WHERE customer_id = $1)",
            ),
            (
                "timers",
                "FROM timers WHERE kind <> 'retention' AND subject_id IN \
                   (SELECT id FROM tickets WHERE customer_id = $1)",
            ),
        ]
    };
}
pub(in crate::store) use customer_tables;

/// The shared row every erased customer's kept tickets and conversations point to.
pub(in crate::store) const ERASED_CUSTOMER: &str =
    "INSERT INTO customers (channel, external_id, display_name, created_at) \
     VALUES ('erased', 'erased', 'erased', $1) \
     ON CONFLICT (channel, external_id) DO UPDATE SET display_name = 'erased' RETURNING id";

/// Erasure of customer `$1`, in order (foreign keys point from later rows to earlier ones);
/// `$2` is the erased row's id, `$3` now. Report counts of the removed lines are kept first.
pub(in crate::store) const FORGET: [&str; 12] = [
    "INSERT INTO removed_line_outcomes (at, outcome) SELECT at, outcome FROM transcript_lines \
     WHERE outcome IS NOT NULL AND conversation_id IN \
       (SELECT id FROM conversations WHERE customer_id = $1) AND $2 = $2 AND $3 = $3",
    "DELETE FROM outbox WHERE conversation_id IN \
       (SELECT id FROM conversations WHERE customer_id = $1) AND $2 = $2 AND $3 = $3",
    "DELETE FROM inbox WHERE (EXISTS (SELECT 1 FROM customers c WHERE c.id = $1 \
       AND c.channel = inbox.channel AND c.external_id = inbox.customer_key \
       AND inbox.sender = 'customer') \
     OR EXISTS (SELECT 1 FROM desk_cards d JOIN tickets t ON t.id = d.ticket_id \
       WHERE t.customer_id = $1 AND d.platform = inbox.channel \
       AND d.thread_ref = inbox.conversation_key)) AND $2 = $2 AND $3 = $3",
    "DELETE FROM desk_cards WHERE ticket_id IN (SELECT id FROM tickets WHERE customer_id = $1) \
     AND $2 = $2 AND $3 = $3",
    "DELETE FROM transcript_lines WHERE conversation_id IN \
       (SELECT id FROM conversations WHERE customer_id = $1) AND $2 = $2 AND $3 = $3",
    "DELETE FROM timers WHERE kind <> 'retention' AND subject_id IN \
       (SELECT id FROM tickets WHERE customer_id = $1) AND $2 = $2 AND $3 = $3",
    // Kept for the team's records: number, reason, times, assignee and rating; no text. Closed
    // for good, as no one is left to answer (its timers are gone with the rest).
    "UPDATE tickets SET customer_id = $2, subject = '', intents = '[]', tags = '[]', status = 'closed', \
       closed_at = COALESCE(closed_at, $3) WHERE customer_id = $1",
    "UPDATE conversations SET customer_id = $2, conversation_key = 'erased', reply_to = '', \
       state = 'closed', clarify = '[]', misses = 0, expired_at = $3 \
     WHERE customer_id = $1 AND id IN (SELECT conversation_id FROM tickets)",
    "DELETE FROM conversations WHERE customer_id = $1 AND $2 = $2 AND $3 = $3",
    "DELETE FROM web_sessions WHERE customer_id = $1 AND $2 = $2 AND $3 = $3",
    "UPDATE customers SET person_id = NULL WHERE person_id = $1 AND $2 = $2 AND $3 = $3",
    "DELETE FROM customers WHERE id = $1 AND $2 = $2 AND $3 = $3",
];

/// Conversations past retention (`$1` = cutoff): finished and idle since before it, or whose
/// ticket closed before it; never one with a ticket still being worked on.
pub(in crate::store) const EXPIRED_CONVERSATIONS: &str =
    "SELECT v.id, v.channel, v.conversation_key, v.updated_at, v.ticket_id FROM conversations v \
     WHERE v.expired_at IS NULL AND ( \
       (v.ticket_id IS NULL AND v.updated_at < $1 \
          AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.conversation_id = v.id)) \
       OR EXISTS (SELECT 1 FROM tickets t WHERE t.conversation_id = v.id \
          AND t.closed_at IS NOT NULL AND t.closed_at < $1 \
          AND NOT EXISTS (SELECT 1 FROM tickets o WHERE o.conversation_id = v.id \
                          AND o.closed_at IS NULL))) \
     ORDER BY v.id LIMIT $2";
/// Removal of one expired conversation's text: `$1` id, `$2` channel, `$3` key, `$4` its last
/// activity (older inbox rows of the key are its own), `$5` now.
pub(in crate::store) const EXPIRE: [&str; 6] = [
    "INSERT INTO removed_line_outcomes (at, outcome) SELECT at, outcome FROM transcript_lines \
     WHERE outcome IS NOT NULL AND conversation_id = $1 \
       AND $2 = $2 AND $3 = $3 AND $4 = $4 AND $5 = $5",
    "DELETE FROM outbox WHERE conversation_id = $1 AND $2 = $2 AND $3 = $3 AND $4 = $4 AND $5 = $5",
    "DELETE FROM inbox WHERE (channel = $2 AND conversation_key = $3 AND received_at <= $4 \
       AND handled_at IS NOT NULL) \
     OR EXISTS (SELECT 1 FROM desk_cards d JOIN tickets t ON t.id = d.ticket_id \
       WHERE t.conversation_id = $1 AND d.platform = inbox.channel \
       AND d.thread_ref = inbox.conversation_key AND inbox.handled_at IS NOT NULL) AND $5 = $5",
    "DELETE FROM transcript_lines WHERE conversation_id = $1 \
       AND $2 = $2 AND $3 = $3 AND $4 = $4 AND $5 = $5",
    "UPDATE tickets SET subject = '', intents = '[]' WHERE conversation_id = $1 \
       AND $2 = $2 AND $3 = $3 AND $4 = $4 AND $5 = $5",
    "UPDATE conversations SET expired_at = $5, clarify = '[]' WHERE id = $1 \
       AND $2 = $2 AND $3 = $3 AND $4 = $4",
];
pub(in crate::store) const DELETE_UNTICKETED_CONVERSATION: &str =
    "DELETE FROM conversations WHERE id = $1 \
     AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.conversation_id = $1)";
/// Web sessions older than the cutoff whose customer has nothing left in use, then web
/// customers left with nothing at all.
pub(in crate::store) const EXPIRE_WEB: [&str; 2] = [
    "DELETE FROM web_sessions WHERE created_at < $1 AND NOT EXISTS \
       (SELECT 1 FROM conversations v WHERE v.customer_id = web_sessions.customer_id \
        AND v.expired_at IS NULL)",
    "DELETE FROM customers WHERE channel = 'web' AND created_at < $1 \
     AND NOT EXISTS (SELECT 1 FROM web_sessions s WHERE s.customer_id = customers.id) \
     AND NOT EXISTS (SELECT 1 FROM conversations v WHERE v.customer_id = customers.id) \
     AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.customer_id = customers.id)",
];
pub(in crate::store) const HAS_TIMER: &str =
    "SELECT COUNT(*) FROM timers WHERE kind = $1 AND fired_at IS NULL";

/// Implements [`PrivacyStore`](crate::store::PrivacyStore) for a transaction type of `sql::impl_tx!`.
macro_rules! impl_privacy {
    ($tx:ident) => {
        /// A row as a JSON object, whatever its table: each column as the first type it decodes as.
        fn row_json(r: &DbRow) -> Result<serde_json::Value> {
            use sqlx::Column;
            let mut object = serde_json::Map::new();
            for (i, column) in r.columns().iter().enumerate() {
                let value = if let Ok(v) = r.try_get::<Option<i64>, _>(i) {
                    serde_json::json!(v)
                } else if let Ok(v) = r.try_get::<Option<i32>, _>(i) {
                    serde_json::json!(v)
                } else if let Ok(v) = r.try_get::<Option<f64>, _>(i) {
                    serde_json::json!(v)
                } else if let Ok(v) = r.try_get::<Option<bool>, _>(i) {
                    serde_json::json!(v)
                } else {
                    serde_json::json!(r.try_get::<Option<String>, _>(i)?)
                };
                object.insert(column.name().to_string(), value);
            }
            Ok(serde_json::Value::Object(object))
        }

        #[async_trait]
        impl PrivacyStore for $tx {
            async fn customer_records(
                &mut self,
            ) -> Result<Vec<$crate::core::privacy::CustomerRecord>> {
                let rows = sqlx::query(sql::CUSTOMERS_LIST)
                    .fetch_all(self.db().await?)
                    .await?;
                all(rows, |r| {
                    Ok($crate::core::privacy::CustomerRecord {
                        id: r.try_get("id")?,
                        channel: r.try_get("channel")?,
                        external_id: r.try_get("external_id")?,
                        display_name: r.try_get("display_name")?,
                        email: r.try_get("email")?,
                        person: r.try_get("person")?,
                        created_at: r.try_get("created_at")?,
                        conversations: r.try_get("conversations")?,
                        tickets: r.try_get("tickets")?,
                    })
                })
            }

            async fn person_customers(&mut self, customer_id: i64) -> Result<Vec<i64>> {
                Ok(sqlx::query_scalar(sql::PERSON_CUSTOMERS)
                    .bind(customer_id)
                    .fetch_all(self.db().await?)
                    .await?)
            }

            async fn link_customers(&mut self, a: i64, b: i64) -> Result<bool> {
                let pa: Option<i64> = sqlx::query_scalar(sql::PERSON_OF)
                    .bind(a)
                    .fetch_optional(self.db().await?)
                    .await?;
                let pb: Option<i64> = sqlx::query_scalar(sql::PERSON_OF)
                    .bind(b)
                    .fetch_optional(self.db().await?)
                    .await?;
                let (Some(pa), Some(pb)) = (pa, pb) else {
                    return Ok(false);
                };
                let (keep, moved) = (pa.min(pb), pa.max(pb));
                sqlx::query(sql::LINK_PERSON)
                    .bind(keep)
                    .bind(moved)
                    .execute(self.db().await?)
                    .await?;
                Ok(true)
            }

            async fn set_customer_email(&mut self, id: i64, email: Option<&str>) -> Result<()> {
                sqlx::query(sql::SET_EMAIL)
                    .bind(id)
                    .bind(email)
                    .execute(self.db().await?)
                    .await?;
                Ok(())
            }

            async fn customer_rows(
                &mut self,
                customer_id: i64,
            ) -> Result<Vec<(&'static str, Vec<serde_json::Value>)>> {
                let mut tables = Vec::new();
                for (table, tail) in sql::customer_tables!() {
                    let query = format!("SELECT * {tail}");
                    let rows = sqlx::query(sqlx::AssertSqlSafe(query))
                        .bind(customer_id)
                        .fetch_all(self.db().await?)
                        .await?;
                    tables.push((table, all(rows, row_json)?));
                }
                Ok(tables)
            }

            async fn forget_customer(&mut self, customer_id: i64, now: Millis) -> Result<()> {
                let erased: i64 = sqlx::query_scalar(sql::ERASED_CUSTOMER)
                    .bind(now)
                    .fetch_one(self.db().await?)
                    .await?;
                for statement in sql::FORGET {
                    sqlx::query(statement)
                        .bind(customer_id)
                        .bind(erased)
                        .bind(now)
                        .execute(self.db().await?)
                        .await?;
                }
                Ok(())
            }

            async fn expire_conversations(
                &mut self,
                cutoff: Millis,
                now: Millis,
                limit: i64,
            ) -> Result<usize> {
                let rows = sqlx::query(sql::EXPIRED_CONVERSATIONS)
                    .bind(cutoff)
                    .bind(limit)
                    .fetch_all(self.db().await?)
                    .await?;
                for r in &rows {
                    let id: i64 = r.try_get("id")?;
                    let channel: String = r.try_get("channel")?;
                    let key: String = r.try_get("conversation_key")?;
                    let last: i64 = r.try_get("updated_at")?;
                    for statement in sql::EXPIRE {
                        sqlx::query(statement)
                            .bind(id)
                            .bind(&channel)
                            .bind(&key)
                            .bind(last)
                            .bind(now)
                            .execute(self.db().await?)
                            .await?;
                    }
                    sqlx::query(sql::DELETE_UNTICKETED_CONVERSATION)
                        .bind(id)
                        .execute(self.db().await?)
                        .await?;
                }
                for statement in sql::EXPIRE_WEB {
                    sqlx::query(statement)
                        .bind(cutoff)
                        .execute(self.db().await?)
                        .await?;
                }
                Ok(rows.len())
            }

            async fn has_pending_timer(&mut self, kind: &str) -> Result<bool> {
                let n: i64 = sqlx::query_scalar(sql::HAS_TIMER)
                    .bind(kind)
                    .fetch_one(self.db().await?)
                    .await?;
                Ok(n > 0)
            }

            async fn set_agent_admin(&mut self, agent_id: i64, admin: bool) -> Result<()> {
                sqlx::query(sql::SET_ADMIN)
                    .bind(agent_id)
                    .bind(admin)
                    .execute(self.db().await?)
                    .await?;
                Ok(())
            }

            async fn agent_is_admin(&mut self, agent_id: i64) -> Result<bool> {
                let admin: Option<bool> = sqlx::query_scalar(sql::IS_ADMIN)
                    .bind(agent_id)
                    .fetch_optional(self.db().await?)
                    .await?;
                Ok(admin.unwrap_or(false))
            }
        }
    };
}

pub(in crate::store) use impl_privacy;
