use super::decide::top_k;
use super::rows::{feature_config, MIN_NEGATIVES};
use super::*;
use crate::core::matcher::Verdict;
use crate::intents::check::Negative;
use crate::intents::file::{IntentDef, Located};
use std::path::PathBuf;

pub(crate) fn intent(id: &str, examples: &[&str]) -> IntentDef {
    IntentDef {
        id: id.into(),
        file: PathBuf::from("t.toml"),
        line: 1,
        description: None,
        examples: examples
            .iter()
            .map(|e| Located {
                value: e.to_string(),
                line: 1,
            })
            .collect(),
        patterns: vec![],
        answers: vec![Located {
            value: format!("answer for {id}"),
            line: 1,
        }],
        quick_replies: vec![],
        escalate: false,
        category: None,
        threshold: None,
    }
}

fn shop() -> IntentSet {
    let mut set = IntentSet {
        intents: vec![
            intent(
                "order_status",
                &[
                    "where is my order",
                    "has my parcel shipped yet",
                    "track my package",
                    "when will my order arrive",
                    "my order has not arrived",
                    "where is my parcel",
                    "status of my order",
                    "is my package on the way",
                ],
            ),
            intent(
                "refund",
                &[
                    "i want a refund",
                    "give me my money back",
                    "how do i get refunded",
                    "refund my purchase",
                    "can i return this for a refund",
                    "i want to return an item",
                    "money back please",
                    "how long do refunds take",
                ],
            ),
            intent(
                "opening_hours",
                &[
                    "when are you open",
                    "what are your opening hours",
                    "are you open on sunday",
                    "what time do you close",
                    "business hours",
                    "when does the shop open",
                    "are you open today",
                    "opening times",
                ],
            ),
            intent(
                "password_reset",
                &[
                    "i forgot my password",
                    "reset my password",
                    "cannot log in",
                    "how do i change my password",
                    "locked out of my account",
                    "password not working",
                    "login problem",
                    "new password please",
                ],
            ),
        ],
        out_of_scope: [
            "what is the weather like",
            "tell me a joke",
            "who won the football game",
            "what is the capital of france",
            "play some music",
            "how tall is mount everest",
            "recommend a movie",
            "what is two plus two",
        ]
        .iter()
        .map(|t| Negative {
            text: t.to_string(),
            file: "t.toml".into(),
            line: 1,
        })
        .collect(),
    };
    set.intents[3].patterns.push(Located {
        value: r"(?i)\b2fa\b".into(),
        line: 1,
    });
    set
}

fn settings() -> MatcherSettings {
    MatcherSettings {
        epochs: 30,
        ..Default::default()
    }
}

#[test]
fn known_questions_map_to_their_intent() {
    let m = TrainedMatcher::train(&shop(), &settings());
    let c = m.classify("Where is my order??");
    assert_eq!(
        c.verdict,
        Verdict::Answer {
            intent: "order_status".into()
        },
        "{c:?}"
    );
    assert!(c.candidates[0].score > c.candidates[1].score);
    let c = m.classify("I FORGOT my password");
    assert_eq!(
        c.verdict,
        Verdict::Answer {
            intent: "password_reset".into()
        },
        "{c:?}"
    );
    assert_eq!(
        m.intent("refund").unwrap().answers,
        vec!["answer for refund".to_string()]
    );
    assert!(m.intent("nope").is_none());
}

#[test]
fn nonsense_and_empty_text_are_not_answered() {
    let m = TrainedMatcher::train(&shop(), &settings());
    for text in [
        "qwxz vbnm plok",
        "",
        "?!?",
        "purple elephants dance quantum",
    ] {
        let c = m.classify(text);
        assert!(
            !matches!(c.verdict, Verdict::Answer { .. }),
            "{text}: {c:?}"
        );
    }
}

#[test]
fn patterns_are_sure_hits() {
    let m = TrainedMatcher::train(&shop(), &settings());
    let c = m.classify("my 2FA code never comes");
    assert_eq!(
        c.verdict,
        Verdict::Answer {
            intent: "password_reset".into()
        }
    );
    assert_eq!(c.candidates[0].score, 1.0);
}

#[test]
fn per_intent_threshold_override_applies() {
    let mut set = shop();
    set.intents[0].threshold = Some(Located {
        value: 1.0,
        line: 1,
    });
    let m = TrainedMatcher::train(&set, &settings());
    assert!(!matches!(
        m.classify("where is my order").verdict,
        Verdict::Answer { .. }
    ));
}

#[test]
fn without_negatives_calibration_still_guards_against_unseen_questions() {
    let mut set = shop();
    set.out_of_scope.clear();
    let m = TrainedMatcher::train(&set, &settings());
    assert!(m.stats().raw_threshold > 0.3, "{:?}", m.stats());
    let c = m.classify("where is my order");
    assert_eq!(
        c.verdict,
        Verdict::Answer {
            intent: "order_status".into()
        },
        "{c:?}"
    );
    assert!(!matches!(
        m.classify("qwxz vbnm plok").verdict,
        Verdict::Answer { .. }
    ));
}

