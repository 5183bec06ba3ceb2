//! `frontline intents import`: labelled CSV (`text,intent`) or Rasa NLU YAML to intent files,
//! one file per intent; `out_of_scope` examples become `[out_of_scope]` negatives.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::check::{IntentSet, Negative};
use super::error::IntentsError;
use super::eval::{read_labelled_csv, OUT_OF_SCOPE};
use super::file::{IntentDef, Located};
use super::normalize::normalize;

/// Examples grouped by intent id, before writing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Imported {
    pub intents: BTreeMap<String, Vec<String>>,
    pub negatives: Vec<String>,
    /// Human-readable notes about what was skipped (duplicates, empty intents).
    pub notes: Vec<String>,
}

impl Imported {
    /// Adds one example, dropping repeats and examples already claimed by another intent (which
    /// `check` would reject).
    fn add(&mut self, label: &str, text: &str, seen: &mut HashMap<String, String>, origin: &str) {
        let text = text.trim();
        let norm = normalize(text);
        if norm.is_empty() {
            return;
        }
        let id = sanitize_id(label);
        match seen.get(&norm) {
            Some(owner) if owner == &id => return,
            Some(owner) => {
                self.notes.push(format!(
                    "{origin}: skipped \"{text}\" for `{id}`: already an example of `{owner}`"
                ));
                return;
            }
            None => {
                seen.insert(norm, id.clone());
            }
        }
        if id == OUT_OF_SCOPE {
            self.negatives.push(text.to_string());
        } else {
            self.intents.entry(id).or_default().push(text.to_string());
        }
    }
}

impl Imported {
    /// The imported examples as an [`IntentSet`], without writing files (benchmarks, tests).
    pub fn into_set(self, source: &Path) -> IntentSet {
        let located = |(i, value): (usize, String)| Located { value, line: i + 1 };
        IntentSet {
            intents: self
                .intents
                .into_iter()
                .map(|(id, examples)| IntentDef {
                    description: Some(describe(&id)),
                    id,
                    file: source.to_path_buf(),
                    line: 1,
                    examples: examples.into_iter().enumerate().map(located).collect(),
                    patterns: Vec::new(),
                    answers: Vec::new(),
                    quick_replies: Vec::new(),
                    escalate: false,
                    category: None,
                    threshold: None,
                })
                .collect(),
            out_of_scope: self
                .negatives
                .into_iter()
                .enumerate()
                .map(|(i, text)| Negative {
                    text,
                    file: source.to_path_buf(),
                    line: i + 1,
                })
                .collect(),
        }
    }
}

/// Turns a label into an id matching `[a-z0-9_]+`.
pub fn sanitize_id(label: &str) -> String {
    let mut id = String::new();
    for c in label.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            id.push(c);
        } else if !id.ends_with('_') {
            id.push('_');
        }
    }
    let id = id.trim_matches('_').to_string();
    if id.is_empty() {
        "intent".to_string()
    } else {
        id
    }
}

pub fn from_csv(path: &Path) -> Result<Imported, IntentsError> {
    let mut out = Imported::default();
    let mut seen = HashMap::new();
    for case in read_labelled_csv(path)? {
        out.add(
            &case.intent,
            &case.text,
            &mut seen,
            &format!("{}:{}", path.display(), case.line),
        );
    }
    if out.intents.is_empty() {
        return Err(IntentsError::input(path, 1, "no labelled examples found"));
    }
    Ok(out)
}

/// Reads Rasa's NLU YAML (`nlu:` / `- intent: name` / `examples: |` / `- text`). Entity
/// annotations (`[Berlin](city)`) keep their text; synonyms, regexes and lookups are skipped.
pub fn from_rasa(path: &Path) -> Result<Imported, IntentsError> {
    let bytes = std::fs::read(path).map_err(|e| IntentsError::io(path, e))?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        IntentsError::input(path, line, "file is not valid UTF-8")
    })?;
    parse_rasa(path, text)
}

