//! frontline: a support bot for chat platforms. It answers common questions from intent files,
//! and when it cannot help it opens a ticket with the whole context, tells the customer plainly
//! what happens next, and hands the conversation to human agents.
//!
//! # Layout
//! - [`core`]: platform- and database-free logic: messages, the conversation state machine
//!   ([`core::decide`], [`core::engine`]), the agents' desk ([`core::desk`]: actions, service
//!   levels and follow-ups, with snippets [`core::snippet`] and ticket export [`core::export`])
//!   and what it tells platforms ([`core::desk_event`], [`core::card`]), the `!` commands agents
//!   type ([`core::command`]), choices customers press ([`core::choice`]), customer-care
//!   policies ([`core::policy`]), templates, the [`core::matcher::Matcher`] seam, the
//!   [`core::inbox::Inbox`] port adapters hand events to and the group commit behind it
//!   ([`core::group_commit`]), the figures admins read
//!   ([`core::report`]), and customers' data: redaction before anything is stored
//!   ([`core::redact`]), retention, export and erasure ([`core::privacy`]).
//! - [`intents`]: intent files, validation, the trained matcher, evaluation, import, hot reload.
//! - [`store`]: the [`store::Store`] trait, the transaction's job traits, and their SQLite and
//!   PostgreSQL implementations.
//! - [`channels`]: the platform seam ([`channels::CustomerChannel`], [`channels::AgentDesk`],
//!   [`channels::Adapter`]) and the adapters: [`channels::web`] (the chat and agent HTTP API and
//!   pages, the embeddable widget, signed identity and abuse limits), `channels::discord` and
//!   `channels::slack` (each behind its cargo feature); [`channels::lease`] keeps each platform
//!   connection open in one instance at a time.
//! - [`outbox`]: delivery of stored outbound messages and desk events with retry, backoff and
//!   dead letters.
//! - [`app`]: wiring and the run loop; [`config`]: configuration; [`clock`]: injectable time;
//!   [`ops`]: readiness and the metrics [`metrics`] records, for operators.
//!
//! Data flows adapter → inbox (stored, deduplicated, in batches) → engine → outbox (stored in the
//! same transaction) → dispatcher → adapter. Lines for the web chat, whose customers read the
//! transcript, are delivered by that commit and skip the outbox.

pub mod app;
pub mod channels;
pub mod clock;
pub mod config;
pub mod core;
pub mod intents;
pub mod metrics;
pub mod ops;
pub mod outbox;
pub mod store;
