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

/// The customer, the newest conversation and its customer lines (one row per line, or one row
/// with NULLs for whatever is missing). Customer columns are prefixed `cu_`, the line's text is
/// `line_text`.
pub(in crate::store) const TURN_CONTEXT: &str =
    "SELECT cu.id AS cu_id, cu.channel AS cu_channel, cu.external_id AS cu_external_id, \
            cu.display_name AS cu_display_name, cu.created_at AS cu_created_at, \
            cu.blocked_at AS cu_blocked_at, \
            c.id, c.channel, c.conversation_key, c.reply_to, c.customer_id, c.state, c.misses, \
            c.clarify, c.ticket_id, c.disclosed, c.answer_turn, c.created_at, c.updated_at, \
            l.text AS line_text \
     FROM (SELECT 1 AS one) k \
     LEFT JOIN customers cu ON cu.channel = $1 AND cu.external_id = $2 \
     LEFT JOIN conversations c ON c.id = ( \
         SELECT id FROM conversations WHERE channel = $1 AND conversation_key = $3 \
         ORDER BY id DESC LIMIT 1) \
     LEFT JOIN transcript_lines l ON l.conversation_id = c.id AND l.author = 'customer' \
     ORDER BY l.id";

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

            async fn turn_context(
                &mut self,
                channel: &str,
                customer_key: &str,
                conversation_key: &str,
            ) -> Result<$crate::store::TurnContext> {
                let rows = sqlx::query(sql::TURN_CONTEXT)
                    .bind(channel)
                    .bind(customer_key)
                    .bind(conversation_key)
                    .fetch_all(&mut *self.0)
                    .await?;
                let mut context = $crate::store::TurnContext::default();
                let Some(first) = rows.first() else {
                    return Ok(context);
                };
                if first.try_get::<Option<i64>, _>("cu_id")?.is_some() {
                    context.customer = Some($crate::core::customer::Customer {
                        id: first.try_get("cu_id")?,
                        channel: first.try_get("cu_channel")?,
                        external_id: first.try_get("cu_external_id")?,
                        display_name: first.try_get("cu_display_name")?,
                        created_at: first.try_get("cu_created_at")?,
                        blocked_at: first.try_get("cu_blocked_at")?,
                    });
                }
                if first.try_get::<Option<i64>, _>("id")?.is_some() {
                    context.conversation = Some(conversation(first)?);
                }
                for row in &rows {
                    if let Some(text) = row.try_get::<Option<String>, _>("line_text")? {
                        context.customer_lines.push(text);
                    }
                }
                Ok(context)
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
