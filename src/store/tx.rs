//! What a store transaction can do: one trait per job, all implemented by each database's
//! transaction type and gathered in [`Tx`], whose trait objects offer every job's methods.

use async_trait::async_trait;

use super::*;

/// Everything the application reads and writes, inside one transaction.
#[async_trait]
pub trait Tx:
    Send
    + CustomerStore
    + InboxStore
    + ConversationStore
    + TranscriptStore
    + TicketStore
    + AgentStore
    + CardStore
    + OutboxStore
    + TimerStore
    + ReportStore
    + PrivacyStore
    + LockStore
    + LeaseStore
    + WebSessionTx
{
    async fn commit(self: Box<Self>) -> Result<()>;
}

/// Serialises the work on one conversation across instances that share a database, without
/// holding up the work on any other. Every change to a conversation (its state, its lines, its
/// outbox rows) is made under its lock, so the ids of its lines commit in increasing order and a
/// client reading "after line N" misses nothing. SQLite has one writer at a time anyway: there
/// these take no lock.
#[async_trait]
pub trait LockStore: Send {
    /// Whether [`LockStore::lock_conversation`] takes a lock at all.
    fn locks_conversations(&self) -> bool;
    /// Waits for, and holds until the transaction ends, the lock of the conversation with this
    /// [`conversation_lock_key`]. Taking it again in the same transaction is free.
    async fn lock_conversation(&mut self, key: i32) -> Result<()>;
}

/// Writing a web-chat session, in the transaction that writes its customer, so the two are
/// stored together (one commit, one disk flush) or not at all. The core never calls this.
#[async_trait]
pub trait WebSessionTx: Send {
    async fn create_web_session(&mut self, session: &WebSession) -> Result<()>;
}

/// Customers, known per channel by the platform's id for them.
#[async_trait]
pub trait CustomerStore: Send {
    /// Finds the customer by (channel, external id) or creates it; a given name updates the stored one.
    async fn upsert_customer(
        &mut self,
        channel: &str,
        external_id: &str,
        display_name: Option<&str>,
        now: Millis,
    ) -> Result<Customer>;
    /// [`CustomerStore::upsert_customer`] for several customers of one channel, each given as
    /// (external id, display name, time), in one statement: a burst of new chats costs one round
    /// trip instead of one each. Returns each entry's customer as stored once all are written (an
    /// id given twice: one customer, created at its first time, with the last name given).
    async fn upsert_customers(
        &mut self,
        channel: &str,
        customers: &[(&str, Option<&str>, Millis)],
    ) -> Result<Vec<Customer>>;
    async fn customer(&mut self, id: i64) -> Result<Option<Customer>>;
    /// Blocks (keeping the first time) or unblocks the customer.
    async fn set_blocked(&mut self, id: i64, blocked: bool, now: Millis) -> Result<()>;
    /// Records that a blocked customer was told; false if they were told already (or are not
    /// blocked), so the notice goes out once.
    async fn notice_block(&mut self, id: i64, now: Millis) -> Result<bool>;
    /// Blocked customers, longest blocked first.
    async fn blocked_customers(&mut self) -> Result<Vec<Customer>>;
}

/// The inbox: every inbound event, stored and deduplicated before it is handled.
#[async_trait]
pub trait InboxStore: Send {
    /// Stores an inbound event unless (channel, external id) is already there.
    async fn record_inbound(&mut self, inbound: &crate::core::message::Inbound)
        -> Result<Recorded>;
    /// [`InboxStore::record_inbound`] for an event handled in this same transaction: stored
    /// already marked handled.
    async fn record_handled_inbound(
        &mut self,
        inbound: &crate::core::message::Inbound,
        now: Millis,
    ) -> Result<Recorded>;
    /// [`InboxStore::record_handled_inbound`] for several events at once (a batch), in order:
    /// one outcome per event, the second of two events with the same (channel, external id)
    /// being a duplicate of the first.
    async fn record_handled_inbound_all(
        &mut self,
        inbound: &[&crate::core::message::Inbound],
        now: Millis,
    ) -> Result<Vec<Recorded>>;
    async fn inbox_item(&mut self, id: i64) -> Result<Option<InboxItem>>;
    /// Unhandled events stored after `after_id`, oldest first.
    async fn unhandled_inbound(&mut self, after_id: i64, limit: i64) -> Result<Vec<InboxItem>>;
    /// Marks an unhandled event handled; false if it already was (another handler got there
    /// first: the caller must roll back). Writing this first also locks the row on PostgreSQL.
    async fn mark_inbound_handled(&mut self, id: i64, now: Millis) -> Result<bool>;
    /// Counts a failed handling attempt of an unhandled event; returns the attempts so far.
    async fn inbound_failed(&mut self, id: i64, error: &str) -> Result<i32>;
    /// Gives up on an unhandled event: a dead letter, never handled again.
    async fn mark_inbound_dead(&mut self, id: i64, now: Millis) -> Result<bool>;
    /// For each conversation key on `channel` with an event received at or after `since`, the
    /// newest event stored for it.
    async fn inbox_cursors(&mut self, channel: &str, since: Millis) -> Result<Vec<InboxCursor>>;
}