pub fn parse_rasa(path: &Path, text: &str) -> Result<Imported, IntentsError> {
    let entity = regex::Regex::new(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})").expect("static regex");
    let mut out = Imported::default();
    let mut seen = HashMap::new();
    let mut saw_nlu = false;
    let mut current: Option<String> = None;
    // Indentation of the `examples: |` key while inside its block.
    let mut block: Option<usize> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let indent = raw.len() - raw.trim_start().len();
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(key_indent) = block {
            if indent > key_indent {
                if let Some(example) = line.strip_prefix("- ").or_else(|| line.strip_prefix('-')) {
                    let example = entity.replace_all(example.trim(), "$1");
                    let label = current.clone().unwrap_or_default();
                    out.add(
                        &label,
                        &example,
                        &mut seen,
                        &format!("{}:{line_no}", path.display()),
                    );
                    continue;
                }
                return Err(IntentsError::input(
                    path,
                    line_no,
                    "expected an example line `- text` in the examples block",
                ));
            }
            block = None;
        }
        if indent == 0 && !line.starts_with('-') {
            // A top-level key: `nlu:` starts the section we read, anything else ends it.
            saw_nlu |= line == "nlu:";
            if line != "nlu:" {
                current = None;
            }
            continue;
        }
        if let Some(name) = line.strip_prefix("- intent:") {
            let name = name.trim().trim_matches(|c| c == '"' || c == '\'');
            if name.is_empty() {
                return Err(IntentsError::input(path, line_no, "intent without a name"));
            }
            current = Some(name.to_string());
        } else if line.starts_with("- ") {
            current = None; // synonym, regex, lookup: not intents
        } else if let Some(rest) = line.strip_prefix("examples:") {
            if current.is_none() {
                continue;
            }
            if !rest.trim().starts_with('|') {
                return Err(IntentsError::input(
                    path,
                    line_no,
                    "expected `examples: |` followed by `- example` lines",
                ));
            }
            block = Some(indent);
        }
    }
    if !saw_nlu {
        return Err(IntentsError::input(
            path,
            1,
            "not a Rasa NLU file: no top-level `nlu:` section",
        ));
    }
    if out.intents.is_empty() {
        return Err(IntentsError::input(
            path,
            1,
            "no intents with examples found under `nlu:`",
        ));
    }
    Ok(out)
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            '\r' => q.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(q, "\\u{:04X}", c as u32);
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

fn examples_array(out: &mut String, examples: &[String]) {
    out.push_str("examples = [\n");
    for e in examples {
        let _ = writeln!(out, "  {},", quote(e));
    }
    out.push_str("]\n");
}

/// Writes one `<id>.toml` per intent (and `out_of_scope.toml`) into `dir`; returns the paths.
pub fn write_dir(
    imported: &Imported,
    dir: &Path,
    source: &Path,
) -> Result<Vec<PathBuf>, IntentsError> {
    std::fs::create_dir_all(dir).map_err(|e| IntentsError::io(dir, e))?;
    let mut written = Vec::new();
    let header = format!(
        "# Imported from {} by `frontline intents import`.\n",
        source.display()
    );
    for (id, examples) in &imported.intents {
        let mut s = header.clone();
        s.push_str("# No answer yet: the bot recognises this intent and hands it to a person.\n");
        let _ = writeln!(s, "\n[[intent]]\nid = {}", quote(id));
        let _ = writeln!(s, "description = {}", quote(&describe(id)));
        examples_array(&mut s, examples);
        let path = dir.join(format!("{id}.toml"));
        std::fs::write(&path, s).map_err(|e| IntentsError::io(&path, e))?;
        written.push(path);
    }
    if !imported.negatives.is_empty() {
        let mut s = header;
        s.push_str(
            "# Out-of-scope questions: the bot must never answer these.\n\n[out_of_scope]\n",
        );
        examples_array(&mut s, &imported.negatives);
        let path = dir.join("out_of_scope.toml");
        std::fs::write(&path, s).map_err(|e| IntentsError::io(&path, e))?;
        written.push(path);
    }
    Ok(written)
}

/// "order_status" → "Order status".
fn describe(id: &str) -> String {
    let words = id.replace('_', " ");
    let mut c = words.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => words,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_labels_into_ids() {
        assert_eq!(sanitize_id("Order Status!"), "order_status");
        assert_eq!(
            sanitize_id("Out of scope"),
            OUT_OF_SCOPE,
            "negatives however they are spelled"
        );
        assert_eq!(sanitize_id("--"), "intent");
        assert_eq!(describe("order_status"), "Order status");
    }

    #[test]
    fn parses_rasa_nlu_with_entities_and_skips_other_sections() {
        let yml = "version: \"3.1\"\nnlu:\n- intent: greet\n  examples: |\n    - hey\n    - hello [Sara](name)\n- synonym: savings\n  examples: |\n    - pink pig\n- intent: out_of_scope\n  examples: |\n    - what is the meaning of life\n";
        let imp = parse_rasa(Path::new("nlu.yml"), yml).unwrap();
        assert_eq!(
            imp.intents["greet"],
            vec!["hey".to_string(), "hello Sara".to_string()]
        );
        assert_eq!(imp.intents.len(), 1);
        assert_eq!(
            imp.negatives,
            vec!["what is the meaning of life".to_string()]
        );
    }

    #[test]
    fn rejects_files_that_are_not_rasa() {
        let e = parse_rasa(Path::new("x.yml"), "hello: world\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "x.yml:1: not a Rasa NLU file: no top-level `nlu:` section"
        );
        let e = parse_rasa(
            Path::new("x.yml"),
            "nlu:\n- intent: a\n  examples: |\n    oops\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("x.yml:4: "), "{e}");
    }

    #[test]
    fn quotes_toml_strings() {
        let v: toml::Value =
            toml::from_str(&format!("a = {}", quote("say \"hi\" \\ \u{1}"))).unwrap();
        assert_eq!(v["a"].as_str(), Some("say \"hi\" \\ \u{1}"));
    }
}
