//! Redaction of personal data in customers' text: payment card numbers, e-mail addresses and
//! phone numbers are replaced before a line is stored, logged or put on a ticket card.
//!
//! Card numbers are recognised by shape (13-19 digits, optionally grouped with single spaces or
//! dashes) *and* the Luhn check, so an order number of the same length is left alone in nine
//! cases out of ten; phone numbers need a leading `+` or separators between digit groups, so a
//! bare run of digits (an order or tracking number) is never taken for one.

use std::borrow::Cow;

use regex::{Captures, Regex};

use crate::config::RedactKind;

/// Replaces the configured kinds of personal data; built once from `[privacy] redact`.
#[derive(Debug, Clone)]
pub struct Redactor {
    card: Option<Regex>,
    email: Option<Regex>,
    phone: Option<Regex>,
}

impl Redactor {
    pub fn new(kinds: &[RedactKind]) -> Self {
        let on = |k: RedactKind| kinds.contains(&k);
        Self {
            // Digits with at most one space or dash between them (after a "+" it is a phone); the
            // count and Luhn are checked
            // in code. Not preceded or followed by a digit, a letter or a separator + digit.
            card: on(RedactKind::Card).then(|| {
                Regex::new(r"(?:^|[^0-9A-Za-z+])(\d(?:[ -]?\d){12,18})(?:$|[^0-9A-Za-z])")
                    .expect("card pattern")
            }),
            email: on(RedactKind::Email).then(|| {
                Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
                    .expect("email pattern")
            }),
            // "+44 20 7946 0958", "+4915112345678", "(020) 7946-0958", "020 7946 0958",
            // "555-123-4567": a leading + or at least two separated groups.
            phone: on(RedactKind::Phone).then(|| {
                Regex::new(
                    r"(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d[\d .-]{5,}\d|(?:\(\d{2,5}\)[ .-]?|\b\d{2,5}[ .-])\d{2,5}[ .-]\d{2,5}(?:[ .-]\d{2,5})?)\b",
                )
                .expect("phone pattern")
            }),
        }
    }

    /// Whether anything is redacted at all.
    pub fn is_active(&self) -> bool {
        self.card.is_some() || self.email.is_some() || self.phone.is_some()
    }

    /// `text` with every configured kind replaced; borrowed when nothing matched.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        // Cards first: their replacement keeps four digits, too few to look like a phone.
        if let Some(re) = &self.card {
            out = replace_cards(re, out);
        }
        if let Some(re) = &self.email {
            out = replace_all(re, out, |_| "[email]".to_string());
        }
        if let Some(re) = &self.phone {
            out = replace_all(re, out, |m| {
                // Without a country code, fewer than 9 digits is more likely a date or a
                // reference ("2026-11-24") than a phone number.
                let digits = m.chars().filter(char::is_ascii_digit).count();
                let min = if m.starts_with('+') { 7 } else { 9 };
                if (min..=15).contains(&digits) {
                    "[phone]".to_string()
                } else {
                    m.to_string()
                }
            });
        }
        out
    }
}

fn replace_all<'a>(re: &Regex, text: Cow<'a, str>, with: impl Fn(&str) -> String) -> Cow<'a, str> {
    if !re.is_match(&text) {
        return text;
    }
    Cow::Owned(
        re.replace_all(&text, |c: &Captures| with(&c[0]))
            .into_owned(),
    )
}

/// The card pattern also eats one character either side (the regex crate has no look-around),
/// so neighbouring numbers are found by searching again from the end of each candidate number.
fn replace_cards<'a>(re: &Regex, text: Cow<'a, str>) -> Cow<'a, str> {
    let mut out = String::new();
    let mut last = 0;
    let mut at = 0;
    while let Some(c) = re.captures_at(&text, at) {
        let m = c.get(1).expect("group 1");
        let digits: Vec<u32> = m
            .as_str()
            .chars()
            .filter_map(|ch| ch.to_digit(10))
            .collect();
        if (13..=19).contains(&digits.len()) && luhn(&digits) && consistent_groups(m.as_str()) {
            out.push_str(&text[last..m.start()]);
            let tail: String = digits[digits.len() - 4..]
                .iter()
                .map(|d| char::from_digit(*d, 10).unwrap_or('0'))
                .collect();
            out.push_str(&format!("[card ending {tail}]"));
            last = m.end();
        }
        at = m.end();
    }
    if last == 0 {
        return text;
    }
    out.push_str(&text[last..]);
    Cow::Owned(out)
}

/// One kind of separator only: "4111 1111-1111 1111" is not how anyone writes a card.
fn consistent_groups(number: &str) -> bool {
    !(number.contains(' ') && number.contains('-'))
}

/// The Luhn checksum every payment card number satisfies.
pub fn luhn(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 {
                    d2 - 9
                } else {
                    d2
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Redactor {
        Redactor::new(&[RedactKind::Card, RedactKind::Email, RedactKind::Phone])
    }

    #[test]
    fn luhn_valid_cards_are_replaced_with_spaces_dashes_or_none() {
        let r = Redactor::new(&[RedactKind::Card]);
        assert_eq!(
            r.redact("my card is 4111 1111 1111 1111, help"),
            "my card is [card ending 1111], help"
        );
        assert_eq!(r.redact("4111-1111-1111-1111"), "[card ending 1111]");
        assert_eq!(r.redact("5500005555555559."), "[card ending 5559].");
        // Amex, 15 digits in 4-6-5 groups.
        assert_eq!(
            r.redact("amex 3782 822463 10005"),
            "amex [card ending 0005]"
        );
        // Two cards in one line.
        assert_eq!(
            r.redact("4111111111111111 or 5500 0055 5555 5559"),
            "[card ending 1111] or [card ending 5559]"
        );
    }

    #[test]
    fn order_numbers_and_other_digits_are_kept() {
        let r = Redactor::new(&[RedactKind::Card]);
        // Same shape as a card, but fails Luhn.
        for text in [
            "order 4111 1111 1111 1112 is late",
            "order #1234567890123",
            "tracking 1Z999AA10123456784",
            "call 12345",
            "4111 1111-1111 1111",
        ] {
            assert_eq!(r.redact(text), text, "{text}");
        }
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn emails_and_phones_only_when_configured() {
        let cards_only = Redactor::new(&[RedactKind::Card]);
        let text = "write to dana.smith+shop@example.co.uk or call +44 20 7946 0958";
        assert_eq!(cards_only.redact(text), text);
        assert_eq!(all().redact(text), "write to [email] or call [phone]");
        assert_eq!(
            all().redact("ring (020) 7946-0958 today"),
            "ring [phone] today"
        );
        assert_eq!(all().redact("555-123-4567"), "[phone]");
        assert_eq!(all().redact("+4915112345678"), "[phone]");
        // Order numbers, dates and prices stay.
        for text in [
            "order 12345678 please",
            "on 2026-11-24",
            "costs 19.99",
            "ref 4521",
        ] {
            assert_eq!(all().redact(text), text, "{text}");
        }
    }

    #[test]
    fn a_card_is_not_reread_as_a_phone() {
        assert_eq!(
            all().redact("card 4111 1111 1111 1111 exp 12/29"),
            "card [card ending 1111] exp 12/29"
        );
    }
}
