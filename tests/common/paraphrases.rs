//! Paraphrases of tests/fixtures/semantic/intents that share no word with any of its examples
//! (tests/semantic.rs checks that they share none): what n-grams alone cannot match.

pub const PARAPHRASES: &[(&str, &str)] = &[
    ("the plastic you mailed hasn't shown up", "card_not_arrived"),
    (
        "cannot remember the secret code to sign into the app",
        "forgot_password",
    ),
    (
        "I'd like to discontinue the recurring payments for good",
        "cancel_subscription",
    ),
    (
        "until when can I drop by the branch on weekdays",
        "opening_hours",
    ),
    ("we relocated to another city last month", "change_address"),
    ("reimburse me for the broken blender", "refund"),
];
