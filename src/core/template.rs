//! `{{name}}` templates, used for intent answers and for every message the bot writes itself.
//!
//! Names are dotted identifiers (`links.orders`, `customer.name`). Rendering never fails: an
//! unknown name renders as an empty string at run time, and `frontline intents check` reports
//! unknown names before they ship (see [`variables`]).

use std::collections::BTreeMap;

/// Values for template names.
pub type Vars = BTreeMap<String, String>;

/// The variable names a template uses, in order of appearance (duplicates kept).
pub fn variables(template: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        names.push(after[..end].trim());
        rest = &after[end + 2..];
    }
    names
}

/// Byte offset of the first `{{` that no `}}` closes, if any. [`render`] leaves such text as
/// it is, so a typo like `{{links.orders}` would reach customers literally; `check` rejects it.
pub fn unclosed(template: &str) -> Option<usize> {
    let mut offset = 0;
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Some(offset + start);
        };
        offset += start + 2 + end + 2;
        rest = &after[end + 2..];
    }
    None
}

/// True when `name` is a well-formed variable name: dotted segments of `[A-Za-z0-9_]`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|seg| {
            !seg.is_empty() && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// Replaces every `{{name}}` with its value from the first of `layers` that has it.
pub fn render(template: &str, layers: &[&Vars]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        if let Some(value) = layers.iter().find_map(|vars| vars.get(name)) {
            out.push_str(value);
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn renders_from_the_first_layer_that_knows_the_name() {
        let convo = vars(&[("customer.name", "Dana")]);
        let config = vars(&[
            ("customer.name", "ignored"),
            ("links.orders", "https://x/o"),
        ]);
        assert_eq!(
            render(
                "Hi {{ customer.name }}, see {{links.orders}}.",
                &[&convo, &config]
            ),
            "Hi Dana, see https://x/o."
        );
    }

    #[test]
    fn unknown_names_render_empty_and_unclosed_braces_stay() {
        assert_eq!(render("a{{nope}}b {{open", &[]), "ab {{open");
    }

    #[test]
    fn finds_an_unclosed_opening() {
        assert_eq!(unclosed("see {{links.orders}"), Some(4));
        assert_eq!(unclosed("{{a}} then {{b"), Some(11));
        assert_eq!(unclosed("{{a}} and {{ b }}"), None);
        assert_eq!(unclosed("no braces, or a lone { and }}"), None);
    }

    #[test]
    fn lists_variables_and_checks_names() {
        assert_eq!(
            variables("{{a.b}} x {{ c }} {{a.b}}"),
            vec!["a.b", "c", "a.b"]
        );
        assert!(is_valid_name("links.orders"));
        assert!(!is_valid_name("links..orders"));
        assert!(!is_valid_name("bad name"));
    }
}
