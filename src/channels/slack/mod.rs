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
//! - [`render`]: addresses, who a message or button press is for, frontline's text as `mrkdwn`,
//!   Web API errors as delivery outcomes; decisions tested without a connection.
//! - [`adapter`]: the [`Slack`] adapter, the seam's three traits (connection, deliveries to
//!   customers, ticket cards and threads) on top of the parts above.
//! - [`inbound`]: the adapter's intake (envelopes, webhook payloads, button presses handed to
//!   the inbox, refusals explained) and the catch-up after a (re)connect.
//! - [`outbound`]: the adapter's deliveries: messages to customers and ticket cards and threads.
//! - [`webhook`]: events mode's signed HTTP endpoints.

pub mod adapter;
pub mod api;
pub mod blocks;
pub mod events;
pub mod inbound;
pub mod outbound;
pub mod recovery;
pub mod render;
pub mod signature;
pub mod socket;
pub mod text;
pub mod webhook;

pub use adapter::{SetupError, Slack, SLACK};