/// Conversations and their state.
#[async_trait]
pub trait ConversationStore: Send {
    /// The newest conversation for (channel, conversation key), in any state.
    async fn latest_conversation(
        &mut self,
        channel: &str,
        key: &str,
    ) -> Result<Option<Conversation>>;
    async fn conversation(&mut self, id: i64) -> Result<Option<Conversation>>;
    /// For each key, in order: the customer with (channel, customer key), the newest
    /// conversation with (channel, conversation key) and its customer lines; all in one read.
    async fn turn_contexts(&mut self, keys: &[TurnKey<'_>]) -> Result<Vec<TurnContext>>;
    /// How many conversations the customer had before conversation `before`.
    async fn earlier_conversations(&mut self, customer_id: i64, before: i64) -> Result<i64>;
    /// Inserts `conversation` (its `id` is ignored) and returns the new id.
    async fn create_conversation(&mut self, conversation: &Conversation) -> Result<i64>;
    /// Writes every field of `conversation` by id.
    async fn update_conversation(&mut self, conversation: &Conversation) -> Result<()>;
}

/// Transcript lines.
#[async_trait]
pub trait TranscriptStore: Send {
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
}

/// Tickets and the queue.
#[async_trait]
pub trait TicketStore: Send {
    async fn create_ticket(&mut self, ticket: &NewTicket) -> Result<Ticket>;
    async fn ticket(&mut self, id: i64) -> Result<Option<Ticket>>;
    /// Writes status, assignee, timestamps and csat of `ticket` by id.
    async fn update_ticket(&mut self, ticket: &Ticket) -> Result<()>;
    /// Gives the ticket to `agent` if it is still being worked on and still held by `held_by`
    /// (`None`: nobody); false if someone else changed that first, so a ticket is claimed once
    /// whatever the locks around it.
    async fn claim_ticket(
        &mut self,
        ticket_id: i64,
        agent: i64,
        held_by: Option<i64>,
    ) -> Result<bool>;
    /// Tickets in any of `statuses`, oldest first, with customer and assignee names.
    async fn list_tickets(&mut self, statuses: &[TicketStatus]) -> Result<Vec<TicketSummary>>;
    async fn ticket_summary(&mut self, id: i64) -> Result<Option<TicketSummary>>;
    /// 1-based place in the queue of an open ticket: open tickets created before it, plus one.
    async fn queue_position(&mut self, ticket_id: i64) -> Result<i64>;
    /// Waits (claimed_at - created_at) of the most recently claimed tickets, newest first.
    async fn recent_claim_waits(&mut self, limit: i64) -> Result<Vec<Millis>>;
    /// The customer's other tickets, newest first.
    async fn customer_tickets(&mut self, customer_id: i64, except: i64) -> Result<Vec<Ticket>>;
}

/// Agents, by token or by platform identity.
#[async_trait]
pub trait AgentStore: Send {
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
}

/// Ticket cards on desk platforms.
#[async_trait]
pub trait CardStore: Send {
    async fn set_card(&mut self, ticket_id: i64, platform: &str, card: &CardRef) -> Result<()>;
    async fn card(&mut self, ticket_id: i64, platform: &str) -> Result<Option<CardRef>>;
    /// The ticket whose card or thread on `platform` is `reference`.
    async fn ticket_by_card(&mut self, platform: &str, reference: &str) -> Result<Option<i64>>;
}

/// The outbox: messages and desk events waiting for delivery.
#[async_trait]
pub trait OutboxStore: Send {
    async fn enqueue(&mut self, item: &NewOutbox) -> Result<i64>;
    /// Pending rows due at `now`, oldest first, at most one per conversation: the oldest pending
    /// row of each conversation, and only if it is due (so delivery keeps per-conversation order).
    /// Dead and delivered rows never block.
    async fn due_outbox(&mut self, now: Millis, limit: i64) -> Result<Vec<OutboxItem>>;
    /// [`OutboxStore::due_outbox`] for leasing: the rows are locked until the transaction ends,
    /// and rows another transaction has locked are passed over (PostgreSQL), so instances
    /// leasing at the same moment take different rows without waiting for each other.
    async fn take_due_outbox(&mut self, now: Millis, limit: i64) -> Result<Vec<OutboxItem>>;
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
    /// How many rows wait for delivery, and when the oldest of them was written.
    async fn outbox_backlog(&mut self) -> Result<(i64, Option<Millis>)>;
}

/// Timers kept in the database.
#[async_trait]
pub trait TimerStore: Send {
    async fn schedule_timer(&mut self, kind: &str, subject_id: i64, due_at: Millis) -> Result<i64>;
    /// Unfired timers due at `now`, earliest first.
    async fn due_timers(&mut self, now: Millis, limit: i64) -> Result<Vec<Timer>>;
    /// Marks an unfired timer fired; false if it already was.
    async fn mark_timer_fired(&mut self, id: i64, now: Millis) -> Result<bool>;
    /// Cancels unfired timers of `kind` for `subject_id`.
    async fn cancel_timers(&mut self, kind: &str, subject_id: i64) -> Result<()>;
}

/// What the report counts (times are the window [from, to)).
#[async_trait]
pub trait ReportStore: Send {
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
    /// Customer messages the bot handled per UTC day (days since the epoch) and outcome.
    async fn outcomes_by_day(
        &mut self,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<(i64, String, i64)>>;
    /// Inbound events that became dead letters in the window.
    async fn inbox_dead_letters(&mut self, from: Millis, to: Millis) -> Result<i64>;
}

/// Customers' data rights (export, erasure, retention) and admin agents.
#[async_trait]
pub trait PrivacyStore: Send {
    /// Every customer (erased ones excepted), oldest first.
    async fn customer_records(&mut self) -> Result<Vec<crate::core::privacy::CustomerRecord>>;
    /// Every customers row of the same person as `customer_id` (itself included; empty if none).
    async fn person_customers(&mut self, customer_id: i64) -> Result<Vec<i64>>;
    /// Makes `a` and `b` (and everyone already linked to either) one person; false if either
    /// does not exist.
    async fn link_customers(&mut self, a: i64, b: i64) -> Result<bool>;
    async fn set_customer_email(&mut self, id: i64, email: Option<&str>) -> Result<()>;
    /// Every stored row about one customers row, per table, as JSON objects.
    async fn customer_rows(
        &mut self,
        customer_id: i64,
    ) -> Result<Vec<(&'static str, Vec<serde_json::Value>)>>;
    /// Erases one customers row and everything about it; tickets stay, without text, shown as
    /// the customer "erased".
    async fn forget_customer(&mut self, customer_id: i64, now: Millis) -> Result<()>;
    /// Removes the text of up to `limit` conversations finished before `cutoff` (see
    /// `[privacy] retention_days`), and web sessions left unused; how many conversations.
    async fn expire_conversations(
        &mut self,
        cutoff: Millis,
        now: Millis,
        limit: i64,
    ) -> Result<usize>;
    /// Whether an unfired timer of `kind` exists.
    async fn has_pending_timer(&mut self, kind: &str) -> Result<bool>;
    async fn set_agent_admin(&mut self, agent_id: i64, admin: bool) -> Result<()>;
    async fn agent_is_admin(&mut self, agent_id: i64) -> Result<bool>;
}

/// Leases: which instance holds a platform connection. Times are wall-clock epoch milliseconds,
/// since instances on different machines compare them.
#[async_trait]
pub trait LeaseStore: Send {
    /// Takes or renews the lease `name` for `holder` until `expires_at`, if it is free, expired
    /// at `now` or already held by `holder`; true if `holder` holds it now.
    async fn acquire_lease(
        &mut self,
        name: &str,
        holder: &str,
        now: Millis,
        expires_at: Millis,
    ) -> Result<bool>;
    /// Gives the lease up if `holder` has it; false if it had not (expired and taken over).
    async fn release_lease(&mut self, name: &str, holder: &str) -> Result<bool>;
    /// Who holds the lease at `now`, if anyone.
    async fn lease_holder(&mut self, name: &str, now: Millis) -> Result<Option<String>>;
}

/// The traits whose methods a transaction offers.
pub mod prelude {
    pub use super::{
        AgentStore, CardStore, ConversationStore, CustomerStore, InboxStore, LeaseStore,
        OutboxStore, PrivacyStore, ReportStore, TicketStore, TimerStore, TranscriptStore, Tx,
        WebSessionTx,
    };
}
