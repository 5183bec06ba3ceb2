//! The SQL and row mapping shared by the SQLite and PostgreSQL stores.
//!
//! Every statement is written once with `$N` placeholders, which both databases read as the N-th
//! argument, and only uses syntax both accept (`RETURNING`, `ON CONFLICT`, partial indexes,
//! correlated subqueries). [`impl_tx!`] expands the same [`Tx`](super::Tx) implementation once per
//! database, so nothing here is generic over the database: each expansion is concrete code.
//!
//! Column types map the same way in both schemas: ids and times are `i64` (INTEGER / BIGINT),
//! counters are `i32` (INTEGER), confidences `f64` (REAL / DOUBLE PRECISION), booleans `bool`
//! (0/1 INTEGER / BOOLEAN), lists are JSON in TEXT, and enums are TEXT through their `as_str` and
//! `parse`. A stored value that does not parse is [`StoreError::Corrupt`].

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Lane, OutboxStatus, Result, StoreError};
use crate::core::choice::Choice;
use crate::core::conversation::ConversationState;
use crate::core::desk_event::DeskEvent;
use crate::core::message::Author;
use crate::core::message::Sender;
use crate::core::ticket::TicketStatus;

pub(super) fn author(s: &str) -> Result<Author> {
    Author::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown author '{s}'")))
}

pub(super) fn conversation_state(s: &str) -> Result<ConversationState> {
    ConversationState::parse(s)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown conversation state '{s}'")))
}

pub(super) fn ticket_status(s: &str) -> Result<TicketStatus> {
    TicketStatus::parse(s)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown ticket status '{s}'")))
}

pub(super) fn outbox_status(s: &str) -> Result<OutboxStatus> {
    OutboxStatus::parse(s)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown outbox status '{s}'")))
}

pub(super) fn lane(s: &str) -> Result<Lane> {
    Lane::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown outbox lane '{s}'")))
}

pub(super) fn sender(s: &str) -> Result<Sender> {
    Sender::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown inbox sender '{s}'")))
}

/// Choices are stored as JSON, and as NULL when there are none (most lines).
pub(super) fn choices_to_db(choices: &[Choice]) -> Result<Option<String>> {
    if choices.is_empty() {
        Ok(None)
    } else {
        to_json("choices", choices).map(Some)
    }
}

pub(super) fn choices_from_db(text: Option<String>) -> Result<Vec<Choice>> {
    text.map_or(Ok(Vec::new()), |t| from_json("choices", &t))
}

pub(super) fn event_from_db(text: Option<String>) -> Result<Option<DeskEvent>> {
    text.map(|t| from_json("desk event", &t)).transpose()
}

pub(super) fn to_json<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode {what}: {e}")))
}

pub(super) fn from_json<T: DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("stored {what} is not valid JSON: {e}")))
}

/// The name agents see for a customer: the display name they gave, or else the channel and the
/// start of the platform's id for them (e.g. "web customer 3f9a2c1d…"), which is enough to tell
/// customers apart and to find them on the platform, without inventing a name.
pub(super) fn customer_name(
    display_name: Option<String>,
    channel: &str,
    external_id: &str,
) -> String {
    match display_name {
        Some(name) if !name.trim().is_empty() => name,
        _ => {
            let mut short: String = external_id.chars().take(8).collect();
            if external_id.chars().count() > 8 {
                short.push('…');
            }
            format!("{channel} customer {short}")
        }
    }
}

/// A unique violation becomes `Conflict(what)`; anything else stays a database error.
pub(super) fn conflict_or_database(e: sqlx::Error, what: &str) -> StoreError {
    match e {
        sqlx::Error::Database(ref db) if db.is_unique_violation() => {
            StoreError::Conflict(what.to_string())
        }
        e => e.into(),
    }
}

// --- customers and web sessions

pub(super) const UPSERT_CUSTOMER: &str =
    "INSERT INTO customers (channel, external_id, display_name, created_at) \
     VALUES ($1, $2, $3, $4) \
     ON CONFLICT (channel, external_id) \
     DO UPDATE SET display_name = COALESCE(excluded.display_name, customers.display_name) \
     RETURNING id, channel, external_id, display_name, created_at";
pub(super) const CUSTOMER: &str =
    "SELECT id, channel, external_id, display_name, created_at FROM customers WHERE id = $1";
pub(super) const CREATE_WEB_SESSION: &str =
    "INSERT INTO web_sessions (id, token_hash, customer_id, created_at) VALUES ($1, $2, $3, $4)";
pub(super) const WEB_SESSION: &str =
    "SELECT id, token_hash, customer_id, created_at FROM web_sessions WHERE id = $1";

// --- inbox

/// Race-free dedup: of two concurrent inserts of the same (channel, external id) one inserts and
/// the other, once the first commits, returns no row and reads the existing id.
pub(super) const INSERT_INBOUND: &str =
    "INSERT INTO inbox (channel, external_id, customer_key, customer_name, conversation_key, \
                        reply_to, text, received_at, sender) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (channel, external_id) DO NOTHING \
     RETURNING id";
