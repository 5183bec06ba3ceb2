//! Leases on platform connections. Its SQL and its part of each database's transaction type.

/// Takes the lease if nobody has it, its holder let it expire, or it is already ours; one
/// statement, so two instances racing for it cannot both win. `$3` is now, `$4` the new expiry.
pub(in crate::store) const ACQUIRE_LEASE: &str =
    "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $4) \
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
     WHERE leases.holder = excluded.holder OR leases.expires_at <= $3";
pub(in crate::store) const RELEASE_LEASE: &str =
    "DELETE FROM leases WHERE name = $1 AND holder = $2";
pub(in crate::store) const LEASE_HOLDER: &str =
    "SELECT holder FROM leases WHERE name = $1 AND expires_at > $2";

/// Implements [`LeaseStore`](crate::store::LeaseStore) for a transaction type of `sql::impl_tx!`.
macro_rules! impl_leases {
    ($tx:ident) => {
        #[async_trait]
        impl LeaseStore for $tx {
            async fn acquire_lease(
                &mut self,
                name: &str,
                holder: &str,
                now: Millis,
                expires_at: Millis,
            ) -> Result<bool> {
                let done = sqlx::query(sql::ACQUIRE_LEASE)
                    .bind(name)
                    .bind(holder)
                    .bind(now)
                    .bind(expires_at)
                    .execute(self.db().await?)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn release_lease(&mut self, name: &str, holder: &str) -> Result<bool> {
                let done = sqlx::query(sql::RELEASE_LEASE)
                    .bind(name)
                    .bind(holder)
                    .execute(self.db().await?)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn lease_holder(&mut self, name: &str, now: Millis) -> Result<Option<String>> {
                Ok(sqlx::query_scalar(sql::LEASE_HOLDER)
                    .bind(name)
                    .bind(now)
                    .fetch_optional(self.db().await?)
                    .await?)
            }
        }
    };
}

pub(in crate::store) use impl_leases;
