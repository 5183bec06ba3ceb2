//! Web-chat sessions: the web channel's own records (a session id and its token's hash), kept by
//! the store beside the core's tables. A session is written in the transaction that writes its
//! customer; reads go straight to the pool.

pub(in crate::store) const CREATE_WEB_SESSION: &str =
    "INSERT INTO web_sessions (id, token_hash, customer_id, created_at) VALUES ($1, $2, $3, $4)";
pub(in crate::store) const WEB_SESSION: &str =
    "SELECT id, token_hash, customer_id, created_at FROM web_sessions WHERE id = $1";

/// Sessions with what a message posted in them needs of their customers: `n` session ids bound
/// to `$1..$n`.
pub(in crate::store) fn sessions_with_customers_sql(n: usize) -> String {
    let ids: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
    format!(
        "SELECT s.id AS session_id, s.token_hash, s.customer_id, \
                s.created_at AS session_created_at, \
                c.external_id AS customer_key, c.display_name AS customer_name \
         FROM web_sessions s LEFT JOIN customers c ON c.id = s.customer_id WHERE s.id IN ({})",
        ids.join(", ")
    )
}

/// The lines of `n` chats of channel `$1`, each after its own line id: the chat numbered `i` is
/// keyed by `$(2i+2)` and read after `$(2i+3)`. A row's `k` is its chat's number.
pub(in crate::store) fn chats_lines_sql(n: usize) -> String {
    let chats: Vec<String> = (0..n)
        .map(|i| format!("({i}, ${}, CAST(${} AS BIGINT))", 2 * i + 2, 2 * i + 3))
        .collect();
    format!(
        "SELECT k.column1 AS k, l.id, l.conversation_id, l.author, l.author_name, l.text, l.at, \
                l.intent, l.confidence, l.choices \
         FROM (VALUES {}) AS k \
         JOIN conversations c ON c.channel = $1 AND c.conversation_key = k.column2 \
         JOIN transcript_lines l ON l.conversation_id = c.id AND l.id > k.column3 \
                                 AND l.author <> 'note' \
         ORDER BY k.column1, l.id",
        chats.join(", ")
    )
}

/// Sessions with their customers and their chats' lines: the poll numbered `i` reads session
/// `$(2i+2)` and the lines of channel `$1` after `$(2i+3)`. A row's `k` is its poll's number; a
/// session with no lines (or no customer) has one row, with the line columns null.
pub(in crate::store) fn sessions_with_lines_sql(n: usize) -> String {
    let polls: Vec<String> = (0..n)
        .map(|i| format!("({i}, ${}, CAST(${} AS BIGINT))", 2 * i + 2, 2 * i + 3))
        .collect();
    format!(
        "SELECT k.column1 AS k, s.id AS session_id, s.token_hash, s.customer_id, \
                s.created_at AS session_created_at, \
                c.external_id AS customer_key, c.display_name AS customer_name, \
                l.id, l.conversation_id, l.author, l.author_name, l.text, l.at, \
                l.intent, l.confidence, l.choices \
         FROM (VALUES {}) AS k \
         JOIN web_sessions s ON s.id = k.column2 \
         LEFT JOIN customers c ON c.id = s.customer_id \
         LEFT JOIN conversations cv ON cv.channel = $1 AND cv.conversation_key = c.external_id \
         LEFT JOIN transcript_lines l ON l.conversation_id = cv.id AND l.id > k.column3 \
                                      AND l.author <> 'note' \
         ORDER BY k.column1, l.id",
        polls.join(", ")
    )
}

/// Ids or chats per read statement (a power of two): reads are padded to a power of two, so a
/// handful of statement texts serve every batch size.
pub(in crate::store) const READ_KEYS: usize = 64;

