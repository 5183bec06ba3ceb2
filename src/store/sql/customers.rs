//! Customers. Its SQL and its part of each database's transaction type.

pub(in crate::store) const UPSERT_CUSTOMER: &str =
    "INSERT INTO customers (channel, external_id, display_name, created_at) \
     VALUES ($1, $2, $3, $4) \
     ON CONFLICT (channel, external_id) \
     DO UPDATE SET display_name = COALESCE(excluded.display_name, customers.display_name) \
     RETURNING id, channel, external_id, display_name, created_at, blocked_at";
pub(in crate::store) const CUSTOMER: &str =
    "SELECT id, channel, external_id, display_name, created_at, blocked_at \
     FROM customers WHERE id = $1";
/// Blocking again keeps the first time; unblocking forgets the notice, so a customer blocked
/// again later is told once more.
pub(in crate::store) const BLOCK_CUSTOMER: &str =
    "UPDATE customers SET blocked_at = COALESCE(blocked_at, $2) WHERE id = $1";
pub(in crate::store) const UNBLOCK_CUSTOMER: &str =
    "UPDATE customers SET blocked_at = NULL, block_noticed_at = NULL WHERE id = $1";
pub(in crate::store) const NOTICE_BLOCK: &str = "UPDATE customers SET block_noticed_at = $2 \
     WHERE id = $1 AND blocked_at IS NOT NULL AND block_noticed_at IS NULL";
pub(in crate::store) const BLOCKED_CUSTOMERS: &str =
    "SELECT id, channel, external_id, display_name, created_at, blocked_at \
     FROM customers WHERE blocked_at IS NOT NULL ORDER BY blocked_at, id";

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
                    .fetch_one(self.db().await?)
                    .await?;
                customer(&row)
            }

            async fn customer(&mut self, id: i64) -> Result<Option<Customer>> {
                let row = sqlx::query(sql::CUSTOMER)
                    .bind(id)
                    .fetch_optional(self.db().await?)
                    .await?;
                row.as_ref().map(customer).transpose()
            }

            async fn set_blocked(&mut self, id: i64, blocked: bool, now: Millis) -> Result<()> {
                let query = if blocked {
                    sqlx::query(sql::BLOCK_CUSTOMER).bind(id).bind(now)
                } else {
                    sqlx::query(sql::UNBLOCK_CUSTOMER).bind(id)
                };
                query.execute(self.db().await?).await?;
                Ok(())
            }

            async fn notice_block(&mut self, id: i64, now: Millis) -> Result<bool> {
                let done = sqlx::query(sql::NOTICE_BLOCK)
                    .bind(id)
                    .bind(now)
                    .execute(self.db().await?)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn blocked_customers(&mut self) -> Result<Vec<Customer>> {
                let rows = sqlx::query(sql::BLOCKED_CUSTOMERS)
                    .fetch_all(self.db().await?)
                    .await?;
                all(rows, customer)
            }
        }
    };
}

pub(in crate::store) use impl_customers;
