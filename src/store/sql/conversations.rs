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

/// For each key, numbered `k`: the customer, the newest conversation and its customer lines (one
/// row per line, or one row with NULLs for whatever is missing). Customer columns are prefixed
/// `cu_`, the line's are `line_id` and `line_text`. `{channel}`, `{customer}` and
/// `{conversation}` stand for the key's placeholders.
const TURN_CONTEXT_ONE: &str = "SELECT {k} AS k, cu.id AS cu_id, cu.channel AS cu_channel, \
            cu.external_id AS cu_external_id, cu.display_name AS cu_display_name, \
            cu.created_at AS cu_created_at, cu.blocked_at AS cu_blocked_at, \
            c.id, c.channel, c.conversation_key, c.reply_to, c.customer_id, c.state, c.misses, \
            c.clarify, c.ticket_id, c.disclosed, c.answer_turn, c.created_at, c.updated_at, \
            l.id AS line_id, l.text AS line_text \
     FROM (SELECT 1 AS one) k \
     LEFT JOIN customers cu ON cu.channel = {channel} AND cu.external_id = {customer} \
     LEFT JOIN conversations c ON c.id = ( \
         SELECT id FROM conversations WHERE channel = {channel} \
         AND conversation_key = {conversation} ORDER BY id DESC LIMIT 1) \
     LEFT JOIN transcript_lines l ON l.conversation_id = c.id AND l.author = 'customer'";

/// Keys per turn-context statement (a power of two), so a statement has at most 192 bound values.
pub(in crate::store) const TURN_CONTEXT_KEYS: usize = 64;

/// The turn contexts of `n` keys in one statement, the key numbered `i` bound to `$3i+1` (channel),
/// `$3i+2` (customer key) and `$3i+3` (conversation key).
pub(in crate::store) fn turn_contexts_sql(n: usize) -> String {
    let selects: Vec<String> = (0..n)
        .map(|i| {
            TURN_CONTEXT_ONE
                .replace("{k}", &i.to_string())
                .replace("{channel}", &format!("${}", 3 * i + 1))
                .replace("{customer}", &format!("${}", 3 * i + 2))
                .replace("{conversation}", &format!("${}", 3 * i + 3))
        })
        .collect();
    format!("{} ORDER BY k, line_id", selects.join(" UNION ALL "))
}

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
                    .fetch_one(self.db().await?)
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
                    .fetch_optional(self.db().await?)
                    .await?;
                row.as_ref().map(conversation).transpose()
            }

            async fn conversation(&mut self, id: i64) -> Result<Option<Conversation>> {
                let row = sqlx::query(sql::CONVERSATION)
                    .bind(id)
                    .fetch_optional(self.db().await?)
                    .await?;
                row.as_ref().map(conversation).transpose()
            }

            async fn turn_contexts(
                &mut self,
                keys: &[$crate::store::TurnKey<'_>],
            ) -> Result<Vec<$crate::store::TurnContext>> {
                let mut contexts = Vec::with_capacity(keys.len());
                for chunk in keys.chunks(sql::conversations::TURN_CONTEXT_KEYS) {
                    // Padded to a power of two with copies of the last key, so a handful of
                    // statements serve every batch size; the copies' rows are left unread.
                    let padded = chunk.len().next_power_of_two();
                    let last = chunk[chunk.len() - 1];
                    // Built from constants and placeholder numbers only.
                    let text = sql::conversations::turn_contexts_sql(padded);
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(text));
                    let copies = std::iter::repeat_n(&last, padded - chunk.len());
                    for key in chunk.iter().chain(copies) {
                        query = query
                            .bind(key.channel)
                            .bind(key.customer_key)
                            .bind(key.conversation_key);
                    }
                    let rows = query.fetch_all(self.db().await?).await?;
                    let first = contexts.len();
                    contexts.resize_with(first + chunk.len(), Default::default);
                    let mut seen = vec![false; chunk.len()];
                    for row in &rows {
                        let k = usize::try_from(row.try_get::<i32, _>("k")?).map_err(|_| {
                            $crate::store::StoreError::Corrupt("negative turn context key".into())
                        })?;
                        if k >= chunk.len() {
                            continue;
                        }
                        let context: &mut $crate::store::TurnContext = &mut contexts[first + k];
                        if !std::mem::replace(&mut seen[k], true) {
                            if row.try_get::<Option<i64>, _>("cu_id")?.is_some() {
                                context.customer = Some($crate::core::customer::Customer {
                                    id: row.try_get("cu_id")?,
                                    channel: row.try_get("cu_channel")?,
                                    external_id: row.try_get("cu_external_id")?,
                                    display_name: row.try_get("cu_display_name")?,
                                    created_at: row.try_get("cu_created_at")?,
                                    blocked_at: row.try_get("cu_blocked_at")?,
                                });
                            }
                            if row.try_get::<Option<i64>, _>("id")?.is_some() {
                                context.conversation = Some(conversation(row)?);
                            }
                        }
                        if let Some(text) = row.try_get::<Option<String>, _>("line_text")? {
                            context.customer_lines.push(text);
                        }
                    }
                }
                Ok(contexts)
            }

            async fn create_conversation(&mut self, c: &Conversation) -> Result<i64> {
                if self.behind.deferred {
                    let next = self.next_ids().await?;
                    let id = next.conversation;
                    next.conversation += 1;
                    self.behind
                        .new_conversations
                        .push(Conversation { id, ..c.clone() });
                    return Ok(id);
                }
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
                    .fetch_one(self.db().await?)
                    .await?)
            }

            async fn update_conversation(&mut self, c: &Conversation) -> Result<()> {
                if self.behind.deferred {
                    self.behind.update_conversation(c);
                    return Ok(());
                }
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
                    .execute(self.db().await?)
                    .await?;
                Ok(())
            }
        }
    };
}

pub(in crate::store) use impl_conversations;
