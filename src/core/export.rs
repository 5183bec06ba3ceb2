//! A ticket as text for people outside the console: one line for a list, the whole ticket as
//! Markdown (transcript with context, internal notes marked) or as JSON. `frontline tickets`
//! prints these.

use serde_json::{json, Value};

use crate::clock::rfc3339;
use crate::core::desk::TicketDetail;
use crate::core::message::{Author, TranscriptLine};
use crate::core::ticket::{Ticket, TicketSummary};

/// How a ticket ended, in words.
pub fn outcome(t: &Ticket) -> &'static str {
    match (t.status.is_done(), t.closed_by.as_deref()) {
        (false, _) => "still open",
        (true, Some("admin")) => "closed by an admin",
        (true, Some("followup")) => "closed: the customer did not reply",
        (true, _) => "resolved by an agent",
    }
}

/// `#ID  status  priority  [tags]  customer  subject`, tab-separated.
pub fn list_line(s: &TicketSummary) -> String {
    let t = &s.ticket;
    let tags = if t.tags.is_empty() {
        "-".to_string()
    } else {
        t.tags.join(",")
    };
    format!(
        "#{}\t{}\t{}\t{}\t{}\t{}\t{}",
        t.id,
        t.status.as_str(),
        t.priority.as_str(),
        tags,
        s.assignee_name.as_deref().unwrap_or("-"),
        s.customer_name,
        t.subject
    )
}

fn who(line: &TranscriptLine, customer: &str) -> String {
    match line.author {
        Author::Customer => line.author_name.clone().unwrap_or_else(|| customer.into()),
        Author::Bot => "Bot".into(),
        Author::System => "System".into(),
        Author::Agent => line.author_name.clone().unwrap_or_else(|| "Agent".into()),
        Author::Note => format!(
            "INTERNAL NOTE by {}",
            line.author_name.as_deref().unwrap_or("agent")
        ),
    }
}

/// The whole ticket as Markdown; internal notes are marked so nobody forwards one by mistake.
pub fn markdown(d: &TicketDetail) -> String {
    let s = &d.summary;
    let t = &s.ticket;
    let mut out = format!("# Ticket #{}: {}\n\n", t.id, t.subject);
    let mut field = |k: &str, v: String| out.push_str(&format!("- **{k}:** {v}\n"));
    field("Status", format!("{} ({})", t.status.as_str(), outcome(t)));
    field("Priority", t.priority.as_str().into());
    if !t.tags.is_empty() {
        field("Tags", t.tags.join(", "));
    }
    field("Customer", format!("{} ({})", s.customer_name, t.channel));
    field(
        "Assignee",
        s.assignee_name.clone().unwrap_or_else(|| "nobody".into()),
    );
    field("Opened", rfc3339(t.created_at));
    if let Some(at) = t.first_reply_at {
        field("First reply", rfc3339(at));
    }
    if let Some(at) = t.breached_at {
        field("First-reply target missed", rfc3339(at));
    }
    if let Some(at) = t.resolved_at {
        field("Closed", rfc3339(at));
    }
    if let Some(csat) = t.csat {
        field("Rating", format!("{csat} / 5"));
    }
    field("Why escalated", t.reason.clone());
    if !t.intents.is_empty() {
        let tried: Vec<String> = t
            .intents
            .iter()
            .map(|c| format!("{} ({:.0}%)", c.intent, c.score * 100.0))
            .collect();
        field("What the bot tried", tried.join(", "));
    }
    out.push_str("\n## Earlier tickets\n\n");
    if d.previous_tickets.is_empty() {
        out.push_str("none\n");
    }
    for p in &d.previous_tickets {
        let rating = p.csat.map(|c| format!(", rated {c}/5")).unwrap_or_default();
        out.push_str(&format!(
            "- #{} {} ({}{rating})\n",
            p.id,
            p.subject,
            outcome(p)
        ));
    }
    out.push_str("\n## Transcript\n\n");
    for line in &d.transcript {
        let text = line.text.replace('\n', "\n  > ");
        let marker = if line.author == Author::Note {
            "🔒 "
        } else {
            ""
        };
        out.push_str(&format!(
            "- {marker}**{}** ({}):\n  > {text}\n",
            who(line, &s.customer_name),
            rfc3339(line.at)
        ));
    }
    out
}

/// The whole ticket as JSON; each line says whether it is an internal note.
pub fn json(d: &TicketDetail) -> Value {
    let s = &d.summary;
    let t = &s.ticket;
    json!({
        "id": t.id,
        "status": t.status.as_str(),
        "outcome": outcome(t),
        "priority": t.priority.as_str(),
        "tags": t.tags,
        "subject": t.subject,
        "reason": t.reason,
        "customer": s.customer_name,
        "channel": t.channel,
        "assignee": s.assignee_name,
        "created_at": rfc3339(t.created_at),
        "first_reply_at": t.first_reply_at.map(rfc3339),
        "breached_at": t.breached_at.map(rfc3339),
        "resolved_at": t.resolved_at.map(rfc3339),
        "closed_by": t.closed_by,
        "csat": t.csat,
        "intents": t.intents,
        "previous_tickets": d.previous_tickets.iter().map(|p| json!({
            "id": p.id,
            "subject": p.subject,
            "outcome": outcome(p),
            "csat": p.csat,
        })).collect::<Vec<_>>(),
        "transcript": d.transcript.iter().map(|l| json!({
            "from": l.author.as_str(),
            "author": l.author_name,
            "text": l.text,
            "at": rfc3339(l.at),
            "internal": l.author == Author::Note,
        })).collect::<Vec<_>>(),
    })
}
