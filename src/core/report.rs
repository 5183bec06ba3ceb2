//! How the bot and the team did over a window of time: what the bot answered and what it did not
//! understand (the list admins turn into new intents), how fast people picked tickets up and
//! replied, and how customers rated the help. `frontline report` prints it.

use std::fmt;

use serde::Serialize;

use crate::clock::{rfc3339, Millis};
use crate::config::{Config, SupportHours};
use crate::core::decide::Outcome;
use crate::core::error::Result;
use crate::core::policy;
use crate::core::ticket::{Priority, Ticket, TicketStatus};
use crate::store::Store;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The window, RFC 3339: from (inclusive) to (exclusive).
    pub from: String,
    pub to: String,
    pub bot: BotFigures,
    pub tickets: TicketFigures,
    pub csat: CsatFigures,
    /// Messages the bot did not understand, most frequent first.
    pub not_understood: Vec<Question>,
    /// What the bot did, per UTC day of the window that had messages, oldest first.
    pub daily: Vec<DayFigures>,
    /// Inbound events that could not be handled after `[inbox] max_attempts` and were given up.
    pub dead_letters: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayFigures {
    /// "YYYY-MM-DD" (UTC).
    pub day: String,
    pub answered: i64,
    pub clarified: i64,
    pub not_understood: i64,
    pub handed_over: i64,
}

/// Tickets that missed their first-reply target, per priority.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Breaches {
    pub low: i64,
    pub normal: i64,
    pub high: i64,
    pub urgent: i64,
}

/// Customer messages the bot handled, by what it did with them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BotFigures {
    pub messages: i64,
    pub answered: i64,
    pub clarified: i64,
    pub not_understood: i64,
    pub handed_over: i64,
    /// answered / messages; `null` without messages.
    pub answer_rate: Option<f64>,
}

/// Tickets opened in the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketFigures {
    pub opened: i64,
    /// Still waiting for an agent now.
    pub waiting: i64,
    pub claimed: i64,
    /// Resolved or closed.
    pub resolved: i64,
    pub median_minutes_to_claim: Option<f64>,
    pub p90_minutes_to_claim: Option<f64>,
    pub median_minutes_to_first_reply: Option<f64>,
    /// The service target (`[queue] claim_target_minutes`); `null` without one.
    pub claim_target_minutes: Option<i64>,
    /// Claimed tickets that were claimed within the target.
    pub claimed_in_time: Option<f64>,
    /// Tickets still waiting that are past the target now.
    pub waiting_past_target: i64,
    /// Tickets that missed their first-reply target (`[sla] first_reply_minutes`).
    pub breaches: Breaches,
    pub by_reason: Vec<ReasonCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReasonCount {
    pub reason: String,
    pub tickets: i64,
}

/// Ratings (1–5) of the tickets opened in the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CsatFigures {
    pub ratings: i64,
    pub average: Option<f64>,
    /// How many ratings of 1, 2, 3, 4 and 5.
    pub distribution: [i64; 5],
    /// ratings / resolved tickets; `null` without resolved tickets.
    pub response_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Question {
    /// Lower-cased as customers wrote it.
    pub text: String,
    pub times: i64,
    pub last_at: String,
    /// The latest conversation it was asked in (`GET /api/conversations/{id}`).
    pub conversation_id: i64,
}

/// Longest window a report may cover, in days.
pub const MAX_DAYS: u32 = 3650;

/// The window of the last `days` days up to and including `now` (what was written in this very
/// millisecond counts too).
pub fn last_days(now: Millis, days: u32) -> (Millis, Millis) {
    let to = now + 1;
    (to - i64::from(days) * 86_400_000, to)
}

