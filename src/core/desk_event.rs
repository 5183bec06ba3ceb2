//! What happens to a ticket, as the agents' platform hears of it. Each event is written to the
//! outbox in the same transaction as the change that caused it (lane `desk`), addressed to the
//! desk platform (`[desk] platform`), and delivered in order per ticket by the dispatcher, which
//! hands the platform the event, the line's text and the ticket's card as it stands.
//!
//! New kinds (reminders, transfers) are new variants; adapters render what they know and post
//! the rest as a plain line in the ticket's thread.

/// One happening on a ticket.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeskEvent {
    /// A new ticket: post its card and start its thread.
    Opened,
    /// An agent took it: edit the card, say so in the thread.
    Claimed { agent: String },
    /// The customer wrote while a person owns the conversation: relay to the thread.
    CustomerLine,
    /// An agent replied from another surface (the console): show it in the thread.
    AgentLine { agent: String },
    /// An internal note written elsewhere: show it in the thread.
    Note { agent: String },
    /// Resolved by an agent: edit the card.
    Closed { agent: String },
    /// The customer wrote again within the reopen window.
    Reopened,
    /// The holder is gone and the ticket is back in the queue.
    Released { agent: String },
    /// A message could not be delivered to the customer for good (e.g. their DMs are closed).
    DeadLetter,
    /// A reply to an agent's command in the thread (a refusal, a bad command).
    Notice,
    /// The holder put the ticket back in the queue themselves.
    Returned { agent: String },
    /// The holder handed the ticket to another agent.
    Transferred { from: String, to: String },
    /// An agent reopened a resolved ticket (and holds it now).
    ReopenedBy { agent: String },
    /// An agent changed the ticket's priority.
    Prioritized {
        agent: String,
        priority: crate::core::ticket::Priority,
    },
    /// An agent changed the ticket's tags or blocked or unblocked its customer; the line says what.
    Updated { agent: String },
    /// The first-reply target is near (`[sla] remind_at`) and nobody has replied yet.
    SlaReminder {
        priority: crate::core::ticket::Priority,
        /// Minutes of the target left, in support hours.
        minutes_left: i64,
    },
    /// The first-reply target was missed.
    SlaBreached {
        priority: crate::core::ticket::Priority,
    },
    /// The customer was reminded that the ticket waits on them (`[followup] remind_hours`).
    FollowupSent,
}

impl DeskEvent {
    /// Whether the event changes what the card shows, so adapters edit it.
    pub fn changes_card(&self) -> bool {
        matches!(
            self,
            DeskEvent::Claimed { .. }
                | DeskEvent::Closed { .. }
                | DeskEvent::Reopened
                | DeskEvent::Released { .. }
                | DeskEvent::Returned { .. }
                | DeskEvent::Transferred { .. }
                | DeskEvent::ReopenedBy { .. }
                | DeskEvent::Prioritized { .. }
                | DeskEvent::Updated { .. }
                | DeskEvent::SlaBreached { .. }
        )
    }

    /// Whether the event should reach the agents now: on a platform staff channel the adapter
    /// may mention the agent role or group (and only that) with it. Only service-level
    /// reminders do; everything else is posted quietly.
    pub fn pings_agents(&self) -> bool {
        matches!(
            self,
            DeskEvent::SlaReminder { .. } | DeskEvent::SlaBreached { .. }
        )
    }
}

/// Where a ticket's card lives on a desk platform: the card message and its thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRef {
    pub card: String,
    pub thread: String,
}

