//! The platform- and database-free heart of frontline: what a conversation is, how the bot
//! decides, how tickets move. Nothing here imports a platform crate, axum or sqlx.

pub mod matcher;
pub mod template;
