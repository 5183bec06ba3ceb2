//! Web-chat sessions: the web channel's own records (a session id and its token's hash), kept by
//! the store beside the core's tables but outside the core's transaction.

pub(in crate::store) const CREATE_WEB_SESSION: &str =
    "INSERT INTO web_sessions (id, token_hash, customer_id, created_at) VALUES ($1, $2, $3, $4)";
pub(in crate::store) const WEB_SESSION: &str =
    "SELECT id, token_hash, customer_id, created_at FROM web_sessions WHERE id = $1";

/// Implements [`WebSessionStore`](crate::store::WebSessionStore) for a store type with a `pool`.
macro_rules! impl_web_sessions {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::WebSessionStore for $store {
            async fn create_web_session(
                &self,
                session: &$crate::store::WebSession,
            ) -> $crate::store::Result<()> {
                sqlx::query($crate::store::sql::CREATE_WEB_SESSION)
                    .bind(&session.id)
                    .bind(&session.token_hash)
                    .bind(session.customer_id)
                    .bind(session.created_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

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
        }
    };
}

pub(in crate::store) use impl_web_sessions;