/// The line a desk platform posts in a ticket's thread for an event, from the event and the
/// transcript line it carries. `escape` makes customer and agent text inert on the platform.
pub fn thread_line(
    event: &DeskEvent,
    author_name: Option<&str>,
    text: &str,
    escape: &dyn Fn(&str) -> String,
) -> Option<String> {
    let who = |fallback: &str| escape(author_name.unwrap_or(fallback));
    Some(match event {
        // The card shows the ticket; its thread starts empty.
        DeskEvent::Opened => return None,
        DeskEvent::Claimed { agent } => format!("Claimed by {}.", escape(agent)),
        DeskEvent::CustomerLine => format!("**{}:** {}", who("Customer"), escape(text)),
        DeskEvent::AgentLine { agent } => {
            format!(
                "**{}** (replied in the console): {}",
                escape(agent),
                escape(text)
            )
        }
        DeskEvent::Note { agent } => {
            format!("**{}** (internal note): {}", escape(agent), escape(text))
        }
        DeskEvent::Closed { agent } => format!(
            "{} by {}.",
            escape(text.trim_end_matches('.')),
            escape(agent)
        ),
        DeskEvent::Reopened => format!("Reopened: the customer wrote again. {}", escape(text)),
        DeskEvent::Released { agent } => {
            format!(
                "{} is no longer on the team; the ticket is back in the queue.",
                escape(agent)
            )
        }
        DeskEvent::DeadLetter => format!("Delivery failed. {}", escape(text)),
        DeskEvent::Notice => escape(text),
        DeskEvent::Returned { agent } => {
            format!(
                "{} released the ticket; it is back in the queue.",
                escape(agent)
            )
        }
        DeskEvent::Transferred { from, to } => {
            format!("{} transferred the ticket to {}.", escape(from), escape(to))
        }
        DeskEvent::ReopenedBy { agent } => {
            format!("Reopened by {}, who holds it now.", escape(agent))
        }
        DeskEvent::Prioritized { agent, priority } => {
            format!(
                "{} set the priority to {}.",
                escape(agent),
                priority.as_str()
            )
        }
        DeskEvent::Updated { agent } => format!("{}: {}", escape(agent), escape(text)),
        DeskEvent::SlaReminder {
            priority,
            minutes_left,
        } => format!(
            "Reminder: no reply yet to this {} ticket; the first-reply target is {} minutes away.",
            priority.as_str(),
            minutes_left
        ),
        DeskEvent::SlaBreached { priority } => format!(
            "The first-reply target for this {} ticket was missed.",
            priority.as_str()
        ),
        DeskEvent::FollowupSent => format!("Reminded the customer: {}", escape(text)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(s: &str) -> String {
        s.to_string()
    }

    #[test]
    fn thread_lines_say_who_did_what() {
        let line =
            |e: DeskEvent, name: Option<&str>, text: &str| thread_line(&e, name, text, &plain);
        assert_eq!(line(DeskEvent::Opened, None, "x"), None);
        assert_eq!(
            line(DeskEvent::CustomerLine, Some("Dana"), "still waiting").unwrap(),
            "**Dana:** still waiting"
        );
        assert_eq!(
            line(
                DeskEvent::Claimed {
                    agent: "alice".into()
                },
                None,
                "Alice has joined"
            )
            .unwrap(),
            "Claimed by alice."
        );
        assert_eq!(
            line(
                DeskEvent::Closed {
                    agent: "alice".into()
                },
                Some("alice"),
                "Closed: refund sent"
            )
            .unwrap(),
            "Closed: refund sent by alice."
        );
        assert!(line(
            DeskEvent::Note {
                agent: "bob".into()
            },
            Some("bob"),
            "vip"
        )
        .unwrap()
        .contains("internal note"));
    }

    #[test]
    fn thread_lines_escape_what_people_wrote() {
        let text = thread_line(&DeskEvent::CustomerLine, Some("<@1>"), "@everyone", &|s| {
            s.replace('@', "(at)")
        })
        .unwrap();
        assert!(!text.contains('@'), "{text}");
    }

    #[test]
    fn only_service_level_reminders_ping_the_agents() {
        use crate::core::ticket::Priority;
        assert!(DeskEvent::SlaReminder {
            priority: Priority::High,
            minutes_left: 5
        }
        .pings_agents());
        assert!(DeskEvent::SlaBreached {
            priority: Priority::Low
        }
        .pings_agents());
        assert!(!DeskEvent::CustomerLine.pings_agents());
        assert!(!DeskEvent::Transferred {
            from: "a".into(),
            to: "b".into()
        }
        .pings_agents());
        let line = thread_line(
            &DeskEvent::Transferred {
                from: "alice".into(),
                to: "bob".into(),
            },
            None,
            "",
            &plain,
        );
        assert_eq!(line.unwrap(), "alice transferred the ticket to bob.");
    }

    #[test]
    fn only_state_changes_edit_the_card() {
        assert!(DeskEvent::Claimed { agent: "a".into() }.changes_card());
        assert!(DeskEvent::Reopened.changes_card());
        assert!(!DeskEvent::CustomerLine.changes_card());
        assert!(!DeskEvent::Opened.changes_card());
    }
}
