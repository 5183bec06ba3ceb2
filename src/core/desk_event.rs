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
    fn only_state_changes_edit_the_card() {
        assert!(DeskEvent::Claimed { agent: "a".into() }.changes_card());
        assert!(DeskEvent::Reopened.changes_card());
        assert!(!DeskEvent::CustomerLine.changes_card());
        assert!(!DeskEvent::Opened.changes_card());
    }
}
