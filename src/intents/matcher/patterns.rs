//! The intents' regex patterns: a match is a sure hit, checked before the model.

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use crate::intents::check::IntentSet;

/// The regex patterns of every intent, with the index of the intent that owns each.
pub(super) enum Patterns {
    None,
    /// All patterns in one set (the usual case).
    Set(RegexSet, Vec<usize>),
    /// The combined set exceeded its size limit: each pattern on its own, in the same order.
    Each(Vec<(Regex, usize)>),
}

impl Patterns {
    /// Compiles every intent's patterns. They were validated by `check`; one that still fails
    /// to build is skipped (and logged). If the combined set fails its size limit, the patterns
    /// are matched one by one.
    pub(super) fn compile(set: &IntentSet, size_limit: usize) -> Patterns {
        let mut regexes = Vec::new();
        let mut owners = Vec::new();
        for (i, intent) in set.intents.iter().enumerate() {
            for p in &intent.patterns {
                match build_pattern(&p.value, size_limit) {
                    Ok(re) => {
                        regexes.push(re);
                        owners.push(i);
                    }
                    Err(e) => tracing::warn!(
                        intent = %intent.id,
                        file = %intent.file.display(),
                        line = p.line,
                        "pattern skipped: {e}"
                    ),
                }
            }
        }
        if regexes.is_empty() {
            return Patterns::None;
        }
        let sources: Vec<&str> = regexes.iter().map(Regex::as_str).collect();
        match build_pattern_set(&sources, size_limit) {
            Ok(set) => Patterns::Set(set, owners),
            Err(e) => {
                tracing::warn!(
                    patterns = sources.len(),
                    "combined pattern set does not build ({e}); matching patterns one by one"
                );
                Patterns::Each(regexes.into_iter().zip(owners).collect())
            }
        }
    }

    /// The intent of the first pattern (in file order) that matches `text`.
    pub(super) fn first_hit(&self, text: &str) -> Option<usize> {
        match self {
            Patterns::None => None,
            Patterns::Set(set, owners) => set.matches(text).iter().next().map(|p| owners[p]),
            Patterns::Each(each) => each
                .iter()
                .find(|(re, _)| re.is_match(text))
                .map(|&(_, owner)| owner),
        }
    }
}

/// Compiles one pattern with the per-regex size limit, as training does.
pub(crate) fn build_pattern(source: &str, size_limit: usize) -> Result<Regex, regex::Error> {
    RegexBuilder::new(source).size_limit(size_limit).build()
}

/// Compiles the combined pattern set exactly as training does (4 × the per-regex limit).
/// `check` uses this too, so a set that would not build is reported instead of loaded.
pub(crate) fn build_pattern_set<S: AsRef<str>>(
    sources: &[S],
    size_limit: usize,
) -> Result<RegexSet, regex::Error> {
    RegexSetBuilder::new(sources)
        .size_limit(size_limit.saturating_mul(4))
        .dfa_size_limit(size_limit.saturating_mul(4))
        .build()
}
