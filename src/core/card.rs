//! A ticket's card: what agents on a chat platform see first (subject, customer and origin,
//! reason, the intents the bot tried, earlier tickets, the last messages). Built from the store
//! when a desk event is delivered, so an edited card always shows the ticket as it is now.
//! Rendering here is plain text with light Markdown that Discord and Slack both read; adapters
//! add their buttons.

use crate::core::message::{Author, TranscriptLine};
use crate::core::ticket::{Priority, Ticket, TicketStatus};

/// How many of the conversation's last lines a card shows.
pub const LAST_LINES: usize = 5;
/// Longest a line is shown on the card before it is shortened with "…".
const LINE_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    pub ticket: Ticket,
    pub customer: String,
    pub assignee: Option<String>,
    /// The customer's earlier tickets, newest first.
    pub earlier: Vec<Ticket>,
    /// The conversation's last customer-visible lines, oldest first.
    pub last_lines: Vec<TranscriptLine>,
}

impl Card {
    /// One line saying where the ticket stands.
    pub fn status_line(&self) -> String {
        let t = &self.ticket;
        match (t.status, &self.assignee) {
            (TicketStatus::Open, _) => "Waiting in the queue".into(),
            (TicketStatus::Assigned, Some(a)) => format!("Claimed by {a}"),
            (TicketStatus::Assigned, None) => "Claimed".into(),
            (TicketStatus::Resolved | TicketStatus::Closed, Some(a)) => format!("Closed by {a}"),
            (TicketStatus::Resolved | TicketStatus::Closed, None) => "Closed".into(),
        }
    }

    /// The card's title, also used as the thread's name.
    pub fn title(&self) -> String {
        let subject: String = self.ticket.subject.chars().take(80).collect();
        format!("#{} {subject}", self.ticket.id)
    }

