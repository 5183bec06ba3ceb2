//! Snippets: canned answers agents send with `!snippet NAME` or the console. Each is a file
//! `NAME.md` in `[desk] snippets_dir`, sent as written with its `{{name}}` variables filled.
//!
//! They are checked like intent files: at start (an error stops the start, naming FILE:LINE), and
//! again whenever one is listed or sent, reading the folder afresh, so an edited snippet takes
//! effect at once and a broken edit is refused with the same FILE:LINE message instead of
//! reaching a customer.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::core::template;

/// Variables a snippet may use besides `[vars]` and `customer.name`.
pub const SNIPPET_VARS: &[&str] = &["ticket", "agent"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    pub name: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SnippetError {
    #[error("unknown snippet '{0}'")]
    Unknown(String),
    #[error("{file}:{line}: {message}")]
    Invalid {
        file: String,
        line: usize,
        message: String,
    },
    #[error("cannot read snippets in {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Whether `name` can name a snippet file: letters, digits, `-` and `_` (nothing that could
/// leave the folder).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Checks one snippet's text: every `{{` closed, every variable known. `file` names it in errors.
pub fn check(file: &str, text: &str, known: &BTreeSet<String>) -> Result<(), SnippetError> {
    let line_of = |offset: usize| text[..offset].lines().count().max(1);
    if text.trim().is_empty() {
        return Err(SnippetError::Invalid {
            file: file.into(),
            line: 1,
            message: "the snippet is empty".into(),
        });
    }
    if let Some(at) = template::unclosed(text) {
        return Err(SnippetError::Invalid {
            file: file.into(),
            line: line_of(at + 1),
            message: "'{{' is never closed with '}}'".into(),
        });
    }
    for (number, line) in text.lines().enumerate() {
        for name in template::variables(line) {
            if !known.contains(name) && !SNIPPET_VARS.contains(&name) {
                return Err(SnippetError::Invalid {
                    file: file.into(),
                    line: number + 1,
                    message: format!(
                        "unknown variable {{{{{name}}}}} (known: [vars] names, customer.name, ticket, agent)"
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Every snippet in `dir`, by name, each checked. A missing folder has no snippets.
pub fn load_dir(dir: &Path, known: &BTreeSet<String>) -> Result<Vec<Snippet>, SnippetError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(io(dir, source)),
    };
    let mut snippets = Vec::new();
    for entry in entries {
        let path = entry.map_err(|source| io(dir, source))?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("md") {
            continue;
        }
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if !valid_name(name) {
            return Err(SnippetError::Invalid {
                file: path.display().to_string(),
                line: 1,
                message: "a snippet's file name may only use letters, digits, '-' and '_'".into(),
            });
        }
        snippets.push(read(&path, name, known)?);
    }
    snippets.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(snippets)
}

/// The snippet `name` from `dir`, checked.
pub fn load(dir: &Path, name: &str, known: &BTreeSet<String>) -> Result<Snippet, SnippetError> {
    let name = name.trim();
    if !valid_name(name) {
        return Err(SnippetError::Unknown(name.to_string()));
    }
    let path: PathBuf = dir.join(format!("{name}.md"));
    if !path.is_file() {
        return Err(SnippetError::Unknown(name.to_string()));
    }
    read(&path, name, known)
}

fn read(path: &Path, name: &str, known: &BTreeSet<String>) -> Result<Snippet, SnippetError> {
    let text = std::fs::read_to_string(path).map_err(|source| io(path, source))?;
    // Editors end files with a newline; the message should not.
    let text = text.trim_end().to_string();
    check(&path.display().to_string(), &text, known)?;
    Ok(Snippet {
        name: name.to_string(),
        text,
    })
}

fn io(path: &Path, source: std::io::Error) -> SnippetError {
    SnippetError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> BTreeSet<String> {
        ["customer.name", "links.returns"]
            .map(String::from)
            .into_iter()
            .collect()
    }

    #[test]
    fn unknown_variables_are_named_with_file_and_line() {
        let text = "Hi {{customer.name}},\nsee {{links.returns}}\nand {{links.nope}}.";
        let err = check("snips/refund.md", text, &known()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "snips/refund.md:3: unknown variable {{links.nope}} (known: [vars] names, customer.name, ticket, agent)"
        );
        check("x.md", "Ticket #{{ticket}}, {{agent}} here.", &known()).unwrap();
        let err = check("x.md", "one\n{{ticket", &known()).unwrap_err();
        assert!(err.to_string().starts_with("x.md:2:"), "{err}");
    }

    #[test]
    fn snippets_load_by_name_from_their_folder() {
        let dir =
            std::env::temp_dir().join(format!("frontline-snippets-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("refund.md"), "Refunds take {{ticket}} days.\n").unwrap();
        std::fs::write(dir.join("notes.txt"), "not a snippet").unwrap();
        let all = load_dir(&dir, &known()).unwrap();
        assert_eq!(
            all,
            [Snippet {
                name: "refund".into(),
                text: "Refunds take {{ticket}} days.".into()
            }]
        );
        assert!(matches!(
            load(&dir, "nope", &known()),
            Err(SnippetError::Unknown(n)) if n == "nope"
        ));
        assert!(matches!(
            load(&dir, "../refund", &known()),
            Err(SnippetError::Unknown(_))
        ));
        assert!(load_dir(&dir.join("missing"), &known()).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
