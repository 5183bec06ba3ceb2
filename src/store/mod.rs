//! Durable state behind the [`Store`] trait, with SQLite ([`sqlite`]) and PostgreSQL ([`postgres`])
//! implementations that share their SQL ([`sql`]).
//!
//! All work happens inside a transaction ([`Tx`]): the engine reads, decides and writes the state
//! change, the transcript lines and the outbox rows it caused, then commits once. Dropping a `Tx`
//! without `commit` rolls it back. SQLite write transactions hold new conversations, transcript
//! lines and conversation updates back and write them together before their next other
//! statement or commit (`sql::write_behind`); what the transaction reads is the same either way. After a method returns an error, drop the `Tx` (PostgreSQL
//! aborts the transaction on any error); only `create_agent`'s `Conflict` leaves it usable.

use async_trait::async_trait;

use crate::clock::Millis;
use crate::core::agent::Agent;
use crate::core::choice::Choice;
use crate::core::conversation::Conversation;
use crate::core::customer::Customer;
use crate::core::desk_event::{CardRef, DeskEvent};
use crate::core::message::{Author, Sender, TranscriptLine};
use crate::core::ticket::{Ticket, TicketStatus, TicketSummary};

pub mod postgres;
mod sql;
pub mod sqlite;
mod tx;

pub use tx::*;

/// What went wrong in the store. The database driver's own errors are kept as opaque sources, so
/// the core, which passes these on, names no database crate.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Database(Box<dyn std::error::Error + Send + Sync>),
    /// The database cannot be reached or is busy (connection refused or dropped, no pooled
    /// connection in time, SQLite locked by another process, PostgreSQL shutting down): nothing
    /// was written, and the same request may well succeed a moment later.
    #[error("the database is unavailable: {0}")]
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
    #[error("applying migrations failed: {0}")]
    Migrate(Box<dyn std::error::Error + Send + Sync>),
    #[error("cannot create the database folder {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error("unsupported database URL '{0}': use sqlite:PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("{0} already exists")]
    Conflict(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// Whether the database was unreachable or busy, rather than the request wrong.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if is_unavailable(&e) {
            StoreError::Unavailable(Box::new(e))
        } else {
            StoreError::Database(Box::new(e))
        }
    }
}

/// Errors that say the database is out of reach or busy for now, not that the statement is wrong.
/// The pool keeps nothing of them: the next request opens a fresh connection.
fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else { return false };
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // The extended result code; its low byte is the primary one: SQLITE_BUSY (5)
                // or SQLITE_LOCKED (6), another connection holding the lock past the busy timeout.
                return code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6));
            }
            // PostgreSQL SQLSTATEs: connection exceptions (08), insufficient resources (53:
            // too many connections, out of disk), the server shutting down or starting (57P01
            // to 57P03), and lock waits given up (55P03).
            code.starts_with("08")
                || code.starts_with("53")
                || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "55P03")
        }
        _ => false,
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(Box::new(e))
    }
}

/// Opens the database named by `url` (`sqlite:` or `postgres://`), creating it if needed, and
/// applies migrations.
pub async fn open(url: &str) -> Result<std::sync::Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(sqlite::SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(
            postgres::PgStore::open(url, None).await?,
        ))
    } else {
        Err(StoreError::UnsupportedUrl(crate::config::redact_url(url)))
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A transaction that will write. SQLite takes its write lock at once (`BEGIN IMMEDIATE`) so
    /// two writers queue instead of failing half-way.
    async fn begin(&self) -> Result<Box<dyn Tx>>;
    /// A transaction that only reads.
    async fn read(&self) -> Result<Box<dyn Tx>>;
    /// The web chat's sessions, which live beside the core's data but are no part of it
    /// (a session is written with its customer, see [`WebSessionTx`]).
    fn web_sessions(&self) -> &dyn WebSessionStore;
}

