//! Timers kept in the database. Its SQL and its part of each database's transaction type.

pub(in crate::store) const SCHEDULE_TIMER: &str =
    "INSERT INTO timers (kind, subject_id, due_at) VALUES ($1, $2, $3) RETURNING id";
pub(in crate::store) const DUE_TIMERS: &str = "SELECT id, kind, subject_id, due_at FROM timers \
     WHERE fired_at IS NULL AND due_at <= $1 \
     ORDER BY due_at, id LIMIT $2";
/// Completed with the database's row-lock suffix and a closing parenthesis: an instance firing a
/// timer another instance is firing right now passes it over instead of waiting for it; either
/// way only one of them marks it.
pub(in crate::store) const MARK_TIMER_FIRED: &str = "UPDATE timers SET fired_at = $2 WHERE id = \
     (SELECT id FROM timers WHERE id = $1 AND fired_at IS NULL";
/// Cancelling deletes the timer: an unfired, cancelled timer has nothing left to tell.
pub(in crate::store) const CANCEL_TIMERS: &str =
    "DELETE FROM timers WHERE kind = $1 AND subject_id = $2 AND fired_at IS NULL";

/// Implements [`TimerStore`](crate::store::TimerStore) for a transaction type of `sql::impl_tx!`.
macro_rules! impl_timers {
    ($tx:ident) => {
        #[async_trait]
        impl TimerStore for $tx {
            async fn schedule_timer(
                &mut self,
                kind: &str,
                subject_id: i64,
                due_at: Millis,
            ) -> Result<i64> {
                Ok(sqlx::query_scalar(sql::SCHEDULE_TIMER)
                    .bind(kind)
                    .bind(subject_id)
                    .bind(due_at)
                    .fetch_one(self.db().await?)
                    .await?)
            }

            async fn due_timers(&mut self, now: Millis, limit: i64) -> Result<Vec<Timer>> {
                let rows = sqlx::query(sql::DUE_TIMERS)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(self.db().await?)
                    .await?;
                all(rows, timer)
            }

            async fn mark_timer_fired(&mut self, id: i64, now: Millis) -> Result<bool> {
                static MARK: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                    format!("{}{})", sql::MARK_TIMER_FIRED, super::SKIP_LOCKED)
                });
                let done = sqlx::query(MARK.as_str())
                    .bind(id)
                    .bind(now)
                    .execute(self.db().await?)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn cancel_timers(&mut self, kind: &str, subject_id: i64) -> Result<()> {
                sqlx::query(sql::CANCEL_TIMERS)
                    .bind(kind)
                    .bind(subject_id)
                    .execute(self.db().await?)
                    .await?;
                Ok(())
            }
        }
    };
}

pub(in crate::store) use impl_timers;