/// Reads the figures for `[from, to)`, with at most `top` not-understood questions. `config`
/// gives the claim target and the support hours it counts in.
pub async fn build(
    store: &dyn Store,
    config: &Config,
    from: Millis,
    to: Millis,
    top: usize,
) -> Result<Report> {
    let mut tx = store.read().await?;
    let counts = tx.outcome_counts(from, to).await?;
    let questions = tx.not_understood(from, to, top as i64).await?;
    let tickets = tx.tickets_opened(from, to).await?;
    let by_day = tx.outcomes_by_day(from, to).await?;
    let dead_letters = tx.inbox_dead_letters(from, to).await?;
    let count = |o: Outcome| {
        counts
            .iter()
            .filter(|(name, _)| name == o.as_str())
            .map(|(_, n)| n)
            .sum::<i64>()
    };
    let messages: i64 = Outcome::ALL.into_iter().map(count).sum();
    Ok(Report {
        from: rfc3339(from),
        to: rfc3339(to),
        bot: BotFigures {
            messages,
            answered: count(Outcome::Answered),
            clarified: count(Outcome::Clarified),
            not_understood: count(Outcome::NotUnderstood),
            handed_over: count(Outcome::HandedOver),
            answer_rate: ratio(count(Outcome::Answered), messages),
        },
        tickets: ticket_figures(&tickets, &ClaimTarget::new(config), to),
        csat: csat_figures(&tickets),
        not_understood: questions
            .into_iter()
            .map(|q| Question {
                text: q.text,
                times: q.times,
                last_at: rfc3339(q.last_at),
                conversation_id: q.conversation_id,
            })
            .collect(),
        daily: daily(&by_day),
        dead_letters,
    })
}

fn daily(rows: &[(i64, String, i64)]) -> Vec<DayFigures> {
    let mut days: Vec<DayFigures> = Vec::new();
    for (day, outcome, n) in rows {
        let label = chrono::DateTime::from_timestamp_millis(day * 86_400_000)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default();
        if days.last().is_none_or(|d| d.day != label) {
            days.push(DayFigures {
                day: label,
                answered: 0,
                clarified: 0,
                not_understood: 0,
                handed_over: 0,
            });
        }
        let Some(d) = days.last_mut() else { continue };
        match Outcome::ALL.into_iter().find(|o| o.as_str() == outcome) {
            Some(Outcome::Answered) => d.answered += n,
            Some(Outcome::Clarified) => d.clarified += n,
            Some(Outcome::NotUnderstood) => d.not_understood += n,
            Some(Outcome::HandedOver) => d.handed_over += n,
            None => {}
        }
    }
    days
}

/// The service target for claiming tickets.
struct ClaimTarget<'a> {
    hours: &'a SupportHours,
    minutes: i64,
}

impl<'a> ClaimTarget<'a> {
    fn new(config: &'a Config) -> Self {
        Self {
            hours: &config.support_hours,
            minutes: config.queue.claim_target_minutes,
        }
    }

    fn due(&self, ticket: &Ticket) -> Option<Millis> {
        policy::claim_due_at(ticket.created_at, self.hours, self.minutes)
    }
}

