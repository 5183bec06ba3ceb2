//! Customers. Its SQL and its part of each database's transaction type.

pub(in crate::store) const UPSERT_CUSTOMER: &str =
    "INSERT INTO customers (channel, external_id, display_name, created_at) \
     VALUES ($1, $2, $3, $4) \
     ON CONFLICT (channel, external_id) \
     DO UPDATE SET display_name = COALESCE(excluded.display_name, customers.display_name) \
     RETURNING id, channel, external_id, display_name, created_at, blocked_at";
/// [`UPSERT_CUSTOMER`] for many rows: this, then `(channel, external_id, display_name,
/// created_at)` rows, then [`UPSERT_CUSTOMERS_END`].
pub(in crate::store) const UPSERT_CUSTOMERS: &str =
    "INSERT INTO customers (channel, external_id, display_name, created_at) ";
pub(in crate::store) const UPSERT_CUSTOMERS_END: &str = " ON CONFLICT (channel, external_id) \
     DO UPDATE SET display_name = COALESCE(excluded.display_name, customers.display_name) \
     RETURNING id, channel, external_id, display_name, created_at, blocked_at";
/// Rows per multi-row upsert: 4 values each, well under either database's limit on them.
pub(in crate::store) const UPSERT_CHUNK: usize = 500;
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

            async fn upsert_customers(
                &mut self,
                channel: &str,
                customers: &[(&str, Option<&str>, Millis)],
            ) -> Result<Vec<Customer>> {
                // One row per id (a statement may not upsert a row twice on PostgreSQL): the
                // first time, the last name given.
                let mut rows: Vec<(&str, Option<&str>, Millis)> = Vec::new();
                for &(id, name, at) in customers {
                    match rows.iter_mut().find(|row| row.0 == id) {
                        Some(row) => row.1 = name.or(row.1),
                        None => rows.push((id, name, at)),
                    }
                }
                let mut stored = std::collections::HashMap::new();
                for chunk in rows.chunks(sql::UPSERT_CHUNK) {
                    let mut upsert = sqlx::QueryBuilder::new(sql::UPSERT_CUSTOMERS);
                    upsert.push_values(chunk, |mut b, &(id, name, at)| {
                        b.push_bind(channel.to_string())
                            .push_bind(id.to_string())
                            .push_bind(name.map(str::to_string))
                            .push_bind(at);
                    });
                    upsert.push(sql::UPSERT_CUSTOMERS_END);
                    // A text per row count: prepared each time, not cached.
                    for row in upsert
                        .build()
                        .persistent(false)
                        .fetch_all(self.db().await?)
                        .await?
                    {
                        let c = customer(&row)?;
                        stored.insert(c.external_id.clone(), c);
                    }
                }
                customers
                    .iter()
                    .map(|&(id, _, _)| {
                        stored.get(id).cloned().ok_or_else(|| {
                            $crate::store::StoreError::Corrupt(format!(
                                "customer {id} was upserted but not returned"
                            ))
                        })
                    })
                    .collect()
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
