//! The platform- and database-free heart of frontline: what a conversation is, how the bot
//! decides, how tickets move. Nothing here imports a platform crate, axum or sqlx; the store is
//! reached through [`crate::store::Store`].

pub mod agent;
pub(crate) mod batcher;
pub mod card;
pub mod choice;
pub mod command;
pub mod conversation;
pub mod customer;
pub mod decide;
pub mod desk;
pub mod desk_event;
pub mod engine;
pub mod error;
pub mod export;
pub mod group_commit;
pub mod inbox;
pub mod matcher;
pub mod message;
pub mod policy;
pub mod privacy;
pub mod redact;
pub mod report;
pub mod services;
pub mod snippet;
pub mod template;
pub mod ticket;
