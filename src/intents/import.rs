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

/// Where the Rasa reader is: between keys, in an `examples: |` block, in an `examples:` list
/// of `- text:` items, or in the `text: |` block scalar of one item.
enum RasaMode {
    Keys,
    Block {
        key_indent: usize,
    },
    Items {
        key_indent: usize,
    },
    ItemText {
        /// Indentation of the `examples:` key the items belong to.
        list_indent: usize,
        /// Column of the `text` key: the block's lines are indented deeper.
        key_col: usize,
        /// `>`: lines are joined with spaces; `|`: with newlines.
        folded: bool,
        lines: Vec<String>,
        /// Indentation of the block's first line, removed from every line.
        indent: Option<usize>,
        line_no: usize,
    },
}

/// Cuts a YAML comment (`#` at the start or after a space) off an unquoted line.
fn cut_comment(s: &str) -> &str {
    let bytes = s.as_bytes();
    let at = (0..bytes.len())
        .find(|&i| bytes[i] == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()));
    at.map_or(s, |i| &s[..i]).trim()
}

/// The value of a one-line YAML scalar: quoted (with escapes) or plain, without a trailing
/// comment.
fn scalar(s: &str) -> String {
    let s = s.trim();
    let mut chars = s.chars();
    match chars.next() {
        Some('"') => {
            let mut v = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '"' => return v,
                    '\\' => match chars.next() {
                        Some('n') => v.push('\n'),
                        Some('t') => v.push('\t'),
                        Some(other) => v.push(other),
                        None => {}
                    },
                    c => v.push(c),
                }
            }
            v
        }
        Some('\'') => {
            let mut v = String::new();
            let mut rest = chars.peekable();
            while let Some(c) = rest.next() {
                if c == '\'' {
                    if rest.peek() == Some(&'\'') {
                        rest.next();
                        v.push('\'');
                    } else {
                        return v;
                    }
                } else {
                    v.push(c);
                }
            }
            v
        }
        _ => cut_comment(s).to_string(),
    }
}

/// The intent labels Rasa uses for itself, skipped on import with a note.
const RASA_SKIPPED: &[&str] = &["nlu_fallback"];