pub(super) const INBOUND_ID: &str = "SELECT id FROM inbox WHERE channel = $1 AND external_id = $2";
pub(super) const INBOX_ITEM: &str =
    "SELECT id, channel, external_id, customer_key, customer_name, conversation_key, reply_to, \
            text, received_at, handled_at, sender \
     FROM inbox WHERE id = $1";
pub(super) const UNHANDLED_INBOUND: &str =
    "SELECT id, channel, external_id, customer_key, customer_name, conversation_key, reply_to, \
            text, received_at, handled_at, sender \
     FROM inbox WHERE handled_at IS NULL AND id > $1 ORDER BY id LIMIT $2";
pub(super) const MARK_INBOUND_HANDLED: &str =
    "UPDATE inbox SET handled_at = $2 WHERE id = $1 AND handled_at IS NULL";
pub(super) const INBOX_CURSORS: &str =
    "SELECT i.conversation_key, i.reply_to, i.sender, i.external_id, i.received_at \
     FROM inbox i \
     WHERE i.id IN (SELECT MAX(id) FROM inbox WHERE channel = $1 AND received_at >= $2 \
                    GROUP BY conversation_key) \
     ORDER BY i.id";

// --- conversations

pub(super) const LATEST_CONVERSATION: &str =
    "SELECT id, channel, conversation_key, reply_to, customer_id, state, misses, clarify, \
            ticket_id, disclosed, answer_turn, created_at, updated_at \
     FROM conversations WHERE channel = $1 AND conversation_key = $2 \
     ORDER BY id DESC LIMIT 1";
pub(super) const CONVERSATION: &str =
    "SELECT id, channel, conversation_key, reply_to, customer_id, state, misses, clarify, \
            ticket_id, disclosed, answer_turn, created_at, updated_at \
     FROM conversations WHERE id = $1";
pub(super) const CREATE_CONVERSATION: &str =
    "INSERT INTO conversations (channel, conversation_key, reply_to, customer_id, state, \
                                misses, clarify, ticket_id, disclosed, answer_turn, created_at, \
                                updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id";
pub(super) const UPDATE_CONVERSATION: &str =
    "UPDATE conversations SET channel = $2, conversation_key = $3, reply_to = $4, \
            customer_id = $5, state = $6, misses = $7, clarify = $8, ticket_id = $9, \
            disclosed = $10, answer_turn = $11, created_at = $12, updated_at = $13 \
     WHERE id = $1";

// --- transcript

pub(super) const APPEND_LINE: &str =
    "INSERT INTO transcript_lines (conversation_id, author, author_name, text, at, intent, \
                                   confidence, choices) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
/// `$3` is true to include notes.
pub(super) const CONVERSATION_LINES: &str =
    "SELECT id, conversation_id, author, author_name, text, at, intent, confidence, choices \
     FROM transcript_lines \
     WHERE conversation_id = $1 AND id > $2 AND ($3 OR author <> 'note') \
     ORDER BY id";
pub(super) const LINES_FOR_KEY: &str =
    "SELECT l.id, l.conversation_id, l.author, l.author_name, l.text, l.at, l.intent, \
            l.confidence, l.choices \
     FROM transcript_lines l JOIN conversations c ON c.id = l.conversation_id \
     WHERE c.channel = $1 AND c.conversation_key = $2 AND l.id > $3 AND l.author <> 'note' \
     ORDER BY l.id";

// --- tickets

pub(super) const CREATE_TICKET: &str =
    "INSERT INTO tickets (conversation_id, customer_id, channel, status, subject, reason, \
                          intents, created_at) \
     VALUES ($1, $2, $3, 'open', $4, $5, $6, $7) RETURNING id";
/// Every ticket column.
macro_rules! ticket_columns {
    () => {
        "id, conversation_id, customer_id, channel, status, subject, reason, intents, assignee, \
         created_at, claimed_at, first_reply_at, resolved_at, closed_at, csat"
    };
}
/// A ticket with the names agents see, for the query tail `$tail`.
macro_rules! ticket_summary_query {
    ($tail:literal) => {
        concat!(
            "SELECT t.id, t.conversation_id, t.customer_id, t.channel, t.status, t.subject, \
                    t.reason, t.intents, t.assignee, t.created_at, t.claimed_at, \
                    t.first_reply_at, t.resolved_at, t.closed_at, t.csat, \
                    c.channel AS customer_channel, c.external_id AS customer_external_id, \
                    c.display_name AS customer_display_name, a.name AS assignee_name \
             FROM tickets t \
             JOIN customers c ON c.id = t.customer_id \
             LEFT JOIN agents a ON a.id = t.assignee ",
            $tail
        )
    };
}
pub(super) const TICKET: &str =
    concat!("SELECT ", ticket_columns!(), " FROM tickets WHERE id = $1");
pub(super) const UPDATE_TICKET: &str =
    "UPDATE tickets SET status = $2, assignee = $3, claimed_at = $4, first_reply_at = $5, \
            resolved_at = $6, closed_at = $7, csat = $8 \
     WHERE id = $1";
/// Up to four statuses in `$1..$4` (there are four); unused ones repeat the first.
pub(super) const LIST_TICKETS: &str =
    ticket_summary_query!("WHERE t.status IN ($1, $2, $3, $4) ORDER BY t.created_at, t.id");
