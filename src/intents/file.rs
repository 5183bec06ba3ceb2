//! The intent file format: parsing one TOML file into intents with the line of every item.
//!
//! ```toml
//! [[intent]]
//! id = "order_status"                 # [a-z0-9_]+, unique across all files
//! description = "Where is my order?"
//! examples = ["where is my order", "track my package"]
//! patterns = ['(?i)\btracking\s+number\b']   # optional regexes: a match is a sure hit
//! answer = "Follow it at {{links.orders}}."   # or answers = ["variant 1", "variant 2"]
//! quick_replies = ["Change my address"]
//! escalate = false
//! category = "orders"
//! threshold = 0.7                     # optional per-intent confidence override
//!
//! [out_of_scope]                      # negatives, merged across files
//! examples = ["what is the meaning of life"]
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::error::Problem;

/// A string from a file and the line it is on.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<T> {
    pub value: T,
    pub line: usize,
}

/// One intent as written in a file.
#[derive(Debug, Clone, PartialEq)]
pub struct IntentDef {
    pub id: String,
    pub file: PathBuf,
    /// Line of the `id` key.
    pub line: usize,
    pub description: Option<String>,
    pub examples: Vec<Located<String>>,
    pub patterns: Vec<Located<String>>,
    pub answers: Vec<Located<String>>,
    pub quick_replies: Vec<Located<String>>,
    pub escalate: bool,
    pub category: Option<String>,
    pub threshold: Option<Located<f32>>,
}

/// What one file contributes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedFile {
    pub intents: Vec<IntentDef>,
    pub out_of_scope: Vec<Located<String>>,
    /// Problems that do not stop the rest of the file from being read and checked.
    pub problems: Vec<Problem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    intent: Vec<RawIntent>,
    out_of_scope: Option<Spanned<RawOos>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOos {
    #[serde(default)]
    examples: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntent {
    id: Spanned<String>,
    description: Option<String>,
    #[serde(default)]
    examples: Vec<Spanned<String>>,
    #[serde(default)]
    patterns: Vec<Spanned<String>>,
    answer: Option<Spanned<String>>,
    answers: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    quick_replies: Vec<Spanned<String>>,
    #[serde(default)]
    escalate: bool,
    category: Option<String>,
    threshold: Option<Spanned<f32>>,
}

/// Byte offset → 1-based line.
pub struct LineIndex(Vec<usize>);
impl LineIndex {
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex(starts)
    }
    pub fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&s| s <= offset).max(1)
    }
}

/// Reads and parses one file. `max_bytes` bounds the size accepted.
pub fn read_file(path: &Path, max_bytes: u64) -> Result<ParsedFile, Vec<Problem>> {
    let err = |line: usize, msg: String| vec![Problem::error(path, line, msg)];
    let meta = std::fs::metadata(path).map_err(|e| err(1, format!("cannot read file: {e}")))?;
    if meta.len() > max_bytes {
        return Err(err(
            1,
            format!(
                "file is {:.1} MB, larger than the {:.1} MB limit (matcher.max_file_bytes)",
                meta.len() as f64 / 1e6,
                max_bytes as f64 / 1e6
            ),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| err(1, format!("cannot read file: {e}")))?;
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t,
        Err(e) => {
            let good = e.valid_up_to();
            let line = bytes[..good].iter().filter(|&&b| b == b'\n').count() + 1;
            return Err(err(
                line,
                "file is not valid UTF-8 (save it as UTF-8)".to_string(),
            ));
        }
    };
    parse_str(path, text)
}

/// Parses file contents; `path` is only used in messages.
pub fn parse_str(path: &Path, text: &str) -> Result<ParsedFile, Vec<Problem>> {
    // A byte-order mark is not content; strip it before offsets are taken.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines = LineIndex::new(text);
    let err = |line: usize, msg: String| vec![Problem::error(path, line, msg)];
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |s| lines.line(s.start));
        err(line, format!("invalid intent file: {}", e.message().trim()))
    })?;
    if raw.intent.is_empty() && raw.out_of_scope.is_none() {
        return Err(err(
            1,
            "empty file: expected [[intent]] tables or an [out_of_scope] table".into(),
        ));
    }
    let loc = |s: Spanned<String>| Located {
        line: lines.line(s.span().start),
        value: s.into_inner(),
    };
    let mut problems = Vec::new();
    let mut out = ParsedFile::default();
    for r in raw.intent {
        let line = lines.line(r.id.span().start);
        let mut answers: Vec<Located<String>> = Vec::new();
        if let Some(a) = r.answer {
            answers.push(loc(a));
        }
        if let Some(list) = r.answers {
            if !answers.is_empty() {
                problems.push(Problem::error(
                    path,
                    lines.line(list.span().start),
                    "use either `answer` or `answers`, not both",
                ));
            }
            answers.extend(list.into_inner().into_iter().map(loc));
        }
        out.intents.push(IntentDef {
            id: r.id.into_inner(),
            file: path.to_path_buf(),
            line,
            description: r.description,
            examples: r.examples.into_iter().map(loc).collect(),
            patterns: r.patterns.into_iter().map(loc).collect(),
            answers,
            quick_replies: r.quick_replies.into_iter().map(loc).collect(),
            escalate: r.escalate,
            category: r.category,
            threshold: r.threshold.map(|t| Located {
                line: lines.line(t.span().start),
                value: t.into_inner(),
            }),
        });
    }
    if let Some(oos) = raw.out_of_scope {
        out.out_of_scope = oos.into_inner().examples.into_iter().map(loc).collect();
    }
    out.problems = problems;
    Ok(out)
}