pub fn parse_rasa(path: &Path, text: &str) -> Result<Imported, IntentsError> {
    let entity = regex::Regex::new(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})").expect("static regex");
    let mut out = Imported::default();
    let mut seen = HashMap::new();
    let mut saw_nlu = false;
    // The intent being read. None in sections that are not intents (synonyms, regexes,
    // lookups) and under skipped labels: their examples are read and dropped.
    let mut current: Option<String> = None;
    let mut mode = RasaMode::Keys;
    let mut add = |out: &mut Imported, label: &Option<String>, example: &str, line_no: usize| {
        if let Some(label) = label {
            let example = entity.replace_all(example.trim(), "$1");
            out.add(
                label,
                &example,
                &mut seen,
                &format!("{}:{line_no}", path.display()),
            );
        }
    };
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let indent = raw.len() - raw.trim_start().len();
        let line = raw.trim();
        if let RasaMode::ItemText {
            list_indent,
            key_col,
            folded,
            lines,
            indent: first,
            line_no: start,
        } = &mut mode
        {
            if line.is_empty() {
                lines.push(String::new());
                continue;
            }
            if indent > *key_col {
                let cut = (*first.get_or_insert(indent)).min(indent);
                lines.push(raw.get(cut..).unwrap_or(line).trim_end().to_string());
                continue;
            }
            let joined = lines.join(if *folded { " " } else { "\n" });
            add(&mut out, &current, &joined, *start);
            mode = RasaMode::Items {
                key_indent: *list_indent,
            };
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match mode {
            RasaMode::Block { key_indent } if indent > key_indent => {
                // Block text is taken as written: a `#` in an example is not a comment.
                if let Some(example) = line.strip_prefix("- ").or_else(|| line.strip_prefix('-')) {
                    add(&mut out, &current, example, line_no);
                    continue;
                }
                return Err(IntentsError::input(
                    path,
                    line_no,
                    "expected an example line `- text` in the examples block",
                ));
            }
            RasaMode::Items { key_indent }
                if indent > key_indent || (indent == key_indent && line.starts_with('-')) =>
            {
                let item = line.strip_prefix('-').map(str::trim_start);
                if let Some(value) = item.and_then(|l| l.strip_prefix("text:")) {
                    let bare = cut_comment(value);
                    if bare.starts_with('|') || bare.starts_with('>') {
                        let dash_to_key = line.len() - item.unwrap_or(line).len();
                        mode = RasaMode::ItemText {
                            list_indent: key_indent,
                            key_col: indent + dash_to_key,
                            folded: bare.starts_with('>'),
                            lines: Vec::new(),
                            indent: None,
                            line_no: line_no + 1,
                        };
                    } else {
                        add(&mut out, &current, &scalar(value), line_no);
                    }
                }
                // Anything else in an item (`metadata:` and what is under it) is not text.
                continue;
            }
            _ => mode = RasaMode::Keys,
        }
        let bare = cut_comment(line);
        if indent == 0 && !line.starts_with('-') {
            // A top-level key: `nlu:` starts the section we read, anything else ends it.
            saw_nlu |= bare == "nlu:";
            if bare != "nlu:" {
                current = None;
            }
            continue;
        }
        if let Some(name) = line.strip_prefix("- intent:") {
            let name = scalar(name);
            if name.is_empty() {
                return Err(IntentsError::input(path, line_no, "intent without a name"));
            }
            if RASA_SKIPPED.contains(&name.as_str()) {
                out.notes.push(format!(
                    "{}:{line_no}: skipped intent `{name}`: it is Rasa's fallback label, not a question (frontline hands questions it does not know to a person by itself)",
                    path.display()
                ));
                current = None;
            } else {
                current = Some(name);
            }
        } else if line.starts_with("- ") {
            current = None; // synonym, regex, lookup: not intents
        } else if let Some(rest) = bare.strip_prefix("examples:") {
            let rest = rest.trim();
            if rest.is_empty() {
                mode = RasaMode::Items { key_indent: indent };
            } else if rest.starts_with('|') || rest.starts_with('>') {
                mode = RasaMode::Block { key_indent: indent };
            } else if current.is_some() {
                return Err(IntentsError::input(
                    path,
                    line_no,
                    "expected `examples: |` followed by `- example` lines, or `examples:` followed by `- text:` items",
                ));
            }
        }
    }
    if let RasaMode::ItemText {
        lines,
        folded,
        line_no,
        ..
    } = &mode
    {
        let joined = lines.join(if *folded { " " } else { "\n" });
        add(&mut out, &current, &joined, *line_no);
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

/// The file names [`write_dir`] would write for `imported`.
fn file_names(imported: &Imported) -> Vec<String> {
    let mut names: Vec<String> = imported
        .intents
        .keys()
        .map(|id| format!("{id}.toml"))
        .collect();
    if !imported.negatives.is_empty() {
        names.push("out_of_scope.toml".to_string());
    }
    names
}

/// Refuses to import into a folder that already holds intent files: the import would overwrite
/// some of them and mix two sets (every `*.toml` below the folder is loaded). `--force` skips
/// this check.
pub fn refuse_to_mix(imported: &Imported, dir: &Path) -> Result<(), IntentsError> {
    if !dir.exists() {
        return Ok(());
    }
    let existing = super::file::find_files(dir).map_err(|p| IntentsError::Refused {
        path: p.file,
        message: p.message,
    })?;
    if existing.is_empty() {
        return Ok(());
    }
    let overwritten = file_names(imported)
        .iter()
        .filter(|name| dir.join(name).exists())
        .count();
    Err(IntentsError::Refused {
        path: dir.to_path_buf(),
        message: format!(
            "folder already holds {} intent file(s) (*.toml); importing would overwrite {} of them and mix the rest into the new set: choose an empty or new folder, or pass --force",
            existing.len(),
            overwritten
        ),
    })
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
    fn strips_inline_comments_from_key_values() {
        let yml = "nlu:  # the data\n- intent: greet  # say hello\n  examples: |  # short ones\n    - hey # there\n- intent: \"bye\" # leave\n  examples: |\n    - see you\n";
        let imp = parse_rasa(Path::new("nlu.yml"), yml).unwrap();
        let ids: Vec<&str> = imp.intents.keys().map(String::as_str).collect();
        assert_eq!(ids, ["bye", "greet"]);
        assert_eq!(
            imp.intents["greet"],
            vec!["hey # there".to_string()],
            "block text is taken as written"
        );
    }

    #[test]
    fn reads_per_example_text_items() {
        let yml = "nlu:\n- intent: greet\n  examples:\n  - text: |\n      hi [Sara](name)\n    metadata:\n      sentiment: neutral\n  - text: \"hey \\\"you\\\"\"  # quoted\n  - text: 'it''s me'\n  - text: plain one # comment\n  - text: >\n      good\n      morning\n- intent: bye\n  examples:\n    - text: |\n        bye now\n";
        let imp = parse_rasa(Path::new("nlu.yml"), yml).unwrap();
        assert_eq!(
            imp.intents["greet"],
            vec![
                "hi Sara".to_string(),
                "hey \"you\"".to_string(),
                "it's me".to_string(),
                "plain one".to_string(),
                "good morning".to_string(),
            ]
        );
        assert_eq!(imp.intents["bye"], vec!["bye now".to_string()]);
        assert_eq!(imp.intents.len(), 2, "metadata is not an intent");
    }

    #[test]
    fn skips_nlu_fallback_with_a_note() {
        let yml = "nlu:\n- intent: nlu_fallback\n  examples: |\n    - asdf\n- intent: greet\n  examples: |\n    - hi\n";
        let imp = parse_rasa(Path::new("nlu.yml"), yml).unwrap();
        assert_eq!(imp.intents.keys().collect::<Vec<_>>(), ["greet"]);
        assert!(imp.negatives.is_empty(), "not out of scope either");
        assert!(
            imp.notes
                .iter()
                .any(|n| n.starts_with("nlu.yml:2: skipped intent `nlu_fallback`")),
            "{:?}",
            imp.notes
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