pub(super) const TICKET_SUMMARY: &str = ticket_summary_query!("WHERE t.id = $1");
/// Ties on `created_at` are broken by id, the same order the queue is listed in.
pub(super) const QUEUE_POSITION: &str = "SELECT COUNT(o.id) + 1 \
     FROM tickets t \
     JOIN tickets o ON o.status = 'open' \
                   AND (o.created_at < t.created_at \
                        OR (o.created_at = t.created_at AND o.id < t.id)) \
     WHERE t.id = $1";
pub(super) const RECENT_CLAIM_WAITS: &str =
    "SELECT claimed_at - created_at FROM tickets WHERE claimed_at IS NOT NULL \
     ORDER BY claimed_at DESC, id DESC LIMIT $1";
pub(super) const CUSTOMER_TICKETS: &str = concat!(
    "SELECT ",
    ticket_columns!(),
    " FROM tickets WHERE customer_id = $1 AND id <> $2 ORDER BY created_at DESC, id DESC"
);

// --- agents (a removed agent keeps its row, so old tickets keep its name, but loses its token)

/// A taken name (or token hash) inserts nothing instead of failing, so the caller gets `Conflict`
/// and, on PostgreSQL, a transaction that is still usable.
pub(super) const CREATE_AGENT: &str =
    "INSERT INTO agents (name, token_hash, created_at) VALUES ($1, $2, $3) \
     ON CONFLICT DO NOTHING RETURNING id";
pub(super) const AGENTS: &str = "SELECT id, name, platform, created_at FROM agents \
     WHERE removed_at IS NULL ORDER BY name, id";
pub(super) const AGENT: &str = "SELECT id, name, platform, created_at FROM agents \
     WHERE id = $1 AND removed_at IS NULL";
pub(super) const AGENT_BY_TOKEN_HASH: &str = "SELECT id, name, platform, created_at FROM agents \
     WHERE token_hash = $1 AND removed_at IS NULL";
pub(super) const REMOVE_AGENT: &str = "UPDATE agents SET removed_at = $2, token_hash = NULL \
     WHERE id = $1 AND removed_at IS NULL";
/// Returns the row even when the agent was removed (`removed_at` set), so the caller can refuse:
/// removing a platform agent outlasts their role on the platform.
pub(super) const UPSERT_PLATFORM_AGENT: &str =
    "INSERT INTO agents (name, created_at, platform, platform_user_id) VALUES ($3, $4, $1, $2) \
     ON CONFLICT (platform, platform_user_id) WHERE platform IS NOT NULL \
     DO UPDATE SET name = excluded.name \
     RETURNING id, name, platform, created_at, removed_at";

// --- ticket cards on desk platforms

pub(super) const SET_CARD: &str =
    "INSERT INTO desk_cards (ticket_id, platform, card_ref, thread_ref) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (ticket_id, platform) \
     DO UPDATE SET card_ref = excluded.card_ref, thread_ref = excluded.thread_ref";
pub(super) const CARD: &str =
    "SELECT card_ref, thread_ref FROM desk_cards WHERE ticket_id = $1 AND platform = $2";
pub(super) const TICKET_BY_CARD: &str = "SELECT ticket_id FROM desk_cards \
     WHERE platform = $1 AND (thread_ref = $2 OR card_ref = $2) ORDER BY ticket_id DESC LIMIT 1";

// --- outbox

pub(super) const ENQUEUE: &str =
    "INSERT INTO outbox (conversation_id, channel, recipient, line_id, author, author_name, text, \
                         status, attempts, next_attempt_at, created_at, lane, choices, ticket_id, \
                         event) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8, $9, $10, $11, $12) RETURNING id";
/// The head of a conversation lane's queue is its oldest pending row; only heads are ever sent,
/// so a row waiting for a retry holds back the rows behind it in its lane, while delivered and
/// dead rows do not.
pub(super) const DUE_OUTBOX: &str =
    "SELECT o.id, o.conversation_id, o.channel, o.recipient, o.line_id, o.author, \
            o.author_name, o.text, o.status, o.attempts, o.next_attempt_at, o.last_error, \
            o.created_at, o.delivered_at, o.lane, o.choices, o.ticket_id, o.event \
     FROM outbox o \
     WHERE o.status = 'pending' AND o.next_attempt_at <= $1 \
       AND NOT EXISTS (SELECT 1 FROM outbox p \
                       WHERE p.status = 'pending' AND p.conversation_id = o.conversation_id \
                         AND p.lane = o.lane AND p.id < o.id) \
     ORDER BY o.id LIMIT $2";
pub(super) const OUTBOX_ITEM: &str =
    "SELECT id, conversation_id, channel, recipient, line_id, author, author_name, text, status, \
            attempts, next_attempt_at, last_error, created_at, delivered_at, lane, choices, \
            ticket_id, event \
     FROM outbox WHERE id = $1";
pub(super) const MARK_DELIVERED: &str =
    "UPDATE outbox SET status = 'delivered', delivered_at = $2, last_error = NULL WHERE id = $1";
pub(super) const MARK_RETRY: &str =
    "UPDATE outbox SET attempts = $2, next_attempt_at = $3, last_error = $4 \
     WHERE id = $1 AND status = 'pending'";
