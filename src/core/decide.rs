//! What the bot does with one customer message while it is in charge: a pure function of the
//! conversation so far and the matcher's verdict, so every rule is unit-tested without a database.

use crate::config::ConversationConfig;
use crate::core::matcher::{Classification, Matcher, Verdict};
use crate::core::policy;
use crate::core::ticket::EscalationReason;

#[derive(Debug, Clone, PartialEq)]
pub enum BotAction {
    Answer {
        intent: String,
    },
    /// Ask which of these intents was meant.
    Clarify {
        intents: Vec<String>,
    },
    Rephrase,
    Escalate(EscalationReason),
}

impl BotAction {
    /// What this action means for the customer's message, as `frontline report` counts it.
    pub fn outcome(&self) -> Outcome {
        match self {
            BotAction::Answer { .. } => Outcome::Answered,
            BotAction::Clarify { .. } => Outcome::Clarified,
            BotAction::Rephrase | BotAction::Escalate(EscalationReason::NoMatch { .. }) => {
                Outcome::NotUnderstood
            }
            BotAction::Escalate(_) => Outcome::HandedOver,
        }
    }
}

/// What became of a customer message the bot handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Answered,
    /// The bot asked which of two intents was meant.
    Clarified,
    /// Nothing matched well enough (whether the bot then asked to rephrase or handed over).
    NotUnderstood,
    /// Handed to a person for another reason: asked for, an intent that needs a person, or
    /// frustration.
    HandedOver,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Answered,
        Outcome::Clarified,
        Outcome::NotUnderstood,
        Outcome::HandedOver,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Clarified => "clarified",
            Outcome::NotUnderstood => "not_understood",
            Outcome::HandedOver => "handed_over",
        }
    }
}

/// The action plus the conversation counters after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub action: BotAction,
    pub misses: i32,
    /// Options of a clarification now pending (empty if none).
    pub clarify: Vec<String>,
}

pub struct Turn<'a> {
    pub text: &'a str,
    pub misses: i32,
    /// Options of the clarification asked last turn, if any.
    pub pending_clarify: &'a [String],
    pub frustrated: bool,
}

pub fn decide(
    turn: &Turn<'_>,
    classification: &Classification,
    matcher: &dyn Matcher,
    cfg: &ConversationConfig,
) -> Decision {
    if cfg.escalate_on_frustration && turn.frustrated {
        return escalate(turn.misses, EscalationReason::Frustration);
    }
    // The "Talk to a person" button works whatever the intent set says.
    if crate::core::choice::is_talk_to_a_person(turn.text) {
        return escalate(turn.misses, EscalationReason::AskedForHuman);
    }
    if !turn.pending_clarify.is_empty() {
        let options: Vec<(String, String)> = turn
            .pending_clarify
            .iter()
            .map(|id| {
                (
                    id.clone(),
                    matcher
                        .intent(id)
                        .map(|i| i.description.clone())
                        .unwrap_or_default(),
                )
            })
            .collect();
        if let Some(i) = policy::pick_option(turn.text, &options) {
            return recognised(&options[i].0, turn.misses, matcher, cfg);
        }
    }
    match &classification.verdict {
        Verdict::Answer { intent } => recognised(intent, turn.misses, matcher, cfg),
        // "Did you mean: talk to a person, or ...?" would keep someone who may want a person
        // from one: hand over instead.
        Verdict::Clarify { intents } if intents.iter().any(|i| cfg.human_intents.contains(i)) => {
            escalate(turn.misses, EscalationReason::AskedForHuman)
        }
        // A second "did you mean" in a row would be a loop: it counts as a miss instead.
        Verdict::Clarify { intents } if turn.pending_clarify.is_empty() && intents.len() >= 2 => {
            Decision {
                action: BotAction::Clarify {
                    intents: intents.clone(),
                },
                misses: turn.misses,
                clarify: intents.clone(),
            }
        }
        Verdict::Clarify { .. } | Verdict::Unknown => {
            let misses = turn.misses + 1;
            if misses >= cfg.max_misses {
                escalate(misses, EscalationReason::NoMatch { misses })
            } else {
                Decision {
                    action: BotAction::Rephrase,
                    misses,
                    clarify: Vec::new(),
                }
            }
        }
    }
}

