//! Web-chat sessions: the web channel's own records (a session id and its token's hash), kept by
//! the store beside the core's tables. A session is written in the transaction that writes its
//! customer; reads go straight to the pool.

pub(in crate::store) const CREATE_WEB_SESSION: &str =
    "INSERT INTO web_sessions (id, token_hash, customer_id, created_at) VALUES ($1, $2, $3, $4)";
pub(in crate::store) const WEB_SESSION: &str =
    "SELECT id, token_hash, customer_id, created_at FROM web_sessions WHERE id = $1";

/// A session with what a message posted in it needs of its customer, in one statement.
pub(in crate::store) const WEB_SESSION_WITH_CUSTOMER: &str =
    "SELECT s.id, s.token_hash, s.customer_id, s.created_at, \
            c.external_id AS customer_key, c.display_name AS customer_name \
     FROM web_sessions s LEFT JOIN customers c ON c.id = s.customer_id WHERE s.id = $1";

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

            async fn web_session_with_customer(
                &self,
                id: &str,
            ) -> $crate::store::Result<
                Option<(
                    $crate::store::WebSession,
                    Option<$crate::store::SessionCustomer>,
                )>,
            > {
                use sqlx::Row;
                let row = sqlx::query($crate::store::sql::WEB_SESSION_WITH_CUSTOMER)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| {
                    let session = $crate::store::WebSession {
                        id: r.try_get("id")?,
                        token_hash: r.try_get("token_hash")?,
                        customer_id: r.try_get("customer_id")?,
                        created_at: r.try_get("created_at")?,
                    };
                    let key: Option<String> = r.try_get("customer_key")?;
                    let customer = match key {
                        Some(key) => Some($crate::store::SessionCustomer {
                            key,
                            name: r.try_get("customer_name")?,
                        }),
                        None => None,
                    };
                    Ok((session, customer))
                })
                .transpose()
            }

            async fn chat_lines(
                &self,
                channel: &str,
                key: &str,
                after: i64,
            ) -> $crate::store::Result<Vec<$crate::core::message::TranscriptLine>> {
                // One statement sees one consistent state of the database by itself: no
                // BEGIN and ROLLBACK around it, each a round trip of its own.
                let rows = sqlx::query($crate::store::sql::LINES_FOR_KEY)
                    .bind(channel)
                    .bind(key)
                    .bind(after)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(tx::line).collect()
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
