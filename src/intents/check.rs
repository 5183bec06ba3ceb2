//! Validation of a folder of intent files into an [`IntentSet`].
//!
//! Errors (the set cannot be loaded): unreadable, non-UTF-8, oversized, empty or malformed
//! files, unknown keys, bad or duplicate ids, intents without examples or patterns, invalid or
//! oversized regexes, unknown template variables, the same example under two intents (or also
//! out of scope), thresholds outside 0..=1. Warnings: intents without answers, intents too
//! similar to tell apart, duplicate examples within one intent, no out-of-scope examples at all.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use regex::RegexBuilder;

use super::error::{LoadError, Problem};
use super::file::{self, IntentDef, Located};
use super::matcher::{build_pattern, build_pattern_set};
use super::normalize::normalize;
use super::settings::MatcherSettings;
use crate::core::template;

/// An out-of-scope example: text that must never be answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Negative {
    pub text: String,
    pub file: PathBuf,
    pub line: usize,
}

/// Parsed and validated intents, plus the out-of-scope negatives from every file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IntentSet {
    pub intents: Vec<IntentDef>,
    pub out_of_scope: Vec<Negative>,
}

impl IntentSet {
    pub fn example_count(&self) -> usize {
        self.intents.iter().map(|i| i.examples.len()).sum::<usize>() + self.out_of_scope.len()
    }
}

/// Everything `check` found: the usable part of the set and every problem, sorted by place.
#[derive(Debug, Clone)]
pub struct CheckReport {
    pub set: IntentSet,
    pub problems: Vec<Problem>,
    pub files: usize,
}

impl CheckReport {
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.is_error())
    }
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }
}

/// Loads and validates every `*.toml` under `dir` with default settings.
pub fn load_dir(dir: &Path, known_vars: &BTreeSet<String>) -> Result<IntentSet, LoadError> {
    load_dir_with(dir, known_vars, &MatcherSettings::default())
}

/// [`load_dir`] with explicit settings (file size and regex size limits).
pub fn load_dir_with(
    dir: &Path,
    known_vars: &BTreeSet<String>,
    settings: &MatcherSettings,
) -> Result<IntentSet, LoadError> {
    let report = check_dir(dir, known_vars, settings);
    if report.has_errors() {
        Err(LoadError {
            problems: report
                .problems
                .into_iter()
                .filter(|p| p.is_error())
                .collect(),
        })
    } else {
        Ok(report.set)
    }
}

