//! Durable state behind the [`Store`] trait, with SQLite ([`sqlite`]) and PostgreSQL ([`postgres`])
//! implementations that share their SQL ([`sql`]).
//!
//! All work happens inside a transaction ([`Tx`]): the engine reads, decides and writes the state
//! change, the transcript lines and the outbox rows it caused, then commits once. Dropping a `Tx`
//! without `commit` rolls it back. After a method returns an error, drop the `Tx` (PostgreSQL
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

/// What went wrong in the store. The database driver's own errors are kept as opaque sources, so
/// the core, which passes these on, names no database crate.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Database(Box<dyn std::error::Error + Send + Sync>),
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

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(Box::new(e))
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

/// Everything the application reads and writes, inside one transaction.
#[async_trait]
pub trait Tx: Send {
    async fn commit(self: Box<Self>) -> Result<()>;

    // --- customers and web sessions
    /// Finds the customer by (channel, external id) or creates it; a given name updates the stored one.
    async fn upsert_customer(
        &mut self,
        channel: &str,
        external_id: &str,
        display_name: Option<&str>,
        now: Millis,
    ) -> Result<Customer>;
    async fn customer(&mut self, id: i64) -> Result<Option<Customer>>;
    async fn create_web_session(&mut self, session: &WebSession) -> Result<()>;
    async fn web_session(&mut self, id: &str) -> Result<Option<WebSession>>;

    // --- inbox
    /// Stores an inbound event unless (channel, external id) is already there.
    async fn record_inbound(&mut self, inbound: &crate::core::message::Inbound)
        -> Result<Recorded>;
    async fn inbox_item(&mut self, id: i64) -> Result<Option<InboxItem>>;
    /// Unhandled events stored after `after_id`, oldest first.
    async fn unhandled_inbound(&mut self, after_id: i64, limit: i64) -> Result<Vec<InboxItem>>;
    /// Marks an unhandled event handled; false if it already was (another handler got there
    /// first: the caller must roll back). Writing this first also locks the row on PostgreSQL.
    async fn mark_inbound_handled(&mut self, id: i64, now: Millis) -> Result<bool>;
    /// For each conversation key on `channel` with an event received at or after `since`, the
    /// newest event stored for it.
    async fn inbox_cursors(&mut self, channel: &str, since: Millis) -> Result<Vec<InboxCursor>>;

    // --- conversations
    /// The newest conversation for (channel, conversation key), in any state.
    async fn latest_conversation(
        &mut self,
        channel: &str,
        key: &str,
    ) -> Result<Option<Conversation>>;
    async fn conversation(&mut self, id: i64) -> Result<Option<Conversation>>;
    /// Inserts `conversation` (its `id` is ignored) and returns the new id.
    async fn create_conversation(&mut self, conversation: &Conversation) -> Result<i64>;
    /// Writes every field of `conversation` by id.
    async fn update_conversation(&mut self, conversation: &Conversation) -> Result<()>;

    // --- transcript
    async fn append_line(&mut self, line: &NewLine) -> Result<TranscriptLine>;
    /// Lines of one conversation with id > `after`, oldest first; notes only if `include_notes`.
    async fn conversation_lines(
        &mut self,
        conversation_id: i64,
        after: i64,
        include_notes: bool,
    ) -> Result<Vec<TranscriptLine>>;
    /// Customer-visible lines of every conversation with (channel, key), id > `after`, oldest first.
    async fn lines_for_key(
        &mut self,
        channel: &str,
        key: &str,
        after: i64,
    ) -> Result<Vec<TranscriptLine>>;

    // --- tickets
    async fn create_ticket(&mut self, ticket: &NewTicket) -> Result<Ticket>;
    async fn ticket(&mut self, id: i64) -> Result<Option<Ticket>>;
    /// Writes status, assignee, timestamps and csat of `ticket` by id.
    async fn update_ticket(&mut self, ticket: &Ticket) -> Result<()>;
    /// Tickets in any of `statuses`, oldest first, with customer and assignee names.
    async fn list_tickets(&mut self, statuses: &[TicketStatus]) -> Result<Vec<TicketSummary>>;
    async fn ticket_summary(&mut self, id: i64) -> Result<Option<TicketSummary>>;
    /// 1-based place in the queue of an open ticket: open tickets created before it, plus one.
    async fn queue_position(&mut self, ticket_id: i64) -> Result<i64>;
    /// Waits (claimed_at - created_at) of the most recently claimed tickets, newest first.
    async fn recent_claim_waits(&mut self, limit: i64) -> Result<Vec<Millis>>;
    /// The customer's other tickets, newest first.
    async fn customer_tickets(&mut self, customer_id: i64, except: i64) -> Result<Vec<Ticket>>;

