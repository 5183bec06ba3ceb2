//! Customers and web-chat sessions. Its SQL and its part of each database's transaction type.

pub(in crate::store) const UPSERT_CUSTOMER: &str =
    "INSERT INTO customers (channel, external_id, display_name, created_at) \
     VALUES ($1, $2, $3, $4) \
     ON CONFLICT (channel, external_id) \
     DO UPDATE SET display_name = COALESCE(excluded.display_name, customers.display_name) \
     RETURNING id, channel, external_id, display_name, created_at";
pub(in crate::store) const CUSTOMER: &str =
    "SELECT id, channel, external_id, display_name, created_at FROM customers WHERE id = $1";
pub(in crate::store) const CREATE_WEB_SESSION: &str =
    "INSERT INTO web_sessions (id, token_hash, customer_id, created_at) VALUES ($1, $2, $3, $4)";
pub(in crate::store) const WEB_SESSION: &str =
    "SELECT id, token_hash, customer_id, created_at FROM web_sessions WHERE id = $1";

/// Implements [`CustomerStore`](crate::store::CustomerStore) for a transaction type of `sql::impl_tx!`.
macro_rules! impl_customers {
    ($tx:ident) => {
        #[async_trait]
        impl CustomerStore for $tx {
            async fn upsert_customer(
                &mut self,
                channel: &str,
                external_id: &str,
                display_name: Option<&str>,
                now: Millis,
            ) -> Result<Customer> {
                let row = sqlx::query(sql::UPSERT_CUSTOMER)
                    .bind(channel)
                    .bind(external_id)
                    .bind(display_name)
                    .bind(now)
                    .fetch_one(&mut *self.0)
                    .await?;
                customer(&row)
            }

            async fn customer(&mut self, id: i64) -> Result<Option<Customer>> {
                let row = sqlx::query(sql::CUSTOMER)
                    .bind(id)
                    .fetch_optional(&mut *self.0)
                    .await?;
                row.as_ref().map(customer).transpose()
            }

            async fn create_web_session(&mut self, session: &WebSession) -> Result<()> {
                sqlx::query(sql::CREATE_WEB_SESSION)
                    .bind(&session.id)
                    .bind(&session.token_hash)
                    .bind(session.customer_id)
                    .bind(session.created_at)
                    .execute(&mut *self.0)
                    .await?;
                Ok(())
            }

            async fn web_session(&mut self, id: &str) -> Result<Option<WebSession>> {
                let row = sqlx::query(sql::WEB_SESSION)
                    .bind(id)
                    .fetch_optional(&mut *self.0)
                    .await?;
                row.map(|r| {
                    Ok(WebSession {
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

pub(in crate::store) use impl_customers;