pub(super) const LEASE_OUTBOX: &str =
    "UPDATE outbox SET next_attempt_at = $2 WHERE id = $1 AND status = 'pending' AND next_attempt_at <= $3";
pub(super) const MARK_DEAD: &str =
    "UPDATE outbox SET status = 'dead', attempts = $2, last_error = $3 WHERE id = $1";
/// Only heads count: a row behind a head that waits for its retry cannot go before the head, and
/// counting it would wake the dispatcher for nothing until the head is due.
pub(super) const NEXT_OUTBOX_DUE: &str = "SELECT MIN(o.next_attempt_at) FROM outbox o \
     WHERE o.status = 'pending' \
       AND NOT EXISTS (SELECT 1 FROM outbox p \
                       WHERE p.status = 'pending' AND p.conversation_id = o.conversation_id \
                         AND p.lane = o.lane AND p.id < o.id)";

// --- timers

pub(super) const SCHEDULE_TIMER: &str =
    "INSERT INTO timers (kind, subject_id, due_at) VALUES ($1, $2, $3) RETURNING id";
pub(super) const DUE_TIMERS: &str = "SELECT id, kind, subject_id, due_at FROM timers \
     WHERE fired_at IS NULL AND due_at <= $1 \
     ORDER BY due_at, id LIMIT $2";
pub(super) const MARK_TIMER_FIRED: &str =
    "UPDATE timers SET fired_at = $2 WHERE id = $1 AND fired_at IS NULL";
/// Cancelling deletes the timer: an unfired, cancelled timer has nothing left to tell.
pub(super) const CANCEL_TIMERS: &str =
    "DELETE FROM timers WHERE kind = $1 AND subject_id = $2 AND fired_at IS NULL";

