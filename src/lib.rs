//! frontline: a support bot for chat platforms. It answers common questions from intent files,
//! and when it cannot help it opens a ticket with the whole context, tells the customer plainly
//! what happens next, and hands the conversation to human agents.
//!
//! # Layout
//! - [`core`]: platform- and database-free logic: messages, the conversation state machine
//!   ([`core::decide`], [`core::engine`]), the agents' desk ([`core::desk`]), customer-care
//!   policies ([`core::policy`]), templates, the [`core::matcher::Matcher`] seam, and the
//!   figures admins read ([`core::report`]); customers' data: redaction before anything is
//!   stored ([`core::redact`]), retention, export and erasure ([`core::privacy`]).
//! - [`intents`]: intent files, validation, the trained matcher, evaluation, import, hot reload.
//! - [`store`]: the [`store::Store`] trait and its SQLite and PostgreSQL implementations.
//! - [`channels`]: the [`channels::Channel`] trait and the adapters; [`channels::web`] serves the
//!   chat and agent HTTP API and pages, the embeddable widget, signed identity and abuse limits.
//! - [`outbox`]: delivery of stored outbound messages with retry, backoff and dead letters.
//! - [`app`]: wiring and the run loop; [`config`]: configuration; [`clock`]: injectable time.
//!
//! Data flows adapter → inbox (stored, deduplicated) → engine → outbox (stored in the same
//! transaction) → dispatcher → adapter.

pub mod app;
pub mod channels;
pub mod clock;
pub mod config;
pub mod core;
pub mod intents;
pub mod outbox;
pub mod store;