/// Checks a folder, collecting every problem instead of stopping at the first.
pub fn check_dir(
    dir: &Path,
    known_vars: &BTreeSet<String>,
    settings: &MatcherSettings,
) -> CheckReport {
    let mut problems = Vec::new();
    let mut set = IntentSet::default();
    let files = match file::find_files(dir) {
        Ok(f) => f,
        Err(p) => {
            return CheckReport {
                set,
                problems: vec![p],
                files: 0,
            }
        }
    };
    if files.is_empty() {
        problems.push(Problem::error(
            dir,
            1,
            "no *.toml intent files in this folder",
        ));
    }
    for path in &files {
        match file::read_file(path, settings.max_file_bytes) {
            Ok(parsed) => {
                problems.extend(parsed.problems);
                set.intents.extend(parsed.intents);
                set.out_of_scope
                    .extend(parsed.out_of_scope.into_iter().map(|l| Negative {
                        text: l.value,
                        file: path.clone(),
                        line: l.line,
                    }));
            }
            Err(ps) => problems.extend(ps),
        }
    }
    validate(&mut set, known_vars, settings, &mut problems);
    if let (Some(first), true) = (
        files.first(),
        set.out_of_scope.is_empty() && !set.intents.is_empty(),
    ) {
        problems.push(Problem::warning(
            first,
            1,
            "no [out_of_scope] examples in any file: add questions the bot must not answer, so it learns what they look like",
        ));
    }
    if !files.is_empty() && set.intents.is_empty() && !problems.iter().any(|p| p.is_error()) {
        problems.push(Problem::error(dir, 1, "no [[intent]] tables in any file"));
    }
    problems.sort_by(|a, b| {
        a.file
            .cmp(&b.file)
            .then(a.line.cmp(&b.line))
            .then(b.severity.cmp(&a.severity))
    });
    CheckReport {
        set,
        problems,
        files: files.len(),
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// One-line message of a regex error (the syntax error Display spans several lines).
fn regex_message(e: &regex::Error) -> String {
    match e {
        regex::Error::CompiledTooBig(limit) => {
            format!(
                "regex is too big once compiled (limit {limit} bytes, matcher.regex_size_limit)"
            )
        }
        other => {
            let text = other.to_string();
            let detail = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("error:"))
                .unwrap_or(text.as_str());
            format!("invalid regex: {}", detail.trim())
        }
    }
}

fn validate(
    set: &mut IntentSet,
    known_vars: &BTreeSet<String>,
    settings: &MatcherSettings,
    problems: &mut Vec<Problem>,
) {
    let mut first_id: HashMap<String, (PathBuf, usize)> = HashMap::new();
    // normalised example -> (intent id, file, line)
    let mut owner: HashMap<String, (String, PathBuf, usize)> = HashMap::new();
    for neg in &set.out_of_scope {
        let norm = normalize(&neg.text);
        if norm.is_empty() {
            problems.push(Problem::error(
                &neg.file,
                neg.line,
                "out-of-scope example has no words",
            ));
            continue;
        }
        owner
            .entry(norm)
            .or_insert_with(|| ("[out_of_scope]".into(), neg.file.clone(), neg.line));
    }
    for intent in &set.intents {
        let f = &intent.file;
        if !valid_id(&intent.id) {
            problems.push(Problem::error(
                f,
                intent.line,
                format!("intent id `{}` must match [a-z0-9_]+", intent.id),
            ));
        } else if intent.id == "out_of_scope" {
            problems.push(Problem::error(
                f,
                intent.line,
                "`out_of_scope` is reserved: put negative examples in an [out_of_scope] table",
            ));
        }
        if let Some((pf, pl)) = first_id.get(&intent.id) {
            problems.push(Problem::error(
                f,
                intent.line,
                format!(
                    "duplicate intent id `{}` (first defined at {}:{})",
                    intent.id,
                    pf.display(),
                    pl
                ),
            ));
        } else {
            first_id.insert(intent.id.clone(), (f.clone(), intent.line));
        }
        if intent.examples.is_empty() && intent.patterns.is_empty() {
            problems.push(Problem::error(
                f,
                intent.line,
                format!("intent `{}` has no examples", intent.id),
            ));
        }
        let mut own: HashMap<String, usize> = HashMap::new();
        for ex in &intent.examples {
            let norm = normalize(&ex.value);
            if norm.is_empty() {
                problems.push(Problem::error(
                    f,
                    ex.line,
                    format!("empty example in intent `{}`", intent.id),
                ));
                continue;
            }
            if let Some(first) = own.get(&norm) {
                problems.push(Problem::warning(
                    f,
                    ex.line,
                    format!(
                        "example \"{}\" repeats line {first} of intent `{}`",
                        ex.value, intent.id
                    ),
                ));
                continue;
            }
            own.insert(norm.clone(), ex.line);
            match owner.get(&norm) {
                Some((other, of, ol)) if other != &intent.id => problems.push(Problem::error(
                    f,
                    ex.line,
                    format!(
                        "example \"{}\" of `{}` is also under {} ({}:{})",
                        ex.value,
                        intent.id,
                        if other.starts_with('[') {
                            other.clone()
                        } else {
                            format!("intent `{other}`")
                        },
                        of.display(),
                        ol
                    ),
                )),
                Some(_) => {}
                None => {
                    owner.insert(norm, (intent.id.clone(), f.clone(), ex.line));
                }
            }
        }
        for pat in &intent.patterns {
            match RegexBuilder::new(&pat.value)
                .size_limit(settings.regex_size_limit)
                .dfa_size_limit(settings.regex_size_limit)
                .build()
            {
                Err(e) => problems.push(Problem::error(f, pat.line, regex_message(&e))),
                Ok(re) if matches_empty(&re) => problems.push(Problem::error(
                    f,
                    pat.line,
                    format!(
                        "pattern `{}` matches an empty message; it would answer everything",
                        pat.value
                    ),
                )),
                Ok(_) => {}
            }
        }
        for text in intent.answers.iter().chain(&intent.quick_replies) {
            check_template(f, text.line, &text.value, known_vars, problems);
        }
        if intent.answers.iter().any(|a| a.value.trim().is_empty()) {
            let line = intent
                .answers
                .iter()
                .find(|a| a.value.trim().is_empty())
                .map_or(intent.line, |a| a.line);
            problems.push(Problem::error(
                f,
                line,
                format!("empty answer in intent `{}`", intent.id),
            ));
        }
        if let Some(t) = &intent.threshold {
            if !(t.value > 0.0 && t.value <= 1.0) {
                problems.push(Problem::error(
                    f,
                    t.line,
                    format!("threshold {} must be in (0, 1]", t.value),
                ));
            }
        }
        if intent.answers.is_empty() && !intent.escalate {
            problems.push(Problem::warning(
                f,
                intent.line,
                format!(
                    "intent `{}` has no answer: it will be recognised and handed to a person",
                    intent.id
                ),
            ));
        }
    }
    pattern_set(set, settings, problems);
    pattern_overlaps(set, settings, problems);
    similar_intents(set, problems);
}

/// Messages that probe a pattern for an empty match: empty, blank, punctuation, a word, words.
/// An empty match depends on the text only through anchors and word boundaries, so these cover
/// `a|`, `x*`, `^$`, `\b(hi|)\b` and the like.
const EMPTY_PROBES: &[&str] = &[
    "",
    " ",
    "?",
    "a",
    "Z",
    "0",
    "é",
    "hello",
    "how do i reset my password",
    "!!! ok",
];

/// True when `re` can match zero characters: a pattern hit is a sure answer, so such a
/// pattern would answer any message at all (the matcher searches, it does not anchor).
fn matches_empty(re: &regex::Regex) -> bool {
    EMPTY_PROBES
        .iter()
        .any(|probe| re.find_iter(probe).any(|m| m.is_empty()))
}

/// A pattern hit is a sure answer that skips the model, so a pattern must never match a
/// question the bot must not answer (error), and one that matches another intent's example
/// takes that question away from it (warning, once per pattern and intent).
fn pattern_overlaps(set: &IntentSet, settings: &MatcherSettings, problems: &mut Vec<Problem>) {
    for (owner, intent) in set.intents.iter().enumerate() {
        for pat in &intent.patterns {
            let Ok(re) = build_pattern(&pat.value, settings.regex_size_limit) else {
                continue; // already reported
            };
            if matches_empty(&re) {
                continue; // already reported: it matches everything
            }
            let oos: Vec<&Negative> = set
                .out_of_scope
                .iter()
                .filter(|n| re.is_match(&n.text))
                .collect();
            if let Some(first) = oos.first() {
                problems.push(Problem::error(
                    &intent.file,
                    pat.line,
                    format!(
                        "pattern `{}` of `{}` matches the out-of-scope example \"{}\" ({}:{}){}: a pattern hit is always answered",
                        pat.value,
                        intent.id,
                        first.text,
                        first.file.display(),
                        first.line,
                        more(oos.len())
                    ),
                ));
            }
            for (other_i, other) in set.intents.iter().enumerate() {
                if other_i == owner || other.id == intent.id {
                    continue;
                }
                let hits: Vec<&Located<String>> = other
                    .examples
                    .iter()
                    .filter(|e| re.is_match(&e.value))
                    .collect();
                if let Some(first) = hits.first() {
                    problems.push(Problem::warning(
                        &intent.file,
                        pat.line,
                        format!(
                            "pattern `{}` of `{}` matches example \"{}\" of intent `{}` ({}:{}){}: those messages would be answered as `{}`",
                            pat.value,
                            intent.id,
                            first.value,
                            other.id,
                            other.file.display(),
                            first.line,
                            more(hits.len()),
                            intent.id
                        ),
                    ));
                }
            }
        }
    }
}

fn more(n: usize) -> String {
    if n > 1 {
        format!(" and {} more", n - 1)
    } else {
        String::new()
    }
}

/// Builds the combined pattern set exactly as the matcher does. Every pattern can be within
/// its own size limit while all of them together exceed the set's limit; report the pattern
/// that pushes the set over it, so such a set is never loaded.
fn pattern_set(set: &IntentSet, settings: &MatcherSettings, problems: &mut Vec<Problem>) {
    let limit = settings.regex_size_limit;
    // The patterns training keeps (those that build on their own), in the matcher's order.
    let kept: Vec<(&str, &Path, usize)> = set
        .intents
        .iter()
        .flat_map(|i| {
            i.patterns
                .iter()
                .map(move |p| (p.value.as_str(), &*i.file, p.line))
        })
        .filter(|(src, _, _)| build_pattern(src, limit).is_ok())
        .collect();
    let sources: Vec<&str> = kept.iter().map(|k| k.0).collect();
    let Err(err) = build_pattern_set(&sources, limit) else {
        return;
    };
    // The smallest prefix that fails to build ends with the culprit (binary search: the
    // compiled size only grows as patterns are added).
    let (mut ok, mut bad) = (0usize, sources.len());
    while bad - ok > 1 {
        let mid = ok + (bad - ok) / 2;
        if build_pattern_set(&sources[..mid], limit).is_ok() {
            ok = mid;
        } else {
            bad = mid;
        }
    }
    let (src, file, line) = kept[bad - 1];
    let why = match err {
        regex::Error::CompiledTooBig(n) => format!("limit {n} bytes, 4 × matcher.regex_size_limit"),
        other => regex_message(&other),
    };
    problems.push(Problem::error(
        file,
        line,
        format!(
            "pattern `{src}` makes the combined pattern set of all {} pattern(s) too big to compile ({why}): simplify or remove patterns (bounded repeats such as \\w{{20}} compile large)",
            sources.len()
        ),
    ));
}

fn check_template(
    file: &Path,
    line: usize,
    text: &str,
    known: &BTreeSet<String>,
    problems: &mut Vec<Problem>,
) {
    if let Some(at) = template::unclosed(text) {
        let shown: String = text[at..].chars().take(30).collect();
        problems.push(Problem::error(
            file,
            line,
            format!("unclosed `{{{{` in \"{shown}\": close it with `}}}}` (it would be sent as written)"),
        ));
    }
    for name in template::variables(text) {
        if !template::is_valid_name(name) {
            problems.push(Problem::error(
                file,
                line,
                format!("malformed template variable `{{{{{name}}}}}`"),
            ));
        } else if !known.contains(name) {
            let listed: Vec<&str> = known.iter().map(String::as_str).take(12).collect();
            problems.push(Problem::error(
                file,
                line,
                format!(
                    "unknown template variable `{{{{{name}}}}}` (known: {})",
                    listed.join(", ")
                ),
            ));
        }
    }
}

/// Warns about pairs of intents whose examples look alike (cosine of their word and character
/// trigram profiles), since the matcher will struggle to tell them apart.
fn similar_intents(set: &IntentSet, problems: &mut Vec<Problem>) {
    const LIMIT: f32 = 0.8;
    use super::features::{extract, FeatureConfig, IdMap};
    let cfg = FeatureConfig {
        word_weight: 1.0,
        char_min: 3,
        char_max: 3,
        word_bigrams: false,
        word_stems: false,
    };
    let mut bounds = Vec::new();
    let mut hashes = Vec::new();
    let profiles: Vec<IdMap<f32>> = set
        .intents
        .iter()
        .map(|intent| {
            let mut p: IdMap<f32> = IdMap::default();
            for ex in &intent.examples {
                hashes.clear();
                extract(&normalize(&ex.value), cfg, &mut bounds, &mut hashes);
                let w = 1.0 / (hashes.len().max(1) as f32).sqrt();
                for &h in &hashes {
                    *p.entry(h).or_insert(0.0) += w;
                }
            }
            let n = p.values().map(|v| v * v).sum::<f32>().sqrt().max(1e-9);
            p.values_mut().for_each(|v| *v /= n);
            p
        })
        .collect();
    for i in 0..profiles.len() {
        for j in i + 1..profiles.len() {
            let (a, b) = if profiles[i].len() <= profiles[j].len() {
                (&profiles[i], &profiles[j])
            } else {
                (&profiles[j], &profiles[i])
            };
            if a.is_empty() {
                continue;
            }
            let cos: f32 = a.iter().filter_map(|(h, v)| b.get(h).map(|w| v * w)).sum();
            if cos >= LIMIT {
                let (x, y) = (&set.intents[i], &set.intents[j]);
                problems.push(Problem::warning(
                    &y.file,
                    y.line,
                    format!(
                        "intents `{}` and `{}` ({}:{}) are too similar to tell apart (similarity {:.2}): merge them or add distinguishing examples",
                        y.id,
                        x.id,
                        x.file.display(),
                        x.line,
                        cos
                    ),
                ));
            }
        }
    }
}
