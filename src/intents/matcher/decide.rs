//! The run-time decision for one message: answer, ask which of two intents was meant, or hand
//! over (see the module above for the rules).

use std::cell::RefCell;

use super::patterns::Patterns;
use super::TrainedMatcher;
use crate::core::matcher::{Candidate, Classification, Verdict};
use crate::intents::features::{extract, SparseVec};
use crate::intents::normalize::normalize_into;
use crate::intents::semantic::SemanticError;
use crate::intents::train_rows::Row;

#[derive(Default)]
struct Scratch {
    norm: String,
    bounds: Vec<usize>,
    hashes: Vec<u64>,
    x: SparseVec,
    probs: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The first `max_chars` characters of `text` (what is classified).
pub(super) fn head(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// Keeps the `k` best (index, prob) pairs, best first, without allocating beyond `top`.
pub(super) fn top_k(probs: &[f32], k: usize, top: &mut [(usize, f32); 20]) -> usize {
    let mut n = 0usize;
    for (i, &p) in probs.iter().enumerate() {
        if n < k {
            top[n] = (i, p);
            n += 1;
        } else if p > top[n - 1].1 {
            top[n - 1] = (i, p);
        } else {
            continue;
        }
        let mut j = n - 1;
        while j > 0 && top[j].1 > top[j - 1].1 {
            top.swap(j, j - 1);
            j -= 1;
        }
    }
    n
}

impl TrainedMatcher {
    /// Embeddings of many messages, computed in batches across cores (`intents eval`); `None`
    /// when classification needs none (lexical mode with `word_vector_weight = 0`). Pass each
    /// one to [`TrainedMatcher::classify_embedded`].
    pub fn embed_messages(&self, texts: &[&str]) -> Result<Option<Vec<Vec<f32>>>, SemanticError> {
        let Some(dense) = &self.dense else {
            return Ok(None);
        };
        let heads: Vec<&str> = texts.iter().map(|t| head(t, self.max_chars)).collect();
        dense.embedder.embed_messages(&heads).map(Some)
    }

    /// The run-time decision for `text` with its embedding already computed (from
    /// [`TrainedMatcher::embed_messages`]); without one, as [`Matcher::classify`] (which embeds
    /// the message on its own when the mode needs it).
    pub fn classify_embedded(&self, text: &str, embedding: Option<&[f32]>) -> Classification {
        match (&self.dense, embedding) {
            (Some(_), Some(v)) => self.decide(text, Ok(v)),
            (Some(dense), None) => match dense.embedder.embed_one(head(text, self.max_chars)) {
                Ok(v) => self.decide(text, Ok(&v)),
                Err(e) => self.decide(text, Err(e)),
            },
            (None, _) => self.decide(text, Ok(&[])),
        }
    }

    fn decide(&self, text: &str, embedding: Result<&[f32], SemanticError>) -> Classification {
        let n_intents = self.infos.len();
        let mut top = [(0usize, 0.0f32); 20];
        let k = self.max_candidates.clamp(2, 20).min(n_intents);
        let found = SCRATCH.with(|cell| {
            let mut guard = cell.borrow_mut();
            let sc = &mut *guard;
            normalize_into(text, self.max_chars, &mut sc.norm);
            if sc.norm.is_empty() || n_intents == 0 {
                return 0;
            }
            sc.hashes.clear();
            extract(&sc.norm, self.cfg, &mut sc.bounds, &mut sc.hashes);
            self.vocab
                .vectorize(&mut sc.hashes, self.cfg.word_weight, &mut sc.x);
            if let Some(dense) = &self.dense {
                match &embedding {
                    Ok(v) => dense.append(&mut sc.x, v),
                    Err(e) => {
                        // Not a silent fallback: the message is handed to a person.
                        tracing::error!("embedding a message failed: {e}");
                        return 0;
                    }
                }
            }
            sc.probs.resize(self.model.classes(), 0.0);
            self.model.probabilities(Row::sparse(&sc.x), &mut sc.probs);
            top_k(&sc.probs[..n_intents], k, &mut top)
        });
        let shown = found.min(self.max_candidates);

        // A pattern hit is a sure answer.
        let hit = match self.patterns {
            Patterns::None => None,
            _ => self.patterns.first_hit(head(text, self.max_chars)),
        };
        if let Some(intent) = hit {
            let mut candidates = vec![Candidate {
                intent: self.infos[intent].id.clone(),
                score: 1.0,
            }];
            candidates.extend(
                top[..shown]
                    .iter()
                    .filter(|c| c.0 != intent)
                    .map(|&(i, p)| self.candidate(i, p)),
            );
            candidates.truncate(self.max_candidates);
            return Classification {
                verdict: Verdict::Answer {
                    intent: self.infos[intent].id.clone(),
                },
                candidates,
            };
        }
        if found == 0 {
            return Classification {
                verdict: Verdict::Unknown,
                candidates: Vec::new(),
            };
        }
        let candidates: Vec<Candidate> = top[..shown]
            .iter()
            .map(|&(i, p)| self.candidate(i, p))
            .collect();
        let (a, pa) = top[0];
        let second = if found > 1 { Some(top[1]) } else { None };
        let leader_passes = self.passes(a, pa);
        // Ask "A or B?" when the runner-up is within the margin and clears the bar itself, or
        // when neither clears it alone but together they do and the runner-up is at least half
        // as likely as the leader (the question is ambiguous, not out of scope).
        let ambiguous = second.filter(|&(b, pb)| {
            (pa - pb < self.margin && self.passes(b, pb))
                || (!leader_passes && 2.0 * pb >= pa && self.passes(a, pa + pb))
        });
        let verdict = match ambiguous {
            Some((b, _)) => Verdict::Clarify {
                intents: vec![self.infos[a].id.clone(), self.infos[b].id.clone()],
            },
            _ if self.passes(a, pa) => Verdict::Answer {
                intent: self.infos[a].id.clone(),
            },
            _ => Verdict::Unknown,
        };
        Classification {
            verdict,
            candidates,
        }
    }
}
