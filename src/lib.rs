//! frontline: a support bot for chat platforms.

pub mod clock;
pub mod core;
pub mod intents;
