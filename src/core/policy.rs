//! Small customer-care rules, kept apart from the engine so each is tested on its own: spotting
//! frustration, reading a rating or a menu choice, support hours, and how long a wait will be.

use chrono::{Datelike, Duration, TimeZone, Timelike};

use crate::clock::Millis;
use crate::config::SupportHours;

/// Words that, on their own, show a customer is upset with us.
const ANGRY_WORDS: &[&str] = &[
    "useless",
    "ridiculous",
    "terrible",
    "awful",
    "worst",
    "scam",
    "furious",
    "unacceptable",
    "stupid",
    "pathetic",
    "angry",
    "fed up",
    "wtf",
    "rubbish",
    "disgusting",
    "waste of time",
];

/// True when a message shows frustration: angry words, mostly capitals, or a repeat of one of the
/// customer's previous messages.
pub fn looks_frustrated(text: &str, previous_customer_texts: &[String]) -> bool {
    frustration_signal(text, previous_customer_texts).is_some()
}

/// Which sign of frustration a message shows, as agents read it on the ticket: an angry word
/// (named), writing in capitals, or repeating an earlier message.
pub fn frustration_signal(text: &str, previous_customer_texts: &[String]) -> Option<String> {
    let lower = text.to_lowercase();
    if let Some(word) = ANGRY_WORDS.iter().find(|w| contains_word(&lower, w)) {
        return Some(format!("angry words (\"{word}\")"));
    }
    let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
    if letters.len() >= 10 {
        let upper = letters.iter().filter(|c| c.is_uppercase()).count();
        if upper * 10 >= letters.len() * 8 {
            return Some("writing in capitals".into());
        }
    }
    let norm = normalize(text);
    let repeated = !norm.is_empty()
        && norm.len() > 3
        && previous_customer_texts.iter().any(|p| normalize(p) == norm);
    repeated.then(|| "repeated an earlier message".into())
}

