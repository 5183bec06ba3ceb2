//! The SQL and row mapping shared by the SQLite and PostgreSQL stores, one file per job of the
//! transaction (customers, inbox, conversations, ...), each with its statements and its part of
//! the transaction type.
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
use crate::core::ticket::{Priority, TicketStatus};

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

pub(super) fn priority(s: &str) -> Result<Priority> {
    Priority::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown ticket priority '{s}'")))
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

/// A ticket priority as a number, 0 for the most urgent (see `Priority::rank`), for the ticket
/// table alias `$t`.
macro_rules! priority_rank {
    ($t:literal) => {
        concat!(
            "(CASE ",
            $t,
            ".priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END)"
        )
    };
}
/// Every ticket column.
macro_rules! ticket_columns {
    () => {
        "id, conversation_id, customer_id, channel, status, subject, reason, intents, assignee, \
         created_at, claimed_at, first_reply_at, resolved_at, closed_at, csat, priority, tags, \
         breached_at, closed_by"
    };
}
/// A ticket with the names agents see, for the query tail `$tail`.
macro_rules! ticket_summary_query {
    ($tail:literal) => {
        concat!(
            "SELECT t.id, t.conversation_id, t.customer_id, t.channel, t.status, t.subject, \
                    t.reason, t.intents, t.assignee, t.created_at, t.claimed_at, \
                    t.first_reply_at, t.resolved_at, t.closed_at, t.csat, t.priority, t.tags, \
                    t.breached_at, t.closed_by, \
                    c.channel AS customer_channel, c.external_id AS customer_external_id, \
                    c.display_name AS customer_display_name, a.name AS assignee_name \
             FROM tickets t \
             JOIN customers c ON c.id = t.customer_id \
             LEFT JOIN agents a ON a.id = t.assignee ",
            $tail
        )
    };
}

pub(in crate::store) mod agents;
pub(in crate::store) mod cards;
pub(in crate::store) mod conversations;
pub(in crate::store) mod customers;
pub(in crate::store) mod inbox;
pub(in crate::store) mod leases;
pub(in crate::store) mod outbox;
pub(in crate::store) mod privacy;
pub(in crate::store) mod report;
pub(in crate::store) mod tickets;
pub(in crate::store) mod timers;
pub(in crate::store) mod transcript;
pub(in crate::store) mod web_sessions;
pub(in crate::store) mod write_behind;

pub(in crate::store) use agents::*;
pub(in crate::store) use cards::*;
pub(in crate::store) use conversations::*;
pub(in crate::store) use customers::*;
pub(in crate::store) use inbox::*;
pub(in crate::store) use leases::*;
pub(in crate::store) use outbox::*;
pub(in crate::store) use privacy::*;
pub(in crate::store) use report::*;
pub(in crate::store) use tickets::*;
pub(in crate::store) use timers::*;
pub(in crate::store) use transcript::*;
pub(in crate::store) use web_sessions::*;

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
            use $crate::store::prelude::*;
            use $crate::store::sql;
            use $crate::store::{
                InboxCursor, InboxItem, NewLine, NewOutbox, NewTicket, NotUnderstood, OutboxItem,
                Recorded, Result, Timer,
            };

            type DbRow = <$db as sqlx::Database>::Row;

            /// A transaction on this database; dropping it without `commit` rolls it back. The
            /// guard, if any, is held until then (see the SQLite store's write gate).
            pub(in super::super) struct $tx {
                tx: sqlx::Transaction<'static, $db>,
                // Held for the transaction's life, never read.
                #[allow(dead_code)]
                gate: Option<tokio::sync::OwnedMutexGuard<()>>,
                /// Writes held back until the next statement (see `sql::write_behind`).
                behind: sql::write_behind::Pending,
            }

            impl $tx {
                /// A transaction; with `defer` it holds back new conversations, lines and
                /// conversation updates (see `sql::write_behind`), which is only for a write
                /// transaction that holds the whole database.
                pub(in super::super) fn new(
                    tx: sqlx::Transaction<'static, $db>,
                    gate: Option<tokio::sync::OwnedMutexGuard<()>>,
                    defer: bool,
                ) -> Self {
                    let behind = sql::write_behind::Pending {
                        deferred: defer,
                        ..Default::default()
                    };
                    $tx { tx, gate, behind }
                }
            }

            sql::write_behind::impl_write_behind!($tx, $db);

            fn customer(r: &DbRow) -> Result<Customer> {
                Ok(Customer {
                    id: r.try_get("id")?,
                    channel: r.try_get("channel")?,
                    external_id: r.try_get("external_id")?,
                    display_name: r.try_get("display_name")?,
                    created_at: r.try_get("created_at")?,
                    blocked_at: r.try_get("blocked_at")?,
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

            /// A web-chat session and its customer (columns `session_id`, `token_hash`,
            /// `customer_id`, `session_created_at`, `customer_key`, `customer_name`), for the
            /// web-chat session store of the same database.
            pub(in super::super) fn session_with_customer(
                r: &DbRow,
            ) -> Result<(
                $crate::store::WebSession,
                Option<$crate::store::SessionCustomer>,
            )> {
                let session = $crate::store::WebSession {
                    id: r.try_get("session_id")?,
                    token_hash: r.try_get("token_hash")?,
                    customer_id: r.try_get("customer_id")?,
                    created_at: r.try_get("session_created_at")?,
                };
                let key: Option<String> = r.try_get("customer_key")?;
                let customer = match key {
                    Some(key) => Some($crate::store::SessionCustomer {
                        key,
                        name: r.try_get("customer_name")?,
                    }),
                    None => None,
                };
                Ok((session, customer))
            }

            /// Also read by the web-chat session store of the same database.
            pub(in super::super) fn line(r: &DbRow) -> Result<TranscriptLine> {
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
                    priority: sql::priority(r.try_get("priority")?)?,
                    tags: sql::from_json("ticket tags", r.try_get("tags")?)?,
                    breached_at: r.try_get("breached_at")?,
                    closed_by: r.try_get("closed_by")?,
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
                async fn commit(mut self: Box<Self>) -> Result<()> {
                    self.db().await?;
                    Ok(self.tx.commit().await?)
                }
            }

            sql::customers::impl_customers!($tx);
            sql::inbox::impl_inbox!($tx);
            sql::conversations::impl_conversations!($tx);
            sql::transcript::impl_transcript!($tx);
            sql::tickets::impl_tickets!($tx);
            sql::agents::impl_agents!($tx);
            sql::cards::impl_cards!($tx);
            sql::outbox::impl_outbox!($tx);
            sql::timers::impl_timers!($tx);
            sql::report::impl_report!($tx);
            sql::privacy::impl_privacy!($tx);
            sql::leases::impl_leases!($tx);
            sql::web_sessions::impl_web_session_tx!($tx);
        }
        use tx::$tx;
    };
}

pub(super) use impl_tx;