/// Reading web-chat sessions, for the web channel: a session id and the hash of its secret token.
#[async_trait]
pub trait WebSessionStore: Send + Sync {
    async fn web_session(&self, id: &str) -> Result<Option<WebSession>>;
    /// Each session with its customer's key and name as stored now (`None` once the customer
    /// is gone), read together: what every message posted in a session needs. One entry per id,
    /// in order; `None` for an id with no session.
    async fn web_sessions_with_customers(
        &self,
        ids: &[&str],
    ) -> Result<Vec<Option<(WebSession, Option<SessionCustomer>)>>>;
    /// What chat pages poll with, in one statement: each session (`None` for an id with none)
    /// with its customer, as [`Self::web_sessions_with_customers`] reads them, and, when it has a
    /// customer, the lines of that customer's chat on `channel` (keyed by the customer's key)
    /// after the given line id, notes left out; `None` for the lines of a session without one.
    /// One entry per (session id, line id), in order.
    async fn web_sessions_with_lines(
        &self,
        channel: &str,
        polls: &[(&str, i64)],
    ) -> Result<Vec<Option<SessionPoll>>>;
    /// [`TranscriptStore::lines_for_key`] of several chats of one channel, each after its own
    /// line id, read in one statement outside any transaction: what chat pages poll for. One
    /// list per chat, in order.
    async fn chats_lines(
        &self,
        channel: &str,
        chats: &[(&str, i64)],
    ) -> Result<Vec<Vec<crate::core::message::TranscriptLine>>>;
    /// [`Self::chats_lines`] of one chat.
    async fn chat_lines(
        &self,
        channel: &str,
        key: &str,
        after: i64,
    ) -> Result<Vec<crate::core::message::TranscriptLine>> {
        Ok(self
            .chats_lines(channel, &[(key, after)])
            .await?
            .pop()
            .unwrap_or_default())
    }
}

/// A session, its customer and its chat's new lines, as
/// [`WebSessionStore::web_sessions_with_lines`] reads them.
pub type SessionPoll = (
    WebSession,
    Option<SessionCustomer>,
    Option<Vec<crate::core::message::TranscriptLine>>,
);

/// A web-chat session's customer, as a message posted in the session needs them.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionCustomer {
    /// The customer's external id on the web channel: their conversation key.
    pub key: String,
    pub name: Option<String>,
}

/// The key of a conversation's lock ([`LockStore`]): a hash of its channel and conversation key,
/// so an inbound event can take it before its conversation is read. Two conversations that share a
/// key only wait for each other.
pub fn conversation_lock_key(channel: &str, conversation_key: &str) -> i32 {
    // FNV-1a: stable across builds and processes, which the lock key must be.
    let mut hash: u32 = 0x811c_9dc5;
    for byte in channel
        .bytes()
        .chain(std::iter::once(0x1f))
        .chain(conversation_key.bytes())
    {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash as i32
}

/// The outcome of recording an inbound event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    New(i64),
    /// (channel, external id) was seen before; the original inbox id.
    Duplicate(i64),
}

/// A stored inbound event (see [`crate::core::message::Inbound`]).
#[derive(Debug, Clone, PartialEq)]
pub struct InboxItem {
    pub id: i64,
    pub inbound: crate::core::message::Inbound,
    pub handled_at: Option<Millis>,
}

/// A new transcript line; the store assigns `id`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLine {
    pub conversation_id: i64,
    pub author: Author,
    pub author_name: Option<String>,
    pub text: String,
    pub at: Millis,
    pub intent: Option<String>,
    pub confidence: Option<f64>,
    pub choices: Vec<Choice>,
    /// What the bot did with a customer's message (an [`Outcome`] name), stored with the line
    /// (see [`ReportStore::set_line_outcome`] for setting it later).
    ///
    /// [`Outcome`]: crate::core::decide::Outcome
    pub outcome: Option<String>,
}

