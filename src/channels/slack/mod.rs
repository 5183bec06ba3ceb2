//! Slack: the platform-specific parts of the Slack adapter, each a plain piece with its own tests.
//!
//! # Layout
//! - [`signature`]: Events API request signing (v0 HMAC-SHA256), with "now" as a parameter.
//! - [`text`]: escaping relayed text (`&`, `<`, `>`), reading Slack markup as plain text, the
//!   [`text::Mrkdwn`] "safe to send" type, and splitting long text on line or word boundaries.
//! - [`blocks`]: Block Kit JSON for messages with choice buttons and for ticket cards.
//! - [`api`]: the Web API client ([`api::SlackApi`]) with typed errors ([`api::SlackError`]).
//! - [`events`]: inbound payloads (events, button presses) parsed into neutral structs, with
//!   the filtering of bots, our own messages and non-text subtypes.
//! - [`socket`]: the Socket Mode client (ack first, reconnect with backoff, report connects).
//! - [`recovery`]: after a (re)connect, read back with history/replies what was missed.
//!
//! The adapter that connects these to the core's inbox and desk lives apart from them.

pub mod api;
pub mod blocks;
pub mod events;
pub mod recovery;
pub mod signature;
pub mod socket;
pub mod text;