fn ticket_figures(tickets: &[Ticket], target: &ClaimTarget<'_>, now: Millis) -> TicketFigures {
    let minutes = |ms: Millis| ms as f64 / 60_000.0;
    let mut to_claim: Vec<f64> = tickets
        .iter()
        .filter_map(|t| t.claimed_at.map(|c| minutes(c - t.created_at)))
        .collect();
    let mut to_reply: Vec<f64> = tickets
        .iter()
        .filter_map(|t| t.first_reply_at.map(|r| minutes(r - t.created_at)))
        .collect();
    let mut by_reason: Vec<ReasonCount> = Vec::new();
    for t in tickets {
        match by_reason.iter_mut().find(|r| r.reason == t.reason) {
            Some(r) => r.tickets += 1,
            None => by_reason.push(ReasonCount {
                reason: t.reason.clone(),
                tickets: 1,
            }),
        }
    }
    by_reason.sort_by(|a, b| b.tickets.cmp(&a.tickets).then(a.reason.cmp(&b.reason)));
    let claimed: Vec<&Ticket> = tickets.iter().filter(|t| t.claimed_at.is_some()).collect();
    let in_time = claimed
        .iter()
        .filter(|t| target.due(t).is_some_and(|due| t.claimed_at <= Some(due)))
        .count() as i64;
    let waiting_past_target = tickets
        .iter()
        .filter(|t| t.status == TicketStatus::Open && target.due(t).is_some_and(|due| now > due))
        .count() as i64;
    let has_target = target.minutes > 0;
    TicketFigures {
        opened: tickets.len() as i64,
        waiting: tickets
            .iter()
            .filter(|t| t.status == TicketStatus::Open)
            .count() as i64,
        claimed: to_claim.len() as i64,
        resolved: tickets.iter().filter(|t| t.status.is_done()).count() as i64,
        median_minutes_to_claim: percentile(&mut to_claim, 0.5),
        p90_minutes_to_claim: percentile(&mut to_claim, 0.9),
        median_minutes_to_first_reply: percentile(&mut to_reply, 0.5),
        claim_target_minutes: has_target.then_some(target.minutes),
        claimed_in_time: if has_target {
            ratio(in_time, claimed.len() as i64)
        } else {
            None
        },
        waiting_past_target,
        breaches: breaches(tickets),
        by_reason,
    }
}

fn breaches(tickets: &[Ticket]) -> Breaches {
    let mut b = Breaches::default();
    for t in tickets.iter().filter(|t| t.breached_at.is_some()) {
        match t.priority {
            Priority::Low => b.low += 1,
            Priority::Normal => b.normal += 1,
            Priority::High => b.high += 1,
            Priority::Urgent => b.urgent += 1,
        }
    }
    b
}