/// Whose turn context to read: a customer message's channel and keys.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TurnKey<'a> {
    pub channel: &'a str,
    pub customer_key: &'a str,
    pub conversation_key: &'a str,
}

/// What handling a customer's message reads before deciding, read together in one query (see
/// [`ConversationStore::turn_contexts`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TurnContext {
    /// The customer with this (channel, customer key), if known.
    pub customer: Option<Customer>,
    /// The newest conversation with this (channel, conversation key), in any state.
    pub conversation: Option<Conversation>,
    /// The texts of that conversation's customer lines, oldest first.
    pub customer_lines: Vec<String>,
}

/// A new ticket; the store assigns `id` and sets status `open`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTicket {
    pub conversation_id: i64,
    pub customer_id: i64,
    pub channel: String,
    pub subject: String,
    pub reason: String,
    pub intents: Vec<crate::core::matcher::Candidate>,
    pub created_at: Millis,
}

/// Delivery state of an outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxStatus {
    Pending,
    Delivered,
    /// The platform refused for good; noted on the ticket, never retried.
    Dead,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "delivered" => Self::Delivered,
            "dead" => Self::Dead,
            _ => return None,
        })
    }
}

/// Who an outbox row is for. Each lane of a conversation is delivered in order on its own, so
/// a desk platform that is down never holds up replies to the customer, nor the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// The customer, on the conversation's channel.
    Customer,
    /// The agents, on the desk platform: a [`DeskEvent`] about a ticket.
    Desk,
}

impl Lane {
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Customer => "customer",
            Lane::Desk => "desk",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "customer" => Lane::Customer,
            "desk" => Lane::Desk,
            _ => return None,
        })
    }
}

/// A message to deliver to a channel, written in the same transaction as the change that caused it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutbox {
    pub conversation_id: i64,
    pub lane: Lane,
    /// The channel (customer lane) or desk platform (desk lane) to deliver on.
    pub channel: String,
    /// Where on the channel (the conversation's `reply_to`; on the desk lane, the ticket id).
    pub recipient: String,
    /// The transcript line this delivers.
    pub line_id: i64,
    pub author: Author,
    pub author_name: Option<String>,
    pub text: String,
    pub choices: Vec<Choice>,
    /// Desk lane: the ticket and what happened to it.
    pub ticket_id: Option<i64>,
    pub event: Option<DeskEvent>,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    pub id: i64,
    pub conversation_id: i64,
    pub lane: Lane,
    pub channel: String,
    pub recipient: String,
    pub line_id: i64,
    pub author: Author,
    pub author_name: Option<String>,
    pub text: String,
    pub choices: Vec<Choice>,
    pub ticket_id: Option<i64>,
    pub event: Option<DeskEvent>,
    pub status: OutboxStatus,
    pub attempts: i32,
    pub next_attempt_at: Millis,
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub delivered_at: Option<Millis>,
}

/// A timer kept in the database so a restart does not lose it.
#[derive(Debug, Clone, PartialEq)]
pub struct Timer {
    pub id: i64,
    /// What to do when it fires, e.g. "close_ticket".
    pub kind: String,
    /// What it is about, e.g. the ticket id.
    pub subject_id: i64,
    pub due_at: Millis,
}

/// A message the bot did not understand, and how often customers wrote it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NotUnderstood {
    pub text: String,
    pub times: i64,
    pub last_at: Millis,
    /// The latest conversation it was written in, for agents to read.
    pub conversation_id: i64,
}

/// The newest stored event of one conversation key on a channel: where a platform adapter resumes
/// reading after a reconnect.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxCursor {
    pub conversation_key: String,
    pub reply_to: String,
    pub sender: Sender,
    /// The platform's id of that newest event.
    pub last_external_id: String,
    pub received_at: Millis,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebSession {
    pub id: String,
    pub token_hash: String,
    pub customer_id: i64,
    pub created_at: Millis,
}