/// Expands the [`Tx`](super::Tx) implementation for one database: `$tx` is the name of the
/// transaction type to define (a wrapper around `sqlx::Transaction<'static, $db>`), `$db` the sqlx
/// database type. Each expansion lives in its own module `tx` of the calling file.
macro_rules! impl_tx {
    ($tx:ident, $db:ty) => {
        mod tx {
            use async_trait::async_trait;
            use sqlx::Row;

            use $crate::clock::Millis;
            use $crate::core::agent::Agent;
            use $crate::core::conversation::Conversation;
            use $crate::core::customer::Customer;
            use $crate::core::desk_event::CardRef;
            use $crate::core::message::{Inbound, TranscriptLine};
            use $crate::core::ticket::{Ticket, TicketStatus, TicketSummary};
            use $crate::store::sql;
            use $crate::store::{
                InboxCursor, InboxItem, NewLine, NewOutbox, NewTicket, NotUnderstood, OutboxItem,
                Recorded, Result, Timer, Tx, WebSession,
            };

            type DbRow = <$db as sqlx::Database>::Row;

            /// A transaction on this database; dropping it without `commit` rolls it back.
            pub(in super::super) struct $tx(pub(in super::super) sqlx::Transaction<'static, $db>);

            fn customer(r: &DbRow) -> Result<Customer> {
                Ok(Customer {
                    id: r.try_get("id")?,
                    channel: r.try_get("channel")?,
                    external_id: r.try_get("external_id")?,
                    display_name: r.try_get("display_name")?,
                    created_at: r.try_get("created_at")?,
                })
            }

            fn inbox_item(r: &DbRow) -> Result<InboxItem> {
                Ok(InboxItem {
                    id: r.try_get("id")?,
                    inbound: Inbound {
                        channel: r.try_get("channel")?,
                        external_id: r.try_get("external_id")?,
                        customer_key: r.try_get("customer_key")?,
                        customer_name: r.try_get("customer_name")?,
                        conversation_key: r.try_get("conversation_key")?,
                        reply_to: r.try_get("reply_to")?,
                        text: r.try_get("text")?,
                        received_at: r.try_get("received_at")?,
                        sender: sql::sender(r.try_get("sender")?)?,
                    },
                    handled_at: r.try_get("handled_at")?,
                })
            }

            fn conversation(r: &DbRow) -> Result<Conversation> {
                Ok(Conversation {
                    id: r.try_get("id")?,
                    channel: r.try_get("channel")?,
                    conversation_key: r.try_get("conversation_key")?,
                    reply_to: r.try_get("reply_to")?,
                    customer_id: r.try_get("customer_id")?,
                    state: sql::conversation_state(r.try_get("state")?)?,
                    misses: r.try_get("misses")?,
                    clarify: sql::from_json("clarify list", r.try_get("clarify")?)?,
                    ticket_id: r.try_get("ticket_id")?,
                    disclosed: r.try_get("disclosed")?,
                    answer_turn: r.try_get("answer_turn")?,
                    created_at: r.try_get("created_at")?,
                    updated_at: r.try_get("updated_at")?,
                })
            }

            fn line(r: &DbRow) -> Result<TranscriptLine> {
                Ok(TranscriptLine {
                    id: r.try_get("id")?,
                    conversation_id: r.try_get("conversation_id")?,
                    author: sql::author(r.try_get("author")?)?,
                    author_name: r.try_get("author_name")?,
                    text: r.try_get("text")?,
                    at: r.try_get("at")?,
                    intent: r.try_get("intent")?,
                    confidence: r.try_get("confidence")?,
                    choices: sql::choices_from_db(r.try_get("choices")?)?,
                })
            }

            fn ticket(r: &DbRow) -> Result<Ticket> {
                Ok(Ticket {
                    id: r.try_get("id")?,
                    conversation_id: r.try_get("conversation_id")?,
                    customer_id: r.try_get("customer_id")?,
                    channel: r.try_get("channel")?,
                    status: sql::ticket_status(r.try_get("status")?)?,
                    subject: r.try_get("subject")?,
                    reason: r.try_get("reason")?,
                    intents: sql::from_json("ticket intents", r.try_get("intents")?)?,
                    assignee: r.try_get("assignee")?,
                    created_at: r.try_get("created_at")?,
                    claimed_at: r.try_get("claimed_at")?,
                    first_reply_at: r.try_get("first_reply_at")?,
                    resolved_at: r.try_get("resolved_at")?,
                    closed_at: r.try_get("closed_at")?,
                    csat: r.try_get("csat")?,
                })
            }

            fn ticket_summary(r: &DbRow) -> Result<TicketSummary> {
                let customer_channel: String = r.try_get("customer_channel")?;
                let customer_external_id: String = r.try_get("customer_external_id")?;
                Ok(TicketSummary {
                    ticket: ticket(r)?,
                    customer_name: sql::customer_name(
                        r.try_get("customer_display_name")?,
                        &customer_channel,
                        &customer_external_id,
                    ),
                    assignee_name: r.try_get("assignee_name")?,
                })
            }

            fn agent(r: &DbRow) -> Result<Agent> {
                Ok(Agent {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    platform: r.try_get("platform")?,
                    created_at: r.try_get("created_at")?,
                })
            }

            fn outbox_item(r: &DbRow) -> Result<OutboxItem> {
                Ok(OutboxItem {
                    id: r.try_get("id")?,
                    conversation_id: r.try_get("conversation_id")?,
                    channel: r.try_get("channel")?,
                    lane: sql::lane(r.try_get("lane")?)?,
                    recipient: r.try_get("recipient")?,
                    line_id: r.try_get("line_id")?,
                    author: sql::author(r.try_get("author")?)?,
                    author_name: r.try_get("author_name")?,
                    text: r.try_get("text")?,
                    choices: sql::choices_from_db(r.try_get("choices")?)?,
                    ticket_id: r.try_get("ticket_id")?,
                    event: sql::event_from_db(r.try_get("event")?)?,
                    status: sql::outbox_status(r.try_get("status")?)?,
                    attempts: r.try_get("attempts")?,
                    next_attempt_at: r.try_get("next_attempt_at")?,
                    last_error: r.try_get("last_error")?,
                    created_at: r.try_get("created_at")?,
                    delivered_at: r.try_get("delivered_at")?,
                })
            }

            fn timer(r: &DbRow) -> Result<Timer> {
                Ok(Timer {
                    id: r.try_get("id")?,
                    kind: r.try_get("kind")?,
                    subject_id: r.try_get("subject_id")?,
                    due_at: r.try_get("due_at")?,
                })
            }

            fn all<T>(rows: Vec<DbRow>, map: fn(&DbRow) -> Result<T>) -> Result<Vec<T>> {
                rows.iter().map(map).collect()
            }

            #[async_trait]
            impl Tx for $tx {
                async fn commit(self: Box<Self>) -> Result<()> {
                    Ok(self.0.commit().await?)
                }

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

                async fn create_web_session(&mut self, session: &WebSession) -> Result<()> {
                    sqlx::query(sql::CREATE_WEB_SESSION)
                        .bind(&session.id)
                        .bind(&session.token_hash)
                        .bind(session.customer_id)
                        .bind(session.created_at)
                        .execute(&mut *self.0)
                        .await?;
                    Ok(())
                }

                async fn web_session(&mut self, id: &str) -> Result<Option<WebSession>> {
                    let row = sqlx::query(sql::WEB_SESSION)
                        .bind(id)
                        .fetch_optional(&mut *self.0)
                        .await?;
                    row.map(|r| {
                        Ok(WebSession {
                            id: r.try_get("id")?,
                            token_hash: r.try_get("token_hash")?,
                            customer_id: r.try_get("customer_id")?,
                            created_at: r.try_get("created_at")?,
                        })
                    })
                    .transpose()
                }

                async fn record_inbound(&mut self, inbound: &Inbound) -> Result<Recorded> {
                    let inserted: Option<i64> = sqlx::query_scalar(sql::INSERT_INBOUND)
                        .bind(&inbound.channel)
                        .bind(&inbound.external_id)
                        .bind(&inbound.customer_key)
                        .bind(&inbound.customer_name)
                        .bind(&inbound.conversation_key)
                        .bind(&inbound.reply_to)
                        .bind(&inbound.text)
                        .bind(inbound.received_at)
                        .bind(inbound.sender.as_str())
                        .fetch_optional(&mut *self.0)
                        .await?;
                    if let Some(id) = inserted {
                        return Ok(Recorded::New(id));
                    }
                    let id: i64 = sqlx::query_scalar(sql::INBOUND_ID)
                        .bind(&inbound.channel)
                        .bind(&inbound.external_id)
                        .fetch_one(&mut *self.0)
                        .await?;
                    Ok(Recorded::Duplicate(id))
                }

                async fn inbox_item(&mut self, id: i64) -> Result<Option<InboxItem>> {
                    let row = sqlx::query(sql::INBOX_ITEM)
                        .bind(id)
                        .fetch_optional(&mut *self.0)
                        .await?;
                    row.as_ref().map(inbox_item).transpose()
                }

                async fn unhandled_inbound(
                    &mut self,
                    after_id: i64,
                    limit: i64,
                ) -> Result<Vec<InboxItem>> {
                    let rows = sqlx::query(sql::UNHANDLED_INBOUND)
                        .bind(after_id)
                        .bind(limit)
                        .fetch_all(&mut *self.0)
                        .await?;
                    all(rows, inbox_item)
                }

                async fn mark_inbound_handled(&mut self, id: i64, now: Millis) -> Result<bool> {
                    let done = sqlx::query(sql::MARK_INBOUND_HANDLED)
                        .bind(id)
                        .bind(now)
                        .execute(&mut *self.0)
                        .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn inbox_cursors(
                    &mut self,
                    channel: &str,
                    since: Millis,
                ) -> Result<Vec<InboxCursor>> {
                    let rows = sqlx::query(sql::INBOX_CURSORS)
                        .bind(channel)
                        .bind(since)
                        .fetch_all(&mut *self.0)
                        .await?;
                    rows.iter()
                        .map(|r| {
                            Ok(InboxCursor {
                                conversation_key: r.try_get("conversation_key")?,
                                reply_to: r.try_get("reply_to")?,
                                sender: sql::sender(r.try_get("sender")?)?,
                                last_external_id: r.try_get("external_id")?,
                                received_at: r.try_get("received_at")?,
                            })
                        })
                        .collect()
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

                async fn append_line(&mut self, l: &NewLine) -> Result<TranscriptLine> {
                    let id: i64 = sqlx::query_scalar(sql::APPEND_LINE)
                        .bind(l.conversation_id)
                        .bind(l.author.as_str())
                        .bind(&l.author_name)
                        .bind(&l.text)
                        .bind(l.at)
                        .bind(&l.intent)
                        .bind(l.confidence)
                        .bind(sql::choices_to_db(&l.choices)?)
                        .fetch_one(&mut *self.0)
                        .await?;
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
                        .fetch_all(&mut *self.0)
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
                        .fetch_all(&mut *self.0)
                        .await?;
                    all(rows, line)
                }

                async fn create_ticket(&mut self, t: &NewTicket) -> Result<Ticket> {
                    let id: i64 = sqlx::query_scalar(sql::CREATE_TICKET)
                        .bind(t.conversation_id)
                        .bind(t.customer_id)
                        .bind(&t.channel)
                        .bind(&t.subject)
                        .bind(&t.reason)
                        .bind(sql::to_json("ticket intents", &t.intents)?)
                        .bind(t.created_at)
                        .fetch_one(&mut *self.0)
                        .await?;
                    Ok(Ticket {
                        id,
                        conversation_id: t.conversation_id,
                        customer_id: t.customer_id,
                        channel: t.channel.clone(),
                        status: TicketStatus::Open,
                        subject: t.subject.clone(),
                        reason: t.reason.clone(),
                        intents: t.intents.clone(),
                        assignee: None,
                        created_at: t.created_at,
                        claimed_at: None,
                        first_reply_at: None,
                        resolved_at: None,
                        closed_at: None,
                        csat: None,
                    })
                }

                async fn ticket(&mut self, id: i64) -> Result<Option<Ticket>> {
                    let row = sqlx::query(sql::TICKET)
                        .bind(id)
                        .fetch_optional(&mut *self.0)
                        .await?;
                    row.as_ref().map(ticket).transpose()
                }

                async fn update_ticket(&mut self, t: &Ticket) -> Result<()> {
                    sqlx::query(sql::UPDATE_TICKET)
                        .bind(t.id)
                        .bind(t.status.as_str())
                        .bind(t.assignee)
                        .bind(t.claimed_at)
                        .bind(t.first_reply_at)
                        .bind(t.resolved_at)
                        .bind(t.closed_at)
                        .bind(t.csat)
                        .execute(&mut *self.0)
                        .await?;
                    Ok(())
                }

                async fn list_tickets(
                    &mut self,
                    statuses: &[TicketStatus],
                ) -> Result<Vec<TicketSummary>> {
                    let Some(first) = statuses.first() else {
                        return Ok(Vec::new());
                    };
                    let status = |i: usize| statuses.get(i).unwrap_or(first).as_str();
                    let rows = sqlx::query(sql::LIST_TICKETS)
                        .bind(status(0))
                        .bind(status(1))
                        .bind(status(2))
                        .bind(status(3))
                        .fetch_all(&mut *self.0)
                        .await?;
                    let mut tickets = all(rows, ticket_summary)?;
                    // More than four statuses can only repeat one; keep the query static anyway.
                    tickets.retain(|s| statuses.contains(&s.ticket.status));
                    Ok(tickets)
                }

                async fn ticket_summary(&mut self, id: i64) -> Result<Option<TicketSummary>> {
                    let row = sqlx::query(sql::TICKET_SUMMARY)
                        .bind(id)
                        .fetch_optional(&mut *self.0)
                        .await?;
                    row.as_ref().map(ticket_summary).transpose()
                }

                async fn queue_position(&mut self, ticket_id: i64) -> Result<i64> {
                    let position: Option<i64> = sqlx::query_scalar(sql::QUEUE_POSITION)
                        .bind(ticket_id)
                        .fetch_optional(&mut *self.0)
                        .await?;
                    Ok(position.unwrap_or(1))
                }

                async fn recent_claim_waits(&mut self, limit: i64) -> Result<Vec<Millis>> {
                    Ok(sqlx::query_scalar(sql::RECENT_CLAIM_WAITS)
                        .bind(limit)
                        .fetch_all(&mut *self.0)
                        .await?)
                }

                async fn customer_tickets(
                    &mut self,
                    customer_id: i64,
                    except: i64,
                ) -> Result<Vec<Ticket>> {
                    let rows = sqlx::query(sql::CUSTOMER_TICKETS)
                        .bind(customer_id)
                        .bind(except)
                        .fetch_all(&mut *self.0)
                        .await?;
                    all(rows, ticket)
                }

                async fn create_agent(
                    &mut self,
                    name: &str,
                    token_hash: &str,
                    now: Millis,
                ) -> Result<Agent> {
                    let id: Option<i64> = sqlx::query_scalar(sql::CREATE_AGENT)
                        .bind(name)
                        .bind(token_hash)
                        .bind(now)
                        .fetch_optional(&mut *self.0)
                        .await
                        .map_err(|e| sql::conflict_or_database(e, name))?;
                    match id {
                        Some(id) => Ok(Agent {
                            id,
                            name: name.to_string(),
                            platform: None,
                            created_at: now,
                        }),
                        None => Err($crate::store::StoreError::Conflict(name.to_string())),
                    }
                }

                async fn agents(&mut self) -> Result<Vec<Agent>> {
                    let rows = sqlx::query(sql::AGENTS).fetch_all(&mut *self.0).await?;
                    all(rows, agent)
                }

                async fn agent(&mut self, id: i64) -> Result<Option<Agent>> {
                    let row = sqlx::query(sql::AGENT)
                        .bind(id)
                        .fetch_optional(&mut *self.0)
                        .await?;
                    row.as_ref().map(agent).transpose()
                }

                async fn agent_by_token_hash(&mut self, token_hash: &str) -> Result<Option<Agent>> {
                    let row = sqlx::query(sql::AGENT_BY_TOKEN_HASH)
                        .bind(token_hash)
                        .fetch_optional(&mut *self.0)
                        .await?;
                    row.as_ref().map(agent).transpose()
                }

                async fn remove_agent(&mut self, id: i64, now: Millis) -> Result<bool> {
                    let done = sqlx::query(sql::REMOVE_AGENT)
                        .bind(id)
                        .bind(now)
                        .execute(&mut *self.0)
                        .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn platform_agent(
                    &mut self,
                    platform: &str,
                    user_id: &str,
                    name: &str,
                    now: Millis,
                ) -> Result<Agent> {
                    let row = sqlx::query(sql::UPSERT_PLATFORM_AGENT)
                        .bind(platform)
                        .bind(user_id)
                        .bind(name)
                        .bind(now)
                        .fetch_one(&mut *self.0)
                        .await?;
                    let removed: Option<Millis> = row.try_get("removed_at")?;
                    if removed.is_some() {
                        // Taken off the team: the identity no longer acts as an agent until an
                        // admin adds it back.
                        return Err($crate::store::StoreError::Conflict(format!(
                            "agent {name} was removed from the team"
                        )));
                    }
                    agent(&row)
                }

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
                        .execute(&mut *self.0)
                        .await?;
                    Ok(())
                }

                async fn card(
                    &mut self,
                    ticket_id: i64,
                    platform: &str,
                ) -> Result<Option<CardRef>> {
                    let row = sqlx::query(sql::CARD)
                        .bind(ticket_id)
                        .bind(platform)
                        .fetch_optional(&mut *self.0)
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
                        .fetch_optional(&mut *self.0)
                        .await?)
                }

                async fn enqueue(&mut self, item: &NewOutbox) -> Result<i64> {
                    Ok(sqlx::query_scalar(sql::ENQUEUE)
                        .bind(item.conversation_id)
                        .bind(&item.channel)
                        .bind(&item.recipient)
                        .bind(item.line_id)
                        .bind(item.author.as_str())
                        .bind(&item.author_name)
                        .bind(&item.text)
                        .bind(item.created_at)
                        .bind(item.lane.as_str())
                        .bind(sql::choices_to_db(&item.choices)?)
                        .bind(item.ticket_id)
                        .bind(
                            item.event
                                .as_ref()
                                .map(|e| sql::to_json("desk event", e))
                                .transpose()?,
                        )
                        .fetch_one(&mut *self.0)
                        .await?)
                }

                async fn due_outbox(&mut self, now: Millis, limit: i64) -> Result<Vec<OutboxItem>> {
                    let rows = sqlx::query(sql::DUE_OUTBOX)
                        .bind(now)
                        .bind(limit)
                        .fetch_all(&mut *self.0)
                        .await?;
                    all(rows, outbox_item)
                }

                async fn outbox_item(&mut self, id: i64) -> Result<Option<OutboxItem>> {
                    let row = sqlx::query(sql::OUTBOX_ITEM)
                        .bind(id)
                        .fetch_optional(&mut *self.0)
                        .await?;
                    row.as_ref().map(outbox_item).transpose()
                }

                async fn mark_delivered(&mut self, id: i64, now: Millis) -> Result<()> {
                    sqlx::query(sql::MARK_DELIVERED)
                        .bind(id)
                        .bind(now)
                        .execute(&mut *self.0)
                        .await?;
                    Ok(())
                }

                async fn lease_outbox(
                    &mut self,
                    id: i64,
                    now: Millis,
                    until: Millis,
                ) -> Result<bool> {
                    let done = sqlx::query(sql::LEASE_OUTBOX)
                        .bind(id)
                        .bind(until)
                        .bind(now)
                        .execute(&mut *self.0)
                        .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn mark_retry(
                    &mut self,
                    id: i64,
                    attempts: i32,
                    next_attempt_at: Millis,
                    error: &str,
                ) -> Result<()> {
                    sqlx::query(sql::MARK_RETRY)
                        .bind(id)
                        .bind(attempts)
                        .bind(next_attempt_at)
                        .bind(error)
                        .execute(&mut *self.0)
                        .await?;
                    Ok(())
                }

                async fn mark_dead(&mut self, id: i64, attempts: i32, error: &str) -> Result<()> {
                    sqlx::query(sql::MARK_DEAD)
                        .bind(id)
                        .bind(attempts)
                        .bind(error)
                        .execute(&mut *self.0)
                        .await?;
                    Ok(())
                }

                async fn next_outbox_due(&mut self) -> Result<Option<Millis>> {
                    Ok(sqlx::query_scalar(sql::NEXT_OUTBOX_DUE)
                        .fetch_one(&mut *self.0)
                        .await?)
                }

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
                        .fetch_one(&mut *self.0)
                        .await?)
                }

                async fn due_timers(&mut self, now: Millis, limit: i64) -> Result<Vec<Timer>> {
                    let rows = sqlx::query(sql::DUE_TIMERS)
                        .bind(now)
                        .bind(limit)
                        .fetch_all(&mut *self.0)
                        .await?;
                    all(rows, timer)
                }

                async fn mark_timer_fired(&mut self, id: i64, now: Millis) -> Result<bool> {
                    let done = sqlx::query(sql::MARK_TIMER_FIRED)
                        .bind(id)
                        .bind(now)
                        .execute(&mut *self.0)
                        .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn cancel_timers(&mut self, kind: &str, subject_id: i64) -> Result<()> {
                    sqlx::query(sql::CANCEL_TIMERS)
                        .bind(kind)
                        .bind(subject_id)
                        .execute(&mut *self.0)
                        .await?;
                    Ok(())
                }

                async fn set_line_outcome(&mut self, line_id: i64, outcome: &str) -> Result<()> {
                    sqlx::query(sql::SET_LINE_OUTCOME)
                        .bind(line_id)
                        .bind(outcome)
                        .execute(&mut *self.0)
                        .await?;
                    Ok(())
                }

                async fn outcome_counts(
                    &mut self,
                    from: Millis,
                    to: Millis,
                ) -> Result<Vec<(String, i64)>> {
                    let rows = sqlx::query(sql::OUTCOME_COUNTS)
                        .bind(from)
                        .bind(to)
                        .fetch_all(&mut *self.0)
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
                        .fetch_all(&mut *self.0)
                        .await?;
                    all(rows, |r| {
                        Ok(NotUnderstood {
                            text: r.try_get("question")?,
                            times: r.try_get("times")?,
                            last_at: r.try_get("last_at")?,
                        })
                    })
                }

                async fn tickets_opened(
                    &mut self,
                    from: Millis,
                    to: Millis,
                ) -> Result<Vec<Ticket>> {
                    let rows = sqlx::query(sql::TICKETS_OPENED)
                        .bind(from)
                        .bind(to)
                        .fetch_all(&mut *self.0)
                        .await?;
                    all(rows, ticket)
                }
            }
        }
        use tx::$tx;
    };
}

pub(super) use impl_tx;

// --- report

pub(super) const SET_LINE_OUTCOME: &str = "UPDATE transcript_lines SET outcome = $2 WHERE id = $1";
pub(super) const OUTCOME_COUNTS: &str = "SELECT outcome, COUNT(*) AS n FROM transcript_lines \
     WHERE outcome IS NOT NULL AND at >= $1 AND at < $2 GROUP BY outcome";
pub(super) const NOT_UNDERSTOOD: &str =
    "SELECT LOWER(TRIM(text)) AS question, COUNT(*) AS times, MAX(at) AS last_at \
     FROM transcript_lines \
     WHERE outcome = 'not_understood' AND at >= $1 AND at < $2 \
     GROUP BY LOWER(TRIM(text)) ORDER BY times DESC, last_at DESC, question LIMIT $3";
pub(super) const TICKETS_OPENED: &str = concat!(
    "SELECT ",
    ticket_columns!(),
    " FROM tickets WHERE created_at >= $1 AND created_at < $2 ORDER BY id"
);
