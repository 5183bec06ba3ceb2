//! What the report counts (times are the window [from, to)). Its SQL and its part of each database's transaction type.

pub(in crate::store) const SET_LINE_OUTCOME: &str =
    "UPDATE transcript_lines SET outcome = $2 WHERE id = $1";
pub(in crate::store) const OUTCOME_COUNTS: &str = "SELECT outcome, COUNT(*) AS n FROM ( \
       SELECT outcome, at FROM transcript_lines WHERE outcome IS NOT NULL AND at >= $1 AND at < $2 \
       UNION ALL \
       SELECT outcome, at FROM removed_line_outcomes WHERE at >= $1 AND at < $2) o \
     GROUP BY outcome";
pub(in crate::store) const NOT_UNDERSTOOD: &str =
    "SELECT LOWER(TRIM(text)) AS question, COUNT(*) AS times, MAX(at) AS last_at, \
            MAX(conversation_id) AS conversation_id \
     FROM transcript_lines \
     WHERE outcome = 'not_understood' AND at >= $1 AND at < $2 \
     GROUP BY LOWER(TRIM(text)) ORDER BY times DESC, last_at DESC, question LIMIT $3";
pub(in crate::store) const TICKETS_OPENED: &str = concat!(
    "SELECT ",
    ticket_columns!(),
    " FROM tickets WHERE created_at >= $1 AND created_at < $2 ORDER BY id"
);

/// Days are UTC days since the epoch (integer division on both databases).
pub(in crate::store) const OUTCOMES_BY_DAY: &str =
    "SELECT at / 86400000 AS day, outcome, COUNT(*) AS n FROM transcript_lines \
     WHERE outcome IS NOT NULL AND at >= $1 AND at < $2 \
     GROUP BY at / 86400000, outcome ORDER BY day, outcome";
pub(in crate::store) const INBOX_DEAD_LETTERS: &str =
    "SELECT COUNT(*) FROM inbox WHERE dead_at IS NOT NULL AND dead_at >= $1 AND dead_at < $2";

/// Implements [`ReportStore`](crate::store::ReportStore) for a transaction type of `sql::impl_tx!`.
macro_rules! impl_report {
    ($tx:ident) => {
        #[async_trait]
        impl ReportStore for $tx {
            async fn set_line_outcome(&mut self, line_id: i64, outcome: &str) -> Result<()> {
                sqlx::query(sql::SET_LINE_OUTCOME)
                    .bind(line_id)
                    .bind(outcome)
                    .execute(self.db().await?)
                    .await?;
                Ok(())
            }

            async fn outcomes_by_day(
                &mut self,
                from: Millis,
                to: Millis,
            ) -> Result<Vec<(i64, String, i64)>> {
                let rows = sqlx::query(sql::OUTCOMES_BY_DAY)
                    .bind(from)
                    .bind(to)
                    .fetch_all(self.db().await?)
                    .await?;
                all(rows, |r| {
                    Ok((r.try_get("day")?, r.try_get("outcome")?, r.try_get("n")?))
                })
            }

            async fn inbox_dead_letters(&mut self, from: Millis, to: Millis) -> Result<i64> {
                Ok(sqlx::query_scalar(sql::INBOX_DEAD_LETTERS)
                    .bind(from)
                    .bind(to)
                    .fetch_one(self.db().await?)
                    .await?)
            }

            async fn outcome_counts(
                &mut self,
                from: Millis,
                to: Millis,
            ) -> Result<Vec<(String, i64)>> {
                let rows = sqlx::query(sql::OUTCOME_COUNTS)
                    .bind(from)
                    .bind(to)
                    .fetch_all(self.db().await?)
                    .await?;
                all(rows, |r| Ok((r.try_get("outcome")?, r.try_get("n")?)))
            }

            async fn not_understood(
                &mut self,
                from: Millis,
                to: Millis,
                limit: i64,
            ) -> Result<Vec<NotUnderstood>> {
                let rows = sqlx::query(sql::NOT_UNDERSTOOD)
                    .bind(from)
                    .bind(to)
                    .bind(limit)
                    .fetch_all(self.db().await?)
                    .await?;
                all(rows, |r| {
                    Ok(NotUnderstood {
                        text: r.try_get("question")?,
                        times: r.try_get("times")?,
                        last_at: r.try_get("last_at")?,
                        conversation_id: r.try_get("conversation_id")?,
                    })
                })
            }

            async fn tickets_opened(&mut self, from: Millis, to: Millis) -> Result<Vec<Ticket>> {
                let rows = sqlx::query(sql::TICKETS_OPENED)
                    .bind(from)
                    .bind(to)
                    .fetch_all(self.db().await?)
                    .await?;
                all(rows, ticket)
            }
        }
    };
}

pub(in crate::store) use impl_report;