fn recognised(
    intent: &str,
    misses: i32,
    matcher: &dyn Matcher,
    cfg: &ConversationConfig,
) -> Decision {
    if cfg.human_intents.iter().any(|h| h == intent) {
        return escalate(misses, EscalationReason::AskedForHuman);
    }
    match matcher.intent(intent) {
        Some(info) if !info.escalate && !info.answers.is_empty() => Decision {
            action: BotAction::Answer {
                intent: intent.to_string(),
            },
            misses: 0,
            clarify: Vec::new(),
        },
        _ => escalate(
            misses,
            EscalationReason::IntentNeedsPerson {
                intent: intent.to_string(),
            },
        ),
    }
}

fn escalate(misses: i32, reason: EscalationReason) -> Decision {
    Decision {
        action: BotAction::Escalate(reason),
        misses,
        clarify: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::matcher::{Candidate, IntentInfo};

    /// A fixed table of intents; the verdict comes from the test.
    struct Table(Vec<IntentInfo>);

    impl Matcher for Table {
        fn classify(&self, _text: &str) -> Classification {
            unreachable!("decide() is given the classification")
        }
        fn intent(&self, id: &str) -> Option<&IntentInfo> {
            self.0.iter().find(|i| i.id == id)
        }
    }

    fn table() -> Table {
        let info = |id: &str, desc: &str, answer: bool, escalate: bool| IntentInfo {
            id: id.into(),
            description: desc.into(),
            answers: if answer {
                vec![format!("answer for {id}")]
            } else {
                vec![]
            },
            escalate,
            ..Default::default()
        };
        Table(vec![
            info("order_status", "Track an order", true, false),
            info("shipping_costs", "Shipping costs", true, false),
            info("refund_dispute", "Dispute a refund", false, true),
            info("no_answer_yet", "Imported", false, false),
            info("human", "Talk to a person", true, true),
        ])
    }

    fn verdict(v: Verdict) -> Classification {
        Classification {
            verdict: v,
            candidates: vec![Candidate {
                intent: "x".into(),
                score: 0.5,
            }],
        }
    }

    fn answer(id: &str) -> Classification {
        verdict(Verdict::Answer { intent: id.into() })
    }

    fn turn<'a>(text: &'a str, misses: i32, pending: &'a [String]) -> Turn<'a> {
        Turn {
            text,
            misses,
            pending_clarify: pending,
            frustrated: false,
        }
    }

    #[test]
    fn the_person_button_hands_over_even_while_a_question_is_pending() {
        let pending = vec!["order_status".to_string(), "shipping_costs".to_string()];
        let d = decide(
            &turn("Talk to a person", 0, &pending),
            &verdict(Verdict::Unknown),
            &table(),
            &Default::default(),
        );
        assert_eq!(
            d.action,
            BotAction::Escalate(EscalationReason::AskedForHuman)
        );
    }

    #[test]
    fn a_confident_match_is_answered_and_resets_misses() {
        let d = decide(
            &turn("where is it", 1, &[]),
            &answer("order_status"),
            &table(),
            &Default::default(),
        );
        assert_eq!(
            d.action,
            BotAction::Answer {
                intent: "order_status".into()
            }
        );
        assert_eq!(d.misses, 0);
    }

    #[test]
    fn first_miss_asks_to_rephrase_second_escalates() {
        let cfg = ConversationConfig::default();
        let d = decide(
            &turn("blorp", 0, &[]),
            &verdict(Verdict::Unknown),
            &table(),
            &cfg,
        );
        assert_eq!((d.action, d.misses), (BotAction::Rephrase, 1));
        let d = decide(
            &turn("blorp again", 1, &[]),
            &verdict(Verdict::Unknown),
            &table(),
            &cfg,
        );
        assert_eq!(
            d.action,
            BotAction::Escalate(EscalationReason::NoMatch { misses: 2 })
        );
    }

    #[test]
    fn close_candidates_ask_and_the_reply_picks_by_number_or_name() {
        let cfg = ConversationConfig::default();
        let both = vec!["order_status".to_string(), "shipping_costs".to_string()];
        let d = decide(
            &turn("parcel", 0, &[]),
            &verdict(Verdict::Clarify {
                intents: both.clone(),
            }),
            &table(),
            &cfg,
        );
        assert_eq!(
            d.action,
            BotAction::Clarify {
                intents: both.clone()
            }
        );
        assert_eq!((d.misses, d.clarify.clone()), (0, both.clone()));

        let d = decide(
            &turn("2", 0, &both),
            &verdict(Verdict::Unknown),
            &table(),
            &cfg,
        );
        assert_eq!(
            d.action,
            BotAction::Answer {
                intent: "shipping_costs".into()
            }
        );
        let d = decide(
            &turn("track an order", 0, &both),
            &verdict(Verdict::Unknown),
            &table(),
            &cfg,
        );
        assert_eq!(
            d.action,
            BotAction::Answer {
                intent: "order_status".into()
            }
        );
    }

    #[test]
    fn an_unresolved_clarification_counts_as_a_miss() {
        let cfg = ConversationConfig::default();
        let both = vec!["order_status".to_string(), "shipping_costs".to_string()];
        let d = decide(
            &turn("hm", 0, &both),
            &verdict(Verdict::Clarify {
                intents: both.clone(),
            }),
            &table(),
            &cfg,
        );
        assert_eq!((d.action, d.misses), (BotAction::Rephrase, 1));
        let d = decide(
            &turn("hm", 1, &both),
            &verdict(Verdict::Unknown),
            &table(),
            &cfg,
        );
        assert!(matches!(
            d.action,
            BotAction::Escalate(EscalationReason::NoMatch { .. })
        ));
    }

    #[test]
    fn people_intents_and_unanswered_intents_escalate_at_once() {
        let cfg = ConversationConfig::default();
        let t = table();
        assert_eq!(
            decide(&turn("human pls", 0, &[]), &answer("human"), &t, &cfg).action,
            BotAction::Escalate(EscalationReason::AskedForHuman)
        );
        assert_eq!(
            decide(
                &turn("dispute", 0, &[]),
                &answer("refund_dispute"),
                &t,
                &cfg
            )
            .action,
            BotAction::Escalate(EscalationReason::IntentNeedsPerson {
                intent: "refund_dispute".into()
            })
        );
        assert_eq!(
            decide(&turn("x", 0, &[]), &answer("no_answer_yet"), &t, &cfg).action,
            BotAction::Escalate(EscalationReason::IntentNeedsPerson {
                intent: "no_answer_yet".into()
            })
        );
    }

    #[test]
    fn a_maybe_ask_for_a_person_hands_over_instead_of_asking() {
        let both = vec!["refund_dispute".to_string(), "human".to_string()];
        let d = decide(
            &turn("a person please", 0, &[]),
            &verdict(Verdict::Clarify { intents: both }),
            &table(),
            &ConversationConfig::default(),
        );
        assert_eq!(
            d.action,
            BotAction::Escalate(EscalationReason::AskedForHuman)
        );
    }

    #[test]
    fn frustration_escalates_early_unless_turned_off() {
        let mut cfg = ConversationConfig::default();
        let mut t = turn("THIS IS USELESS", 0, &[]);
        t.frustrated = true;
        assert_eq!(
            decide(&t, &answer("order_status"), &table(), &cfg).action,
            BotAction::Escalate(EscalationReason::Frustration)
        );
        cfg.escalate_on_frustration = false;
        assert_eq!(
            decide(&t, &answer("order_status"), &table(), &cfg).action,
            BotAction::Answer {
                intent: "order_status".into()
            }
        );
    }
}
