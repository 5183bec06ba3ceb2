//! The seam between the conversation engine and intent matching.
//!
//! The engine only sees [`Matcher`]: it asks for a [`Classification`] of a customer's text and for
//! the [`IntentInfo`] of an intent id. `crate::intents` trains the real implementation; tests may
//! use their own. [`MatcherHandle`] lets hot reload swap a new matcher in atomically.

use std::sync::{Arc, RwLock};

/// One scored candidate intent. `score` is a calibrated confidence in `0.0..=1.0`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Candidate {
    pub intent: String,
    pub score: f32,
}

/// What the matcher decided for one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Confident in exactly this intent.
    Answer { intent: String },
    /// Two (or more) intents are too close to call: ask the customer which one they meant.
    Clarify { intents: Vec<String> },
    /// Not confident in anything (including text that looks out of scope).
    Unknown,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    pub verdict: Verdict,
    /// Top candidates, best first (a handful at most); tickets carry them as context.
    pub candidates: Vec<Candidate>,
}

/// What the engine needs to know about an intent to act on it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IntentInfo {
    pub id: String,
    /// Shown to agents, and to customers when asking "did you mean ...?".
    pub description: String,
    /// Answer variants (templates with `{{var}}`); empty means "recognised, hand to a person".
    pub answers: Vec<String>,
    /// Suggested follow-ups shown under the answer.
    pub quick_replies: Vec<String>,
    /// Always hand to a person when recognised.
    pub escalate: bool,
    pub category: Option<String>,
}

pub trait Matcher: Send + Sync + 'static {
    fn classify(&self, text: &str) -> Classification;
    fn intent(&self, id: &str) -> Option<&IntentInfo>;
    /// True for a matcher with no intents loaded (the bot is not ready to answer).
    fn is_empty(&self) -> bool {
        false
    }
}

/// A matcher that knows no intents, for tools that act on tickets without reading messages
/// (such as `frontline agents remove`): everything is unknown.
pub struct NoIntents;

impl Matcher for NoIntents {
    fn classify(&self, _: &str) -> Classification {
        Classification {
            verdict: Verdict::Unknown,
            candidates: Vec::new(),
        }
    }
    fn intent(&self, _: &str) -> Option<&IntentInfo> {
        None
    }
    fn is_empty(&self) -> bool {
        true
    }
}

/// A shared, swappable matcher: readers take a cheap snapshot, hot reload replaces it whole.
#[derive(Clone)]
pub struct MatcherHandle(Arc<RwLock<Arc<dyn Matcher>>>);

impl MatcherHandle {
    pub fn new(matcher: Arc<dyn Matcher>) -> Self {
        Self(Arc::new(RwLock::new(matcher)))
    }

    /// The matcher in service now. A message handled with this snapshot finishes with it even if a
    /// reload lands meanwhile.
    pub fn current(&self) -> Arc<dyn Matcher> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn replace(&self, matcher: Arc<dyn Matcher>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = matcher;
    }
}

impl std::fmt::Debug for MatcherHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MatcherHandle")
    }
}