/// Every `*.toml` file under `dir` (nested folders too), sorted; hidden entries are skipped.
///
/// Linked folders are followed after the real tree, and each folder is read once (by its
/// canonical path), so a link back up the tree cannot loop or list a folder twice. A dangling `*.toml` link is listed like any file: reading it then fails with an error
/// naming it, and the rest of the folder is still checked. Errors name the path that failed.
pub fn find_files(dir: &Path) -> Result<Vec<PathBuf>, Problem> {
    let mut walker = Walker::default();
    let mut result = walker.walk(dir, 0);
    while result.is_ok() {
        let Some((link, depth)) = walker.links.pop_front() else {
            break;
        };
        result = walker.walk(&link, depth);
    }
    result
        .map_err(|(path, e)| Problem::error(path, 1, format!("cannot read intents folder: {e}")))?;
    let mut out = walker.files;
    out.sort();
    Ok(out)
}

#[derive(Default)]
struct Walker {
    files: Vec<PathBuf>,
    /// Canonical paths of the folders already read.
    visited: std::collections::HashSet<PathBuf>,
    /// Linked folders still to read, with their depth.
    links: std::collections::VecDeque<(PathBuf, usize)>,
}

impl Walker {
    fn walk(&mut self, dir: &Path, depth: usize) -> Result<(), (PathBuf, std::io::Error)> {
        let at = |e: std::io::Error| (dir.to_path_buf(), e);
        let canonical = std::fs::canonicalize(dir).map_err(at)?;
        if depth > 16 || !self.visited.insert(canonical) {
            return Ok(());
        }
        let mut entries = std::fs::read_dir(dir)
            .map_err(at)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(at)?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            let is_toml = path.extension().is_some_and(|e| e == "toml");
            // The entry's own type: links are not followed here.
            let kind = entry.file_type().map_err(|e| (path.clone(), e))?;
            if kind.is_dir() {
                self.walk(&path, depth + 1)?;
            } else if kind.is_symlink() {
                match std::fs::metadata(&path) {
                    Ok(target) if target.is_dir() => self.links.push_back((path, depth + 1)),
                    Ok(target) if target.is_file() && is_toml => self.files.push(path),
                    // Dangling: an intent file the admin meant to include gets its own error
                    // when read; anything else is not ours to judge.
                    Err(_) if is_toml => self.files.push(path),
                    _ => {}
                }
            } else if kind.is_file() && is_toml {
                self.files.push(path);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ParsedFile, Vec<Problem>> {
        parse_str(Path::new("x.toml"), text)
    }

    #[test]
    fn parses_every_field_with_lines() {
        let f = parse(
            "[[intent]]\nid = \"a\"\nexamples = [\n  \"one\",\n  \"two\",\n]\nanswers = [\"x\", \"y\"]\nthreshold = 0.7\n\n[out_of_scope]\nexamples = [\"nope\"]\n",
        )
        .unwrap();
        let i = &f.intents[0];
        assert_eq!((i.id.as_str(), i.line), ("a", 2));
        assert_eq!(i.examples[1].line, 5);
        assert_eq!(i.answers.len(), 2);
        assert_eq!(i.threshold.as_ref().unwrap().line, 8);
        assert_eq!(f.out_of_scope[0].line, 11);
    }

    #[test]
    fn unknown_keys_and_bad_toml_report_their_line() {
        let e = parse("[[intent]]\nid = \"a\"\nexampels = [\"x\"]\n").unwrap_err();
        assert_eq!(e[0].line, 3, "{}", e[0]);
        assert!(e[0].message.contains("exampels"), "{}", e[0]);
        let e = parse("[[intent]]\nid = \"a\"\nexamples = [\"x\"\n").unwrap_err();
        assert!(e[0].line >= 3, "{}", e[0]);
        let e = parse("# only a comment\n").unwrap_err();
        assert!(e[0].message.contains("empty file"));
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("frontline-file-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[cfg(unix)]
    #[test]
    fn a_self_referencing_folder_link_is_read_once() {
        use std::os::unix::fs::symlink;
        let dir = temp_dir("loop");
        std::fs::create_dir(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/a.toml"), "").unwrap();
        symlink(&dir, dir.join("sub/back")).unwrap();
        symlink(dir.join("sub"), dir.join("same")).unwrap();
        let files = find_files(&dir).unwrap();
        assert_eq!(files, vec![dir.join("sub/a.toml")], "{files:?}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[cfg(unix)]
    #[test]
    fn dangling_links_do_not_fail_the_folder_and_are_named() {
        use std::os::unix::fs::symlink;
        let dir = temp_dir("dangling");
        std::fs::write(dir.join("good.toml"), "").unwrap();
        symlink(dir.join("gone"), dir.join("notes.txt")).unwrap();
        symlink(dir.join("gone.toml"), dir.join("old.toml")).unwrap();
        let files = find_files(&dir).unwrap();
        assert_eq!(files, vec![dir.join("good.toml"), dir.join("old.toml")]);
        let err = read_file(&dir.join("old.toml"), 1 << 20).unwrap_err();
        assert!(
            err[0].to_string().starts_with(&format!(
                "{}:1: cannot read file",
                dir.join("old.toml").display()
            )),
            "{}",
            err[0]
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[cfg(unix)]
    #[test]
    fn an_unreadable_subfolder_is_named_in_the_error() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("unreadable");
        let sub = dir.join("locked");
        std::fs::create_dir(&sub).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o000)).unwrap();
        let readable_anyway = std::fs::read_dir(&sub).is_ok(); // running as root
        let result = find_files(&dir);
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
        if !readable_anyway {
            let err = result.unwrap_err();
            assert_eq!(err.file, sub, "{err}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
