//! Conversations and their state. Its SQL and its part of each database's transaction type.

pub(in crate::store) const LATEST_CONVERSATION: &str =
    "SELECT id, channel, conversation_key, reply_to, customer_id, state, misses, clarify, \
            ticket_id, disclosed, answer_turn, created_at, updated_at \
     FROM conversations WHERE channel = $1 AND conversation_key = $2 \
     ORDER BY id DESC LIMIT 1";
pub(in crate::store) const CONVERSATION: &str =
    "SELECT id, channel, conversation_key, reply_to, customer_id, state, misses, clarify, \
            ticket_id, disclosed, answer_turn, created_at, updated_at \
     FROM conversations WHERE id = $1";
pub(in crate::store) const CREATE_CONVERSATION: &str =
    "INSERT INTO conversations (channel, conversation_key, reply_to, customer_id, state, \
                                misses, clarify, ticket_id, disclosed, answer_turn, created_at, \
                                updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id";
pub(in crate::store) const UPDATE_CONVERSATION: &str =
    "UPDATE conversations SET channel = $2, conversation_key = $3, reply_to = $4, \
            customer_id = $5, state = $6, misses = $7, clarify = $8, ticket_id = $9, \
            disclosed = $10, answer_turn = $11, created_at = $12, updated_at = $13 \
     WHERE id = $1";

pub(in crate::store) const EARLIER_CONVERSATIONS: &str =
    "SELECT COUNT(*) FROM conversations WHERE customer_id = $1 AND id < $2";

/// Implements [`ConversationStore`](crate::store::ConversationStore) for a transaction type of `sql::impl_tx!`.
macro_rules! impl_conversations {
    ($tx:ident) => {
        #[async_trait]
        impl ConversationStore for $tx {
            async fn earlier_conversations(
                &mut self,
                customer_id: i64,
                before: i64,
            ) -> Result<i64> {
                Ok(sqlx::query_scalar(sql::EARLIER_CONVERSATIONS)
                    .bind(customer_id)
                    .bind(before)
                    .fetch_one(&mut *self.0)
                    .await?)
            }

            async fn latest_conversation(
                &mut self,
                channel: &str,
                key: &str,
            ) -> Result<Option<Conversation>> {
                let row = sqlx::query(sql::LATEST_CONVERSATION)
                    .bind(channel)
                    .bind(key)
                    .fetch_optional(&mut *self.0)
                    .await?;
                row.as_ref().map(conversation).transpose()
            }

            async fn conversation(&mut self, id: i64) -> Result<Option<Conversation>> {
                let row = sqlx::query(sql::CONVERSATION)
                    .bind(id)
                    .fetch_optional(&mut *self.0)
                    .await?;
                row.as_ref().map(conversation).transpose()
            }

            async fn create_conversation(&mut self, c: &Conversation) -> Result<i64> {
                Ok(sqlx::query_scalar(sql::CREATE_CONVERSATION)
                    .bind(&c.channel)
                    .bind(&c.conversation_key)
                    .bind(&c.reply_to)
                    .bind(c.customer_id)
                    .bind(c.state.as_str())
                    .bind(c.misses)
                    .bind(sql::to_json("clarify list", &c.clarify)?)
                    .bind(c.ticket_id)
                    .bind(c.disclosed)
                    .bind(c.answer_turn)
                    .bind(c.created_at)
                    .bind(c.updated_at)
                    .fetch_one(&mut *self.0)
                    .await?)
            }

            async fn update_conversation(&mut self, c: &Conversation) -> Result<()> {
                sqlx::query(sql::UPDATE_CONVERSATION)
                    .bind(c.id)
                    .bind(&c.channel)
                    .bind(&c.conversation_key)
                    .bind(&c.reply_to)
                    .bind(c.customer_id)
                    .bind(c.state.as_str())
                    .bind(c.misses)
                    .bind(sql::to_json("clarify list", &c.clarify)?)
                    .bind(c.ticket_id)
                    .bind(c.disclosed)
                    .bind(c.answer_turn)
                    .bind(c.created_at)
                    .bind(c.updated_at)
                    .execute(&mut *self.0)
                    .await?;
                Ok(())
            }
        }
    };
}

pub(in crate::store) use impl_conversations;
