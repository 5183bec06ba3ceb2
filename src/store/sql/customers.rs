//! Customers. Its SQL and its part of each database's transaction type.

pub(in crate::store) const UPSERT_CUSTOMER: &str =
    "INSERT INTO customers (channel, external_id, display_name, created_at) \
     VALUES ($1, $2, $3, $4) \
     ON CONFLICT (channel, external_id) \
     DO UPDATE SET display_name = COALESCE(excluded.display_name, customers.display_name) \
     RETURNING id, channel, external_id, display_name, created_at";
pub(in crate::store) const CUSTOMER: &str =
    "SELECT id, channel, external_id, display_name, created_at FROM customers WHERE id = $1";

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
        }
    };
}

pub(in crate::store) use impl_customers;