    /// The card's body. Every value that came from a customer is passed through `escape`, the
    /// platform's way of making text inert (no mentions, no fake links).
    pub fn render(&self, escape: &dyn Fn(&str) -> String) -> String {
        let t = &self.ticket;
        let mut out = vec![
            format!(
                "**Ticket {}**: {}",
                escape(&self.title()),
                self.status_line()
            ),
            format!(
                "**Customer:** {} (via {})",
                escape(&self.customer),
                escape(&t.channel)
            ),
            format!("**Reason:** {}", escape(&t.reason)),
        ];
        // Only what differs from a plain ticket, so most cards stay as short as they were.
        let mut marks = Vec::new();
        if t.priority != Priority::Normal {
            marks.push(format!("**Priority:** {}", t.priority.as_str()));
        }
        if !t.tags.is_empty() {
            marks.push(format!("**Tags:** {}", escape(&t.tags.join(", "))));
        }
        if t.breached_at.is_some() {
            marks.push("**First-reply target missed**".to_string());
        }
        if !marks.is_empty() {
            out.push(marks.join(" · "));
        }
        if !t.intents.is_empty() {
            let intents: Vec<String> = t
                .intents
                .iter()
                .map(|c| format!("{} {:.2}", escape(&c.intent), c.score))
                .collect();
            out.push(format!("**Bot's guesses:** {}", intents.join(", ")));
        }
        if !self.earlier.is_empty() {
            let earlier: Vec<String> = self
                .earlier
                .iter()
                .take(5)
                .map(|e| {
                    let rating = e.csat.map(|c| format!(", rated {c}/5")).unwrap_or_default();
                    format!(
                        "#{} {} ({}{rating})",
                        e.id,
                        escape(&e.subject),
                        e.status.as_str()
                    )
                })
                .collect();
            out.push(format!("**Earlier tickets:** {}", earlier.join("; ")));
        }
        if !self.last_lines.is_empty() {
            out.push("**Last messages:**".into());
            for line in &self.last_lines {
                let who = match line.author {
                    Author::Customer => "Customer".to_string(),
                    Author::Bot => "Bot".to_string(),
                    Author::System => "frontline".to_string(),
                    Author::Agent | Author::Note => {
                        line.author_name.clone().unwrap_or_else(|| "Agent".into())
                    }
                };
                let mut text: String = line.text.chars().take(LINE_CHARS).collect();
                if line.text.chars().count() > LINE_CHARS {
                    text.push('…');
                }
                let text = text.replace('\n', " ");
                out.push(format!("> {}: {}", escape(&who), escape(&text)));
            }
        }
        out.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::matcher::Candidate;

    fn ticket(id: i64, status: TicketStatus) -> Ticket {
        Ticket {
            id,
            conversation_id: 1,
            customer_id: 1,
            channel: "discord".into(),
            status,
            subject: "where is my parcel".into(),
            reason: "customer asked for a person".into(),
            intents: vec![Candidate {
                intent: "order_status".into(),
                score: 0.42,
            }],
            assignee: None,
            created_at: 0,
            claimed_at: None,
            first_reply_at: None,
            resolved_at: None,
            closed_at: None,
            csat: None,
            priority: Default::default(),
            tags: Vec::new(),
            breached_at: None,
            closed_by: None,
        }
    }

    fn line(author: Author, text: &str) -> TranscriptLine {
        TranscriptLine {
            id: 1,
            conversation_id: 1,
            author,
            author_name: None,
            text: text.into(),
            at: 0,
            intent: None,
            confidence: None,
            choices: Vec::new(),
        }
    }

    #[test]
    fn card_shows_everything_an_agent_needs() {
        let mut earlier = ticket(3, TicketStatus::Closed);
        earlier.csat = Some(4);
        earlier.subject = "refund".into();
        let card = Card {
            ticket: ticket(7, TicketStatus::Open),
            customer: "Dana".into(),
            assignee: None,
            earlier: vec![earlier],
            last_lines: vec![
                line(Author::Customer, "where is it\nplease"),
                line(Author::Bot, "Sorry"),
            ],
        };
        let text = card.render(&|s| s.to_string());
        assert!(text.contains("#7 where is my parcel"), "{text}");
        assert!(text.contains("Waiting in the queue"), "{text}");
        assert!(text.contains("Dana (via discord)"), "{text}");
        assert!(text.contains("customer asked for a person"), "{text}");
        assert!(text.contains("order_status 0.42"), "{text}");
        assert!(text.contains("#3 refund (closed, rated 4/5)"), "{text}");
        assert!(text.contains("> Customer: where is it please"), "{text}");
        assert!(text.contains("> Bot: Sorry"), "{text}");
    }

    #[test]
    fn customer_text_goes_through_the_platforms_escape() {
        let mut t = ticket(1, TicketStatus::Assigned);
        t.subject = "@everyone look".into();
        let card = Card {
            ticket: t,
            customer: "<@123>".into(),
            assignee: Some("alice".into()),
            earlier: vec![],
            last_lines: vec![],
        };
        let text = card.render(&|s| s.replace('@', "@\u{200b}"));
        assert!(!text.contains("@everyone"), "{text}");
        assert!(!text.contains("<@123>"), "{text}");
        assert!(text.contains("Claimed by alice"), "{text}");
    }

    #[test]
    fn long_lines_are_shortened_on_the_card() {
        let card = Card {
            ticket: ticket(1, TicketStatus::Open),
            customer: "x".into(),
            assignee: None,
            earlier: vec![],
            last_lines: vec![line(Author::Customer, &"a".repeat(500))],
        };
        let text = card.render(&|s| s.to_string());
        assert!(text.contains(&format!("{}…", "a".repeat(LINE_CHARS))));
        assert!(!text.contains(&"a".repeat(LINE_CHARS + 1)));
    }

    #[test]
    fn cards_show_priority_and_tags_only_when_set() {
        let mut card = Card {
            ticket: ticket(7, TicketStatus::Open),
            customer: "Dana".into(),
            assignee: None,
            earlier: Vec::new(),
            last_lines: Vec::new(),
        };
        let plain = card.render(&|s: &str| s.to_string());
        assert!(!plain.contains("Priority"), "{plain}");
        card.ticket.priority = Priority::Urgent;
        card.ticket.tags = vec!["billing".into(), "vip".into()];
        let marked = card.render(&|s: &str| s.to_string());
        assert!(
            marked.contains("**Priority:** urgent · **Tags:** billing, vip"),
            "{marked}"
        );
    }
}