fn csat_figures(tickets: &[Ticket]) -> CsatFigures {
    let mut distribution = [0i64; 5];
    for rating in tickets.iter().filter_map(|t| t.csat) {
        if let Some(slot) = usize::try_from(rating - 1)
            .ok()
            .and_then(|i| distribution.get_mut(i))
        {
            *slot += 1;
        }
    }
    let ratings: i64 = distribution.iter().sum();
    let total: i64 = distribution
        .iter()
        .zip(1..)
        .map(|(n, stars)| n * stars)
        .sum();
    let resolved = tickets.iter().filter(|t| t.status.is_done()).count() as i64;
    CsatFigures {
        ratings,
        average: (ratings > 0).then(|| total as f64 / ratings as f64),
        distribution,
        response_rate: ratio(ratings, resolved),
    }
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The nearest-rank percentile `q` (0..1) of `values`; `None` when there are none.
fn percentile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    Some(values[rank - 1])
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{:.1}%", r * 100.0));
        let mins = |m: Option<f64>| m.map_or("-".to_string(), |m| format!("{m:.1} min"));
        let b = &self.bot;
        writeln!(f, "frontline report, {} to {}", self.from, self.to)?;
        writeln!(f, "\nbot")?;
        writeln!(f, "  customer messages handled  {}", b.messages)?;
        writeln!(
            f,
            "  answered                   {} ({})",
            b.answered,
            pct(b.answer_rate)
        )?;
        writeln!(f, "  asked which was meant      {}", b.clarified)?;
        writeln!(f, "  not understood             {}", b.not_understood)?;
        writeln!(
            f,
            "  handed over                {} (asked for a person, needs a person, or frustrated)",
            b.handed_over
        )?;
        let t = &self.tickets;
        writeln!(f, "\ntickets")?;
        writeln!(
            f,
            "  opened {}, claimed {}, resolved {}, still waiting {}",
            t.opened, t.claimed, t.resolved, t.waiting
        )?;
        writeln!(
            f,
            "  time to claim: median {}, 90th percentile {}",
            mins(t.median_minutes_to_claim),
            mins(t.p90_minutes_to_claim)
        )?;
        writeln!(
            f,
            "  time to first reply: median {}",
            mins(t.median_minutes_to_first_reply)
        )?;
        if let Some(target) = t.claim_target_minutes {
            writeln!(
                f,
                "  claimed within the {target} min target: {}; waiting past it now: {}",
                pct(t.claimed_in_time),
                t.waiting_past_target
            )?;
        }
        let b = &t.breaches;
        writeln!(
            f,
            "  first-reply targets missed: urgent {}, high {}, normal {}, low {}",
            b.urgent, b.high, b.normal, b.low
        )?;
        for r in &t.by_reason {
            writeln!(f, "  {:>5}  {}", r.tickets, r.reason)?;
        }
        let c = &self.csat;
        writeln!(f, "\nratings")?;
        match c.average {
            Some(avg) => writeln!(
                f,
                "  {} rating(s), average {avg:.2} / 5, from {} of resolved tickets; 1 to 5 stars: {}",
                c.ratings,
                pct(c.response_rate),
                c.distribution.map(|n| n.to_string()).join(" ")
            )?,
            None => writeln!(f, "  no ratings yet")?,
        }
        if self.dead_letters > 0 {
            writeln!(
                f,
                "\ninbound messages given up after repeated failures: {}",
                self.dead_letters
            )?;
        }
        writeln!(f, "\nnot understood, most frequent first")?;
        if self.not_understood.is_empty() {
            writeln!(f, "  nothing")?;
        }
        for q in &self.not_understood {
            writeln!(f, "  {:>5}x  {}  (last {})", q.times, q.text, q.last_at)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(id: i64, status: TicketStatus, claim_min: Option<i64>, csat: Option<i32>) -> Ticket {
        Ticket {
            id,
            conversation_id: id,
            customer_id: id,
            channel: "web".into(),
            status,
            subject: String::new(),
            reason: if id % 2 == 0 { "even" } else { "odd" }.into(),
            intents: Vec::new(),
            assignee: None,
            created_at: 0,
            claimed_at: claim_min.map(|m| m * 60_000),
            first_reply_at: claim_min.map(|m| (m + 1) * 60_000),
            resolved_at: None,
            closed_at: None,
            csat,
            priority: Default::default(),
            tags: Vec::new(),
            breached_at: None,
            closed_by: None,
        }
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let mut v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&mut v, 0.5), Some(3.0));
        assert_eq!(percentile(&mut v, 0.9), Some(5.0));
        assert_eq!(percentile(&mut [], 0.5), None);
    }

    #[test]
    fn ticket_and_rating_figures() {
        let tickets = [
            ticket(1, TicketStatus::Open, None, None),
            ticket(2, TicketStatus::Assigned, Some(4), None),
            ticket(3, TicketStatus::Resolved, Some(10), Some(5)),
            ticket(4, TicketStatus::Closed, Some(2), Some(3)),
            ticket(5, TicketStatus::Closed, Some(6), None),
        ];
        let config = Config::default();
        let mut target = ClaimTarget::new(&config);
        target.minutes = 5;
        let t = ticket_figures(&tickets, &target, 60 * 60_000);
        assert_eq!((t.opened, t.waiting, t.claimed, t.resolved), (5, 1, 4, 3));
        assert_eq!(t.median_minutes_to_claim, Some(4.0));
        assert_eq!(t.p90_minutes_to_claim, Some(10.0));
        assert_eq!(t.median_minutes_to_first_reply, Some(5.0));
        assert_eq!(t.claim_target_minutes, Some(5));
        assert_eq!(
            t.claimed_in_time,
            Some(0.5),
            "claimed at 2 and 4 of 2, 4, 6, 10 minutes"
        );
        assert_eq!(t.waiting_past_target, 1);
        assert_eq!(t.by_reason[0].reason, "odd");
        assert_eq!(t.by_reason[0].tickets, 3);

        let c = csat_figures(&tickets);
        assert_eq!(c.ratings, 2);
        assert_eq!(c.average, Some(4.0));
        assert_eq!(c.distribution, [0, 0, 1, 0, 1]);
        assert_eq!(c.response_rate, Some(2.0 / 3.0));
    }
}
