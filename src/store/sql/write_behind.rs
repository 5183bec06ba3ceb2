//! Write-behind for conversations, transcript lines and web sessions, in SQLite's write
//! transactions.
//!
//! sqlx runs each SQLite statement on the connection's own thread, so every statement costs two
//! thread switches, and those (not the disk flush) bound how many messages a second the one
//! writer gets through. A message's new conversation, its customer line, the bot's line and the
//! conversation's new state are written one after the other with nothing reading them in
//! between, and so are the sessions of new web chats; they are held here and written for the
//! whole batch, just before the transaction's next other statement or its commit, in one round
//! trip: one multi-row INSERT per table and one `UPDATE … FROM (VALUES …)`, sent as one query.
//! Whatever runs next in the transaction therefore sees them, as if they had been written at
//! once.
//!
//! Their ids are given here, not by the database: the next ones are read from `sqlite_sequence`
//! (AUTOINCREMENT's high-water mark, so an id is never reused, as the chat API's `after=N` cursor
//! needs) at the transaction's first new row, and counted on from there. That is safe
//! because a write transaction holds the whole database (`BEGIN IMMEDIATE`) and, inside it, these
//! rows are only inserted through this buffer. A deferred write that fails does so at the next
//! statement or at the commit, and fails the transaction as a whole, like any other statement
//! of it.
//!
//! PostgreSQL transactions write at once: several instances insert lines there, so the database
//! must give the ids.

use crate::core::conversation::Conversation;
use crate::store::{NewLine, WebSession};

/// Rows per multi-row statement: well under SQLite's limit of 32,766 bound values.
pub(in crate::store) const CHUNK: usize = 500;

/// The next conversation id and the next line id of an SQLite database.
pub(in crate::store) const SQLITE_NEXT_IDS: &str =
    "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'conversations'), 0) + 1, \
            COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'transcript_lines'), 0) + 1";

pub(in crate::store) const INSERT_LINES: &str =
    "INSERT INTO transcript_lines (id, conversation_id, author, author_name, text, at, intent, \
                                   confidence, choices, outcome) ";
pub(in crate::store) const INSERT_CONVERSATIONS: &str =
    "INSERT INTO conversations (id, channel, conversation_key, reply_to, customer_id, state, \
                                misses, clarify, ticket_id, disclosed, answer_turn, created_at, \
                                updated_at) ";
pub(in crate::store) const INSERT_WEB_SESSIONS: &str =
    "INSERT INTO web_sessions (id, token_hash, customer_id, created_at) ";
pub(in crate::store) const UPDATE_CONVERSATIONS: &str = "UPDATE conversations SET \
     channel = v.column2, conversation_key = v.column3, reply_to = v.column4, \
     customer_id = v.column5, state = v.column6, misses = v.column7, clarify = v.column8, \
     ticket_id = v.column9, disclosed = v.column10, answer_turn = v.column11, \
     created_at = v.column12, updated_at = v.column13 FROM (";
pub(in crate::store) const UPDATE_CONVERSATIONS_END: &str =
    ") AS v WHERE conversations.id = v.column1";

/// The ids the next new rows get.
pub(in crate::store) struct NextIds {
    pub conversation: i64,
    pub line: i64,
}

/// What a transaction has written but not yet sent to the database.
#[derive(Default)]
pub(in crate::store) struct Pending {
    /// Set for SQLite write transactions; otherwise every write goes out at once.
    pub deferred: bool,
    /// The ids the next conversation and line get, once the transaction's first new row has
    /// read them.
    pub next_ids: Option<NextIds>,
    /// Conversations created, in their newest state.
    pub new_conversations: Vec<Conversation>,
    pub lines: Vec<(i64, NewLine)>,
    /// Newest state of each earlier conversation updated, in the order first updated.
    pub conversations: Vec<Conversation>,
    pub web_sessions: Vec<WebSession>,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.new_conversations.is_empty()
            && self.lines.is_empty()
            && self.conversations.is_empty()
            && self.web_sessions.is_empty()
    }

    /// Holds the conversation's new state: in its pending insert if it is new, or replacing an
    /// update held before.
    pub fn update_conversation(&mut self, conversation: &Conversation) {
        let held = self
            .new_conversations
            .iter_mut()
            .chain(self.conversations.iter_mut())
            .find(|c| c.id == conversation.id);
        match held {
            Some(held) => *held = conversation.clone(),
            None => self.conversations.push(conversation.clone()),
        }
    }
}

