//! Customers, known per channel by the platform's id for them.

use crate::clock::Millis;

#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    pub id: i64,
    pub channel: String,
    /// The platform's id for this person (web: the chat session id). Never a typed-in name:
    /// identity is never inferred from what a customer says about themselves.
    pub external_id: String,
    pub display_name: Option<String>,
    pub created_at: Millis,
    /// Blocked by an agent: one polite notice, then silence and no tickets.
    pub blocked_at: Option<Millis>,
}