fn contains_word(haystack: &str, word: &str) -> bool {
    haystack.match_indices(word).any(|(i, _)| {
        let before = haystack[..i].chars().next_back();
        let after = haystack[i + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

fn normalize(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// A rating such as "4", "5/5", "3 stars!" or one set apart from a comment ("5 - quick and
/// friendly", "4, thanks"). A number that runs into words ("2 items are missing") is a message,
/// not a rating.
pub fn parse_rating(text: &str) -> Option<i32> {
    let t = text.trim().to_lowercase();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let n: i32 = t[..digits].parse().ok().filter(|n| (1..=5).contains(n))?;
    let rest = t[digits..].trim_start();
    let after_scale = ["/5", "out of 5", "stars", "star"]
        .iter()
        .find_map(|unit| rest.strip_prefix(unit));
    let rest = after_scale.unwrap_or(rest).trim_start();
    let set_apart = rest.is_empty()
        || rest.starts_with(['.', '!', ',', '-', '\u{2013}', '\u{2014}', ':', ';', '(']);
    (after_scale.is_some() || set_apart).then_some(n)
}

/// Words that, with nothing else, only acknowledge ("ok", "great, got it", "all good thanks").
const ACKNOWLEDGEMENT_WORDS: &[&str] = &[
    "ok",
    "okay",
    "okey",
    "k",
    "kk",
    "alright",
    "all",
    "right",
    "good",
    "great",
    "cool",
    "fine",
    "perfect",
    "nice",
    "awesome",
    "super",
    "sure",
    "got",
    "it",
    "understood",
    "thanks",
    "thank",
    "you",
    "thx",
    "ty",
    "cheers",
    "thats",
    "that",
    "is",
    "s",
    "everything",
    "i",
    "needed",
    "bye",
    "goodbye",
];

/// True for a short message that only acknowledges, or carries no words at all (an emoji):
/// after a ticket is closed it must not reopen it.
pub fn is_acknowledgement(text: &str) -> bool {
    let norm = normalize(&text.replace(['\'', '\u{2019}'], ""));
    let words: Vec<&str> = norm.split_whitespace().collect();
    words.len() <= 6 && words.iter().all(|w| ACKNOWLEDGEMENT_WORDS.contains(w))
}

/// When a ticket opened at `created_at` should be claimed by: `target_minutes` after it was
/// opened, or after the team is back if it came in outside support hours. `None` without a
/// target.
pub fn claim_due_at(
    created_at: Millis,
    hours: &SupportHours,
    target_minutes: i64,
) -> Option<Millis> {
    (target_minutes > 0)
        .then(|| hours.next_opening(created_at).unwrap_or(created_at) + target_minutes * 60_000)
}

/// Which of the offered options a reply picks: its number ("2", "2)", "#2") or its label, matched
/// without case. `options` are (id, label) pairs.
pub fn pick_option(reply: &str, options: &[(String, String)]) -> Option<usize> {
    let t = reply
        .trim()
        .trim_start_matches('#')
        .trim_end_matches([')', '.', '!'])
        .trim()
        .to_lowercase();
    if let Ok(n) = t.parse::<usize>() {
        return (1..=options.len()).contains(&n).then(|| n - 1);
    }
    options.iter().position(|(id, label)| {
        t == label.to_lowercase()
            || t == id.to_lowercase()
            || t == id.replace('_', " ").to_lowercase()
    })
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

impl SupportHours {
    /// Checks the configured days and times; the message names the bad value.
    pub fn validate(&self) -> Result<(), String> {
        for d in &self.days {
            if !DAYS.contains(&d.to_lowercase().as_str()) {
                return Err(format!(
                    "support_hours.days: '{d}' is not one of mon, tue, wed, thu, fri, sat, sun"
                ));
            }
        }
        let open = parse_hhmm(&self.open)
            .ok_or_else(|| format!("support_hours.open: '{}' is not HH:MM", self.open))?;
        let close = parse_hhmm(&self.close)
            .ok_or_else(|| format!("support_hours.close: '{}' is not HH:MM", self.close))?;
        if open >= close {
            return Err("support_hours: open must be before close".into());
        }
        for h in &self.holidays {
            if chrono::NaiveDate::parse_from_str(h.trim(), "%Y-%m-%d").is_err() {
                return Err(format!(
                    "support_hours.holidays: '{h}' is not a date like 2026-12-25"
                ));
            }
        }
        Ok(())
    }

    fn offset(&self) -> chrono::FixedOffset {
        chrono::FixedOffset::east_opt(self.utc_offset_minutes * 60)
            .unwrap_or(chrono::FixedOffset::east_opt(0).unwrap())
    }

    fn is_workday(&self, weekday: chrono::Weekday) -> bool {
        let name = DAYS[weekday.num_days_from_monday() as usize];
        self.days.iter().any(|d| d.eq_ignore_ascii_case(name))
    }

    /// Whether the team works on this local date: a working weekday that is not a holiday.
    fn works_on(&self, date: chrono::NaiveDate) -> bool {
        self.is_workday(date.weekday()) && !self.is_holiday(date)
    }

    fn is_holiday(&self, date: chrono::NaiveDate) -> bool {
        let text = date.format("%Y-%m-%d").to_string();
        self.holidays.iter().any(|h| h.trim() == text)
    }

    /// When agents are next at work, or `None` if they are now (or hours are not limited).
    pub fn next_opening(&self, now: Millis) -> Option<Millis> {
        if self.days.is_empty() {
            return None;
        }
        let (open, close) = (parse_hhmm(&self.open)?, parse_hhmm(&self.close)?);
        let local = self.offset().timestamp_millis_opt(now).single()?;
        let minute = local.hour() * 60 + local.minute();
        if self.works_on(local.date_naive()) && minute >= open && minute < close {
            return None;
        }
        let midnight = local.date_naive().and_hms_opt(0, 0, 0)?;
        // A year and a bit: enough for any run of holidays someone could configure.
        for day in 0..400 {
            let date = midnight + Duration::days(day);
            let opening = date + Duration::minutes(open as i64);
            if self.works_on(opening.date()) && (day > 0 || minute < open) {
                return Some(
                    self.offset()
                        .from_local_datetime(&opening)
                        .single()?
                        .timestamp_millis(),
                );
            }
        }
        None
    }

    /// The moment `duration_ms` of support hours have passed since `start`: time outside support
    /// hours (nights, weekends, holidays) does not count. Without limited hours, plain time.
    pub fn add_support_time(&self, start: Millis, duration_ms: Millis) -> Millis {
        let Some(close) = parse_hhmm(&self.close).filter(|_| !self.days.is_empty()) else {
            return start + duration_ms;
        };
        let mut at = start;
        let mut left = duration_ms.max(0);
        // Each turn uses up one working day; the bound only guards against a bad config.
        for _ in 0..2000 {
            if let Some(opening) = self.next_opening(at) {
                at = opening;
            }
            let Some(local) = self.offset().timestamp_millis_opt(at).single() else {
                break;
            };
            let closing = local
                .date_naive()
                .and_hms_opt(0, 0, 0)
                .map(|d| d + Duration::minutes(close as i64));
            let Some(closing) = closing
                .and_then(|c| self.offset().from_local_datetime(&c).single())
                .map(|c| c.timestamp_millis())
            else {
                break;
            };
            let today = closing - at;
            if left <= today {
                return at + left;
            }
            left -= today;
            at = closing;
        }
        at + left
    }

    /// "Mon–Fri 09:00–17:00 (UTC+01:00)"-style text for customers.
    pub fn describe(&self) -> String {
        if self.days.is_empty() {
            return "around the clock".into();
        }
        let days: Vec<&str> = self.days.iter().map(|d| d.as_str()).collect();
        format!(
            "{} {}–{} ({})",
            days.join(", "),
            self.open,
            self.close,
            utc_label(self.utc_offset_minutes)
        )
    }

    /// A moment in the team's local time, e.g. "Mon 09:00 (UTC+01:00)".
    pub fn local_label(&self, at: Millis) -> String {
        match self.offset().timestamp_millis_opt(at).single() {
            Some(t) => format!(
                "{} ({})",
                t.format("%a %H:%M"),
                utc_label(self.utc_offset_minutes)
            ),
            None => String::new(),
        }
    }
}

fn utc_label(offset_minutes: i32) -> String {
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let m = offset_minutes.abs();
    format!("UTC{sign}{:02}:{:02}", m / 60, m % 60)
}

/// The expected wait for the ticket at `position` in the queue: the median of recent waits from
/// opening to claim for the first place, growing with the place; `default_ms` before any claim.
pub fn expected_wait(position: i64, recent_waits: &[Millis], default_ms: Millis) -> Millis {
    let base = if recent_waits.is_empty() {
        default_ms
    } else {
        let mut sorted = recent_waits.to_vec();
        sorted.sort_unstable();
        sorted[sorted.len() / 2]
    };
    base.max(0) * position.max(1)
}

/// "under a minute", "about 5 minutes", "about 2 hours".
pub fn describe_wait(ms: Millis) -> String {
    let minutes = (ms + 30_000) / 60_000;
    match minutes {
        0 => "under a minute".into(),
        1 => "about a minute".into(),
        m if m < 90 => format!("about {m} minutes"),
        m => format!("about {} hours", (m + 30) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frustration_from_words_capitals_and_repeats() {
        assert!(looks_frustrated("this is useless", &[]));
        assert!(
            !looks_frustrated("is this usable?", &[]),
            "'usable' is not 'useless'"
        );
        assert!(looks_frustrated("WHERE IS MY PARCEL ALREADY", &[]));
        assert!(!looks_frustrated("Where is my DHL parcel", &[]));
        assert!(looks_frustrated(
            "where is my order??",
            &["Where is my order".to_string()]
        ));
        assert!(!looks_frustrated(
            "where is my order",
            &["where is my refund".to_string()]
        ));
    }

    #[test]
    fn the_frustration_signal_says_what_fired() {
        assert_eq!(
            frustration_signal("this is useless", &[]).as_deref(),
            Some("angry words (\"useless\")")
        );
        assert_eq!(
            frustration_signal("WHERE IS MY PARCEL", &[]).as_deref(),
            Some("writing in capitals")
        );
        assert_eq!(
            frustration_signal("where is my parcel", &["Where is my parcel?".into()]).as_deref(),
            Some("repeated an earlier message")
        );
        assert_eq!(frustration_signal("where is my parcel", &[]), None);
    }

    #[test]
    fn ratings_are_numbers_from_one_to_five_alone_or_set_apart() {
        assert_eq!(parse_rating(" 5 "), Some(5));
        assert_eq!(parse_rating("4/5"), Some(4));
        assert_eq!(parse_rating("3 stars!"), Some(3));
        assert_eq!(parse_rating("6"), None);
        assert_eq!(parse_rating("order 5"), None);
        assert_eq!(parse_rating("5 - quick and friendly"), Some(5));
        assert_eq!(parse_rating("4, thanks"), Some(4));
        assert_eq!(parse_rating("2 out of 5 it took long"), Some(2));
        assert_eq!(parse_rating("2 items are still missing"), None);
        assert_eq!(parse_rating("15"), None);
        assert_eq!(parse_rating("5th of May"), None);
    }

    #[test]
    fn acknowledgements_are_short_and_say_nothing_new() {
        for ack in [
            "ok",
            "Okay, great!",
            "got it, thanks",
            "That's all I needed",
            "👍",
            "all good",
        ] {
            assert!(is_acknowledgement(ack), "{ack}");
        }
        for message in [
            "ok but it is still broken",
            "not good",
            "no",
            "where is my order",
        ] {
            assert!(!is_acknowledgement(message), "{message}");
        }
    }

    #[test]
    fn options_are_picked_by_number_or_name() {
        let opts = vec![
            ("order_status".to_string(), "Track an order".to_string()),
            ("shipping_costs".to_string(), "Shipping costs".to_string()),
        ];
        assert_eq!(pick_option("2", &opts), Some(1));
        assert_eq!(pick_option("#1)", &opts), Some(0));
        assert_eq!(pick_option("shipping COSTS", &opts), Some(1));
        assert_eq!(pick_option("3", &opts), None);
        assert_eq!(pick_option("something else", &opts), None);
    }

    fn weekdays_9_to_5(offset: i32) -> SupportHours {
        SupportHours {
            utc_offset_minutes: offset,
            days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
            open: "09:00".into(),
            close: "17:00".into(),
            holidays: Vec::new(),
        }
    }

    fn at(s: &str) -> Millis {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn support_hours_know_when_the_team_is_back() {
        let hours = weekdays_9_to_5(60);
        hours.validate().unwrap();
        // Tuesday 10:00 local (09:00 UTC): open.
        assert_eq!(hours.next_opening(at("2026-11-24T09:00:00Z")), None);
        // Tuesday 18:00 local: back Wednesday 09:00 local = 08:00 UTC.
        assert_eq!(
            hours.next_opening(at("2026-11-24T17:00:00Z")),
            Some(at("2026-11-25T08:00:00Z"))
        );
        // Friday 20:00 local: back Monday.
        assert_eq!(
            hours.next_opening(at("2026-11-27T19:00:00Z")),
            Some(at("2026-11-30T08:00:00Z"))
        );
        // Tuesday 07:00 local: back the same day.
        assert_eq!(
            hours.next_opening(at("2026-11-24T06:00:00Z")),
            Some(at("2026-11-24T08:00:00Z"))
        );
        assert_eq!(
            hours.local_label(at("2026-11-30T08:00:00Z")),
            "Mon 09:00 (UTC+01:00)"
        );
        assert_eq!(
            SupportHours::default().next_opening(0),
            None,
            "no days configured: always staffed"
        );
    }

    #[test]
    fn claim_targets_count_from_when_the_team_is_at_work() {
        let hours = weekdays_9_to_5(60);
        let minutes = |m: i64| m * 60_000;
        // Opened Tuesday 10:00 local: due 15 minutes later.
        assert_eq!(
            claim_due_at(at("2026-11-24T09:00:00Z"), &hours, 15),
            Some(at("2026-11-24T09:00:00Z") + minutes(15))
        );
        // Opened Friday night: due 15 minutes after Monday's opening.
        assert_eq!(
            claim_due_at(at("2026-11-27T19:00:00Z"), &hours, 15),
            Some(at("2026-11-30T08:00:00Z") + minutes(15))
        );
        assert_eq!(claim_due_at(at("2026-11-24T09:00:00Z"), &hours, 0), None);
    }

    #[test]
    fn support_time_skips_a_weekend_and_a_holiday() {
        let mut hours = weekdays_9_to_5(60);
        hours.holidays = vec!["2026-11-30".into()];
        hours.validate().unwrap();
        let minutes = |m: i64| m * 60_000;
        // Tuesday 10:00 local plus an hour: 11:00 the same day.
        assert_eq!(
            hours.add_support_time(at("2026-11-24T09:00:00Z"), minutes(60)),
            at("2026-11-24T10:00:00Z")
        );
        // Friday 16:30 local plus an hour: 30 minutes on Friday; Saturday, Sunday and the
        // Monday holiday don't count; 30 minutes on Tuesday: 09:30 local = 08:30 UTC.
        assert_eq!(
            hours.add_support_time(at("2026-11-27T15:30:00Z"), minutes(60)),
            at("2026-12-01T08:30:00Z")
        );
        // Opened on the holiday itself: the clock starts on Tuesday.
        assert_eq!(
            hours.add_support_time(at("2026-11-30T10:00:00Z"), minutes(15)),
            at("2026-12-01T08:15:00Z")
        );
        assert_eq!(
            hours.next_opening(at("2026-11-30T10:00:00Z")),
            Some(at("2026-12-01T08:00:00Z")),
            "nobody works on a holiday"
        );
        // Always staffed: plain time.
        assert_eq!(SupportHours::default().add_support_time(5, 10), 15);
        hours.holidays = vec!["30/11/2026".into()];
        assert!(hours.validate().unwrap_err().contains("30/11/2026"));
    }

    #[test]
    fn bad_support_hours_are_named() {
        let mut hours = weekdays_9_to_5(0);
        hours.days.push("funday".into());
        assert!(hours.validate().unwrap_err().contains("funday"));
        let mut hours = weekdays_9_to_5(0);
        hours.close = "8:00".into();
        assert!(hours
            .validate()
            .unwrap_err()
            .contains("open must be before close"));
    }

    #[test]
    fn waits_follow_recent_claims_and_queue_place() {
        assert_eq!(expected_wait(1, &[], 600_000), 600_000);
        assert_eq!(expected_wait(1, &[60_000, 120_000, 9_000_000], 0), 120_000);
        assert_eq!(expected_wait(3, &[60_000], 0), 180_000);
        assert_eq!(describe_wait(20_000), "under a minute");
        assert_eq!(describe_wait(5 * 60_000), "about 5 minutes");
        assert_eq!(describe_wait(150 * 60_000), "about 3 hours");
    }
}
