//! Choices: buttons a message offers ("did you mean A or B?", quick replies, "Talk to a person",
//! the 1–5 rating). They travel as data so each channel renders them its own way (buttons on
//! Discord, Slack and the web chat), and each carries a `value`: text that, typed or posted as the
//! customer's message, does the same as pressing it. The message text still lists them, so a
//! channel without buttons loses nothing.

/// One button: what it says, and the message text that pressing it sends.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Choice {
    pub label: String,
    pub value: String,
}

impl Choice {
    pub fn new(label: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            value: value.into(),
        }
    }
}

/// The label and value of the button that hands the conversation to a person.
pub const TALK_TO_A_PERSON: &str = "Talk to a person";

/// The "Talk to a person" button.
pub fn talk_to_a_person() -> Choice {
    Choice::new(TALK_TO_A_PERSON, TALK_TO_A_PERSON)
}

/// True when the text is the "Talk to a person" button's value (pressed, or typed as is).
pub fn is_talk_to_a_person(text: &str) -> bool {
    text.trim()
        .trim_end_matches(['.', '!'])
        .eq_ignore_ascii_case(TALK_TO_A_PERSON)
}

/// The 1–5 rating buttons asked for when a ticket closes; their values are what
/// [`crate::core::policy::parse_rating`] reads.
pub fn rating() -> Vec<Choice> {
    (1..=5)
        .map(|n| Choice::new(n.to_string(), n.to_string()))
        .collect()
}

/// "A or B?" options: numbered values, as the question's text numbers them, then a person.
pub fn numbered(labels: &[String]) -> Vec<Choice> {
    let mut choices: Vec<Choice> = labels
        .iter()
        .enumerate()
        .map(|(i, label)| Choice::new(label.clone(), (i + 1).to_string()))
        .collect();
    choices.push(talk_to_a_person());
    choices
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_choices_pick_by_number_and_end_with_a_person() {
        let c = numbered(&["Order status".into(), "Returns".into()]);
        assert_eq!(c[0], Choice::new("Order status", "1"));
        assert_eq!(c[1].value, "2");
        assert_eq!(c[2].label, TALK_TO_A_PERSON);
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn the_person_button_is_recognised_typed_or_pressed() {
        assert!(is_talk_to_a_person("Talk to a person"));
        assert!(is_talk_to_a_person("  talk to a person! "));
        assert!(!is_talk_to_a_person("I don't want to talk to a person"));
    }

    #[test]
    fn rating_values_parse_as_ratings() {
        for c in rating() {
            assert!(crate::core::policy::parse_rating(&c.value).is_some());
        }
    }
}
