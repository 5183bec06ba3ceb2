//! Ticket cards on desk platforms. Its SQL and its part of each database's transaction type.

pub(in crate::store) const SET_CARD: &str =
    "INSERT INTO desk_cards (ticket_id, platform, card_ref, thread_ref) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (ticket_id, platform) \
     DO UPDATE SET card_ref = excluded.card_ref, thread_ref = excluded.thread_ref";
pub(in crate::store) const CARD: &str =
    "SELECT card_ref, thread_ref FROM desk_cards WHERE ticket_id = $1 AND platform = $2";
pub(in crate::store) const TICKET_BY_CARD: &str = "SELECT ticket_id FROM desk_cards \
     WHERE platform = $1 AND (thread_ref = $2 OR card_ref = $2) ORDER BY ticket_id DESC LIMIT 1";

/// Implements [`CardStore`](crate::store::CardStore) for a transaction type of `sql::impl_tx!`.
macro_rules! impl_cards {
    ($tx:ident) => {
        #[async_trait]
        impl CardStore for $tx {
            async fn set_card(
                &mut self,
                ticket_id: i64,
                platform: &str,
                card: &CardRef,
            ) -> Result<()> {
                sqlx::query(sql::SET_CARD)
                    .bind(ticket_id)
                    .bind(platform)
                    .bind(&card.card)
                    .bind(&card.thread)
                    .execute(self.db().await?)
                    .await?;
                Ok(())
            }

            async fn card(&mut self, ticket_id: i64, platform: &str) -> Result<Option<CardRef>> {
                let row = sqlx::query(sql::CARD)
                    .bind(ticket_id)
                    .bind(platform)
                    .fetch_optional(self.db().await?)
                    .await?;
                row.map(|r| {
                    Ok(CardRef {
                        card: r.try_get("card_ref")?,
                        thread: r.try_get("thread_ref")?,
                    })
                })
                .transpose()
            }

            async fn ticket_by_card(
                &mut self,
                platform: &str,
                reference: &str,
            ) -> Result<Option<i64>> {
                Ok(sqlx::query_scalar(sql::TICKET_BY_CARD)
                    .bind(platform)
                    .bind(reference)
                    .fetch_optional(self.db().await?)
                    .await?)
            }
        }
    };
}

pub(in crate::store) use impl_cards;