    // --- agents
    /// Fails with `Conflict` if the name is taken.
    async fn create_agent(&mut self, name: &str, token_hash: &str, now: Millis) -> Result<Agent>;
    async fn agents(&mut self) -> Result<Vec<Agent>>;
    async fn agent(&mut self, id: i64) -> Result<Option<Agent>>;
    async fn agent_by_token_hash(&mut self, token_hash: &str) -> Result<Option<Agent>>;
    /// Removes the agent (by id) and its token; false if there was no such active agent.
    async fn remove_agent(&mut self, id: i64, now: Millis) -> Result<bool>;
    /// The agent with this platform identity, created on first sight; a changed platform name
    /// is updated.
    async fn platform_agent(
        &mut self,
        platform: &str,
        user_id: &str,
        name: &str,
        now: Millis,
    ) -> Result<Agent>;

    // --- ticket cards on desk platforms
    async fn set_card(&mut self, ticket_id: i64, platform: &str, card: &CardRef) -> Result<()>;
    async fn card(&mut self, ticket_id: i64, platform: &str) -> Result<Option<CardRef>>;
    /// The ticket whose card or thread on `platform` is `reference`.
    async fn ticket_by_card(&mut self, platform: &str, reference: &str) -> Result<Option<i64>>;

    // --- outbox
    async fn enqueue(&mut self, item: &NewOutbox) -> Result<i64>;
    /// Pending rows due at `now`, oldest first, at most one per conversation: the oldest pending
    /// row of each conversation, and only if it is due (so delivery keeps per-conversation order).
    /// Dead and delivered rows never block.
    async fn due_outbox(&mut self, now: Millis, limit: i64) -> Result<Vec<OutboxItem>>;
    async fn outbox_item(&mut self, id: i64) -> Result<Option<OutboxItem>>;
    /// Claims a due pending row for one delivery attempt by moving its `next_attempt_at` to
    /// `until`; false if it is no longer pending and due (another dispatcher took it). If the
    /// attempt never reports back (a crash), the row is due again at `until`.
    async fn lease_outbox(&mut self, id: i64, now: Millis, until: Millis) -> Result<bool>;
    async fn mark_delivered(&mut self, id: i64, now: Millis) -> Result<()>;
    async fn mark_retry(
        &mut self,
        id: i64,
        attempts: i32,
        next_attempt_at: Millis,
        error: &str,
    ) -> Result<()>;
    async fn mark_dead(&mut self, id: i64, attempts: i32, error: &str) -> Result<()>;
    /// Earliest `next_attempt_at` among the rows `due_outbox` could return next (the oldest
    /// pending row of each conversation), for the dispatcher's sleep.
    async fn next_outbox_due(&mut self) -> Result<Option<Millis>>;

    // --- timers
    async fn schedule_timer(&mut self, kind: &str, subject_id: i64, due_at: Millis) -> Result<i64>;
    /// Unfired timers due at `now`, earliest first.
    async fn due_timers(&mut self, now: Millis, limit: i64) -> Result<Vec<Timer>>;
    /// Marks an unfired timer fired; false if it already was.
    async fn mark_timer_fired(&mut self, id: i64, now: Millis) -> Result<bool>;
    /// Cancels unfired timers of `kind` for `subject_id`.
    async fn cancel_timers(&mut self, kind: &str, subject_id: i64) -> Result<()>;

    // --- report (times are the window [from, to))
    /// Records what the bot did with a customer's message (an [`Outcome`] name).
    ///
    /// [`Outcome`]: crate::core::decide::Outcome
    async fn set_line_outcome(&mut self, line_id: i64, outcome: &str) -> Result<()>;
    /// How many customer messages the bot handled, per outcome.
    async fn outcome_counts(&mut self, from: Millis, to: Millis) -> Result<Vec<(String, i64)>>;
    /// What the bot did not understand, grouped by lower-cased text, most frequent first.
    async fn not_understood(
        &mut self,
        from: Millis,
        to: Millis,
        limit: i64,
    ) -> Result<Vec<NotUnderstood>>;
    /// Tickets opened in the window, oldest first.
    async fn tickets_opened(&mut self, from: Millis, to: Millis) -> Result<Vec<Ticket>>;
}