#[test]
fn two_indistinguishable_intents_lead_to_a_clarifying_question() {
    let mut set = shop();
    // Twins: the same examples and the same description (which trains as an example too).
    set.intents[1].description = Some("Refund".into());
    let mut twin = set.intents[1].clone();
    twin.id = "refund_twin".into();
    set.intents.push(twin);
    // Answering either twin is right half the time at best, so a precision above one half
    // is unreachable: ask for less so answers are possible. SGD never splits twins exactly
    // evenly, so allow a wide margin. How unevenly depends on the shuffle (with other seeds
    // one twin can take most of the probability, with or without descriptions): this
    // checks the decision rule on a seed and averaging that split them closely.
    let tuned = MatcherSettings {
        target_precision: 0.45,
        ambiguity_margin: 0.4,
        average_weights: true,
        ..settings()
    };
    let m = TrainedMatcher::train(&set, &tuned);
    let c = m.classify("i want a refund");
    match &c.verdict {
        Verdict::Clarify { intents } => {
            let mut got = intents.clone();
            got.sort();
            assert_eq!(got, ["refund", "refund_twin"]);
        }
        other => panic!(
            "expected a clarifying question, got {other:?} ({c:?}) {:?}",
            m.stats()
        ),
    }
}

#[test]
fn the_description_teaches_words_the_examples_lack() {
    let mut set = shop();
    let mut cancel = intent(
        "cancel_subscription",
        &[
            "stop my plan",
            "end the membership",
            "i want to quit the plan",
            "no more monthly charges please",
            "how do i leave the programme",
            "terminate my plan",
            "i do not want the membership anymore",
            "quit paying every month",
        ],
    );
    cancel.description = Some("Cancel a subscription".into());
    set.intents.push(cancel);
    let top = |m: &TrainedMatcher| {
        m.classify("cancel subscription").candidates[0]
            .intent
            .clone()
    };
    // N-grams only: the word vectors alone already tie "cancel" to "quit" and "terminate".
    let ngrams = MatcherSettings {
        word_vector_weight: 0.0,
        ..settings()
    };
    let m = TrainedMatcher::train(&set, &ngrams);
    assert_eq!(top(&m), "cancel_subscription");
    // Descriptions train but are not counted as examples.
    assert_eq!(m.stats().examples, 5 * 8 + 8);
    let without = MatcherSettings {
        description_as_example: false,
        ..ngrams
    };
    let m = TrainedMatcher::train(&set, &without);
    assert_ne!(top(&m), "cancel_subscription");
}

#[test]
fn an_intent_with_patterns_only_is_not_learned_from_its_id() {
    let mut set = shop();
    let mut gift = intent("gift_cards", &[]);
    gift.patterns.push(Located {
        value: r"(?i)\bvoucher\b".into(),
        line: 1,
    });
    set.intents.push(gift);
    let m = TrainedMatcher::train(&set, &settings());
    assert_ne!(
        m.classify("gift cards").verdict,
        Verdict::Answer {
            intent: "gift_cards".into()
        }
    );
    assert_eq!(
        m.classify("my voucher").verdict,
        Verdict::Answer {
            intent: "gift_cards".into()
        }
    );
}

#[test]
fn stems_and_the_fold_are_lexical_mode_only() {
    let s = MatcherSettings::default();
    assert!(feature_config(&s).word_stems);
    for mode in [Mode::Semantic, Mode::Ensemble] {
        let s = MatcherSettings {
            mode,
            ..Default::default()
        };
        assert!(!feature_config(&s).word_stems, "{mode:?}");
    }
}

#[test]
fn top_k_keeps_the_best_in_order() {
    let mut top = [(0, 0.0); 20];
    let n = top_k(&[0.1, 0.5, 0.2, 0.9, 0.3], 3, &mut top);
    assert_eq!(&top[..n], &[(3, 0.9), (1, 0.5), (4, 0.3)]);
}

#[test]
fn a_single_intent_without_negatives_answers_its_questions_only() {
    let mut set = shop();
    set.intents.truncate(1);
    set.out_of_scope.clear();
    let m = TrainedMatcher::train(&set, &settings());
    assert!(m.stats().stand_ins > 100, "{:?}", m.stats());
    assert_eq!(
        m.classify("where is my parcel").verdict,
        Verdict::Answer {
            intent: "order_status".into()
        }
    );
    for text in ["tell me a joke please", "recommend a film for tonight"] {
        assert_eq!(m.classify(text).verdict, Verdict::Unknown, "{text}");
    }
}

#[test]
fn stand_ins_close_to_the_sets_own_examples_are_left_out() {
    let mut set = shop();
    set.out_of_scope.clear();
    let base = TrainedMatcher::train(&set, &settings()).stats().stand_ins;
    set.intents[2].examples.push(Located {
        value: "do i need an umbrella today".into(),
        line: 1,
    });
    let m = TrainedMatcher::train(&set, &settings());
    assert_eq!(m.stats().stand_ins, base - 1);
    // With enough written negatives, no stand-ins.
    let mut set = shop();
    let extra: Vec<Negative> = (0..MIN_NEGATIVES)
        .map(|i| Negative {
            text: format!("unrelated question number {i}"),
            file: "t.toml".into(),
            line: 1,
        })
        .collect();
    set.out_of_scope.extend(extra);
    assert_eq!(
        TrainedMatcher::train(&set, &settings()).stats().stand_ins,
        0
    );
}