/// Implements, for a transaction type of `sql::impl_tx!`, `db()` (the connection, with anything
/// held back written first) and the writes that empty the buffer.
macro_rules! impl_write_behind {
    ($tx:ident, $db:ty) => {
        impl $tx {
            /// The connection for the next statement, after writing what was held back.
            pub(in super::super) async fn db(
                &mut self,
            ) -> Result<&mut <$db as sqlx::Database>::Connection> {
                if !self.behind.is_empty() {
                    self.write_behind().await?;
                }
                Ok(&mut *self.tx)
            }

            /// The ids the transaction's next new rows get, read at its first.
            async fn next_ids(&mut self) -> Result<&mut sql::write_behind::NextIds> {
                let next = &mut self.behind.next_ids;
                if next.is_none() {
                    let (conversation, line): (i64, i64) =
                        sqlx::query_as(sql::write_behind::SQLITE_NEXT_IDS)
                            .fetch_one(&mut *self.tx)
                            .await?;
                    *next = Some(sql::write_behind::NextIds { conversation, line });
                }
                Ok(next.as_mut().expect("read just above"))
            }

            /// Everything held back goes in one round trip: the statements are joined into one
            /// query, which SQLite runs one after the other (its `?` placeholders are numbered on
            /// from one statement to the next). Each row count is a text of its own: they are
            /// prepared each time (`persistent(false)`) rather than crowd the connection's
            /// statement cache.
            async fn write_behind(&mut self) -> Result<()> {
                use sql::write_behind as wb;
                let created = std::mem::take(&mut self.behind.new_conversations);
                let lines = std::mem::take(&mut self.behind.lines);
                let conversations = std::mem::take(&mut self.behind.conversations);
                let sessions = std::mem::take(&mut self.behind.web_sessions);
                let mut query = sqlx::QueryBuilder::<$db>::new("");
                let mut statements = 0;
                let mut next = |query: &mut sqlx::QueryBuilder<$db>, text: &'static str| {
                    if statements > 0 {
                        query.push("; ");
                    }
                    statements += 1;
                    query.push(text);
                };
                // Conversations first: the lines refer to them.
                for chunk in created.chunks(wb::CHUNK) {
                    next(&mut query, wb::INSERT_CONVERSATIONS);
                    query.push_values(conversation_rows(chunk)?, push_conversation);
                }
                for chunk in lines.chunks(wb::CHUNK) {
                    let mut rows = Vec::with_capacity(chunk.len());
                    for (id, l) in chunk {
                        rows.push((*id, l, sql::choices_to_db(&l.choices)?));
                    }
                    next(&mut query, wb::INSERT_LINES);
                    query.push_values(rows, |mut b, (id, l, choices)| {
                        b.push_bind(id)
                            .push_bind(l.conversation_id)
                            .push_bind(l.author.as_str())
                            .push_bind(l.author_name.clone())
                            .push_bind(l.text.clone())
                            .push_bind(l.at)
                            .push_bind(l.intent.clone())
                            .push_bind(l.confidence)
                            .push_bind(choices)
                            .push_bind(l.outcome.clone());
                    });
                }
                for chunk in conversations.chunks(wb::CHUNK) {
                    next(&mut query, wb::UPDATE_CONVERSATIONS);
                    query.push_values(conversation_rows(chunk)?, push_conversation);
                    query.push(wb::UPDATE_CONVERSATIONS_END);
                }
                for chunk in sessions.chunks(wb::CHUNK) {
                    next(&mut query, wb::INSERT_WEB_SESSIONS);
                    query.push_values(chunk, |mut b, session| {
                        b.push_bind(session.id.clone())
                            .push_bind(session.token_hash.clone())
                            .push_bind(session.customer_id)
                            .push_bind(session.created_at);
                    });
                }
                query
                    .build()
                    .persistent(false)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(())
            }
        }

        /// Conversations with their clarify lists encoded, for `push_conversation`.
        fn conversation_rows(chunk: &[Conversation]) -> Result<Vec<(&Conversation, String)>> {
            chunk
                .iter()
                .map(|c| Ok((c, sql::to_json("clarify list", &c.clarify)?)))
                .collect()
        }

        /// A conversation's values in the column order of `INSERT_CONVERSATIONS` (id first).
        fn push_conversation(
            mut b: sqlx::query_builder::Separated<'_, $db, &'static str>,
            (c, clarify): (&Conversation, String),
        ) {
            b.push_bind(c.id)
                .push_bind(c.channel.clone())
                .push_bind(c.conversation_key.clone())
                .push_bind(c.reply_to.clone())
                .push_bind(c.customer_id)
                .push_bind(c.state.as_str())
                .push_bind(c.misses)
                .push_bind(clarify)
                .push_bind(c.ticket_id)
                .push_bind(c.disclosed)
                .push_bind(c.answer_turn)
                .push_bind(c.created_at)
                .push_bind(c.updated_at);
        }
    };
}

pub(in crate::store) use impl_write_behind;