/// Implements [`WebSessionStore`](crate::store::WebSessionStore) for a store type with a `pool`.
macro_rules! impl_web_sessions {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::WebSessionStore for $store {
            async fn web_session(
                &self,
                id: &str,
            ) -> $crate::store::Result<Option<$crate::store::WebSession>> {
                use sqlx::Row;
                let row = sqlx::query($crate::store::sql::WEB_SESSION)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| {
                    Ok($crate::store::WebSession {
                        id: r.try_get("id")?,
                        token_hash: r.try_get("token_hash")?,
                        customer_id: r.try_get("customer_id")?,
                        created_at: r.try_get("created_at")?,
                    })
                })
                .transpose()
            }

            async fn web_sessions_with_customers(
                &self,
                ids: &[&str],
            ) -> $crate::store::Result<
                Vec<
                    Option<(
                        $crate::store::WebSession,
                        Option<$crate::store::SessionCustomer>,
                    )>,
                >,
            > {
                let mut found = std::collections::HashMap::new();
                for chunk in ids.chunks($crate::store::sql::web_sessions::READ_KEYS) {
                    // Padded with copies of the last id, which `IN` reads once.
                    let padded = chunk.len().next_power_of_two();
                    let text =
                        $crate::store::sql::web_sessions::sessions_with_customers_sql(padded);
                    // Built from constants and placeholder numbers only.
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(text));
                    let copies = std::iter::repeat_n(&chunk[chunk.len() - 1], padded - chunk.len());
                    for id in chunk.iter().chain(copies) {
                        query = query.bind(*id);
                    }
                    for r in query.fetch_all(&self.pool).await? {
                        let (session, customer) = tx::session_with_customer(&r)?;
                        found.insert(session.id.clone(), (session, customer));
                    }
                }
                Ok(ids.iter().map(|id| found.get(*id).cloned()).collect())
            }

            async fn web_sessions_with_lines(
                &self,
                channel: &str,
                polls: &[(&str, i64)],
            ) -> $crate::store::Result<Vec<Option<$crate::store::SessionPoll>>> {
                use sqlx::Row;
                let mut read: Vec<Option<$crate::store::SessionPoll>> =
                    Vec::with_capacity(polls.len());
                for chunk in polls.chunks($crate::store::sql::web_sessions::READ_KEYS) {
                    // Padded with copies of the last poll, whose rows are left unread.
                    let padded = chunk.len().next_power_of_two();
                    let text = $crate::store::sql::web_sessions::sessions_with_lines_sql(padded);
                    // Built from constants and placeholder numbers only.
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(text)).bind(channel);
                    let copies = std::iter::repeat_n(&chunk[chunk.len() - 1], padded - chunk.len());
                    for (id, after) in chunk.iter().chain(copies) {
                        query = query.bind(*id).bind(*after);
                    }
                    let first = read.len();
                    read.resize_with(first + chunk.len(), || None);
                    for r in query.fetch_all(&self.pool).await? {
                        let k = usize::try_from(r.try_get::<i32, _>("k")?).unwrap_or(usize::MAX);
                        let Some(poll) = read[first..].get_mut(k) else {
                            continue;
                        };
                        let (_, _, lines) = match poll {
                            Some(poll) => poll,
                            None => {
                                let (session, customer) = tx::session_with_customer(&r)?;
                                let lines = customer.as_ref().map(|_| Vec::new());
                                poll.insert((session, customer, lines))
                            }
                        };
                        if let Some(lines) = lines {
                            if r.try_get::<Option<i64>, _>("id")?.is_some() {
                                lines.push(tx::line(&r)?);
                            }
                        }
                    }
                }
                Ok(read)
            }

            async fn chats_lines(
                &self,
                channel: &str,
                chats: &[(&str, i64)],
            ) -> $crate::store::Result<Vec<Vec<$crate::core::message::TranscriptLine>>> {
                use sqlx::Row;
                let mut lines = Vec::with_capacity(chats.len());
                for chunk in chats.chunks($crate::store::sql::web_sessions::READ_KEYS) {
                    // Padded with copies of the last chat, whose rows are left unread. One
                    // statement sees one consistent state of the database by itself: no BEGIN
                    // and ROLLBACK around it, each a round trip of its own.
                    let padded = chunk.len().next_power_of_two();
                    let text = $crate::store::sql::web_sessions::chats_lines_sql(padded);
                    // Built from constants and placeholder numbers only.
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(text)).bind(channel);
                    let copies = std::iter::repeat_n(&chunk[chunk.len() - 1], padded - chunk.len());
                    for (key, after) in chunk.iter().chain(copies) {
                        query = query.bind(*key).bind(*after);
                    }
                    let first = lines.len();
                    lines.resize_with(first + chunk.len(), Vec::new);
                    for r in query.fetch_all(&self.pool).await? {
                        let k = usize::try_from(r.try_get::<i32, _>("k")?).unwrap_or(usize::MAX);
                        if let Some(chat) = lines[first..].get_mut(k) {
                            chat.push(tx::line(&r)?);
                        }
                    }
                }
                Ok(lines)
            }
        }
    };
}

pub(in crate::store) use impl_web_sessions;

/// Implements [`WebSessionTx`](crate::store::WebSessionTx) for a transaction type of
/// `sql::impl_tx!`.
macro_rules! impl_web_session_tx {
    ($tx:ident) => {
        #[async_trait]
        impl WebSessionTx for $tx {
            async fn create_web_session(
                &mut self,
                session: &$crate::store::WebSession,
            ) -> Result<()> {
                if self.behind.deferred {
                    self.behind.web_sessions.push(session.clone());
                    return Ok(());
                }
                sqlx::query(sql::CREATE_WEB_SESSION)
                    .bind(&session.id)
                    .bind(&session.token_hash)
                    .bind(session.customer_id)
                    .bind(session.created_at)
                    .execute(self.db().await?)
                    .await?;
                Ok(())
            }
        }
    };
}

pub(in crate::store) use impl_web_session_tx;
