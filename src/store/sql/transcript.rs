//! Transcript lines. Its SQL and its part of each database's transaction type.

pub(in crate::store) const APPEND_LINE: &str =
    "INSERT INTO transcript_lines (conversation_id, author, author_name, text, at, intent, \
                                   confidence, choices, outcome) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";
/// `$3` is true to include notes.
pub(in crate::store) const CONVERSATION_LINES: &str =
    "SELECT id, conversation_id, author, author_name, text, at, intent, confidence, choices \
     FROM transcript_lines \
     WHERE conversation_id = $1 AND id > $2 AND ($3 OR author <> 'note') \
     ORDER BY id";
pub(in crate::store) const LINES_FOR_KEY: &str =
    "SELECT l.id, l.conversation_id, l.author, l.author_name, l.text, l.at, l.intent, \
            l.confidence, l.choices \
     FROM transcript_lines l JOIN conversations c ON c.id = l.conversation_id \
     WHERE c.channel = $1 AND c.conversation_key = $2 AND l.id > $3 AND l.author <> 'note' \
     ORDER BY l.id";

/// Implements [`TranscriptStore`](crate::store::TranscriptStore) for a transaction type of `sql::impl_tx!`.
macro_rules! impl_transcript {
    ($tx:ident) => {
        #[async_trait]
        impl TranscriptStore for $tx {
            async fn append_line(&mut self, l: &NewLine) -> Result<TranscriptLine> {
                let id = if self.behind.deferred {
                    let next = self.next_ids().await?;
                    let id = next.line;
                    next.line += 1;
                    self.behind.lines.push((id, l.clone()));
                    id
                } else {
                    sqlx::query_scalar(sql::APPEND_LINE)
                        .bind(l.conversation_id)
                        .bind(l.author.as_str())
                        .bind(&l.author_name)
                        .bind(&l.text)
                        .bind(l.at)
                        .bind(&l.intent)
                        .bind(l.confidence)
                        .bind(sql::choices_to_db(&l.choices)?)
                        .bind(&l.outcome)
                        .fetch_one(self.db().await?)
                        .await?
                };
                Ok(TranscriptLine {
                    id,
                    conversation_id: l.conversation_id,
                    author: l.author,
                    author_name: l.author_name.clone(),
                    text: l.text.clone(),
                    at: l.at,
                    intent: l.intent.clone(),
                    confidence: l.confidence,
                    choices: l.choices.clone(),
                })
            }

            async fn conversation_lines(
                &mut self,
                conversation_id: i64,
                after: i64,
                include_notes: bool,
            ) -> Result<Vec<TranscriptLine>> {
                let rows = sqlx::query(sql::CONVERSATION_LINES)
                    .bind(conversation_id)
                    .bind(after)
                    .bind(include_notes)
                    .fetch_all(self.db().await?)
                    .await?;
                all(rows, line)
            }

            async fn lines_for_key(
                &mut self,
                channel: &str,
                key: &str,
                after: i64,
            ) -> Result<Vec<TranscriptLine>> {
                let rows = sqlx::query(sql::LINES_FOR_KEY)
                    .bind(channel)
                    .bind(key)
                    .bind(after)
                    .fetch_all(self.db().await?)
                    .await?;
                all(rows, line)
            }
        }
    };
}

pub(in crate::store) use impl_transcript;
