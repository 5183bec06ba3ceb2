//! `frontline intents check` / `load_dir`: every kind of bad input gives a `FILE:LINE: message`
//! on the right line, never a panic.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use frontline::intents::{check_dir, load_dir, MatcherSettings, Severity};

fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "frontline-intents-check-{}-{}-{}",
        std::process::id(),
        name,
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn known() -> BTreeSet<String> {
    ["links.orders", "customer.name"]
        .into_iter()
        .map(String::from)
        .collect()
}

/// Writes `files` into a fresh folder and returns each problem as "FILE_NAME:LINE: message".
fn problems(name: &str, files: &[(&str, &[u8])]) -> Vec<String> {
    let dir = temp_dir(name);
    for (file, body) in files {
        std::fs::write(dir.join(file), body).unwrap();
    }
    let report = check_dir(&dir, &known(), &MatcherSettings::default());
    let prefix = format!("{}/", dir.display());
    report
        .problems
        .iter()
        .map(|p| p.to_string().replacen(&prefix, "", 1))
        .collect()
}

fn has(problems: &[String], start: &str, contains: &str) -> bool {
    problems
        .iter()
        .any(|p| p.starts_with(start) && p.contains(contains))
}

const GOOD: &str = "[[intent]]\nid = \"refund\"\nexamples = [\"i want a refund\", \"money back\"]\nanswer = \"Sure.\"\n";

#[test]
fn the_fixture_set_is_clean() {
    let report = check_dir(
        Path::new("tests/fixtures/intents/basic"),
        &known(),
        &MatcherSettings::default(),
    );
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.files, 2);
    assert_eq!(report.set.intents.len(), 4);
    assert_eq!(
        report.set.out_of_scope.len(),
        8,
        "negatives merge across files"
    );
}

#[test]
fn unknown_keys_are_reported_on_their_line() {
    let p = problems(
        "unknown",
        &[(
            "a.toml",
            b"[[intent]]\nid = \"a\"\nexamples = [\"x y\"]\nanswr = \"hi\"\n",
        )],
    );
    assert!(has(&p, "a.toml:4: ", "answr"), "{p:?}");
}

#[test]
fn malformed_toml_points_at_the_line() {
    let p = problems(
        "malformed",
        &[(
            "a.toml",
            b"[[intent]]\nid = \"a\"\nexamples = [\"x\", \n\nanswer = \"unterminated\n",
        )],
    );
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with("a.toml:") && p[0].contains("invalid intent file"),
        "{p:?}"
    );
    let line: usize = p[0].split(':').nth(1).unwrap().parse().unwrap();
    assert!(line >= 3, "{p:?}");
}

#[test]
fn duplicate_ids_name_the_first_definition() {
    let second = "\n[[intent]]\nid = \"refund\"\nexamples = [\"another phrasing entirely\"]\nanswer = \"x\"\n";
    let p = problems(
        "dup",
        &[("a.toml", GOOD.as_bytes()), ("b.toml", second.as_bytes())],
    );
    assert!(
        has(&p, "b.toml:3: ", "duplicate intent id `refund`"),
        "{p:?}"
    );
    assert!(p.iter().any(|m| m.contains("a.toml:2")), "{p:?}");
}

#[test]
fn bad_and_huge_regexes_are_errors_with_their_line() {
    let body = "[[intent]]\nid = \"a\"\nexamples = [\"x y\"]\npatterns = [\n  '(unclosed',\n  '\\w{5000}\\w{5000}',\n]\nanswer = \"hi\"\n";
    let p = problems("regex", &[("a.toml", body.as_bytes())]);
    assert!(has(&p, "a.toml:5: ", "invalid regex"), "{p:?}");
    assert!(has(&p, "a.toml:6: ", "too big"), "{p:?}");
}

#[test]
fn intents_without_examples_and_empty_examples_are_errors() {
    let body = "[[intent]]\nid = \"a\"\nanswer = \"hi\"\n\n[[intent]]\nid = \"b\"\nexamples = [\"fine\", \"  ?! \"]\nanswer = \"hi\"\n";
    let p = problems("empty-ex", &[("a.toml", body.as_bytes())]);
    assert!(has(&p, "a.toml:2: ", "intent `a` has no examples"), "{p:?}");
    assert!(has(&p, "a.toml:7: ", "empty example"), "{p:?}");
}

#[test]
fn unknown_template_variables_are_errors() {
    let body = "[[intent]]\nid = \"a\"\nexamples = [\"x y\"]\nanswers = [\n  \"see {{links.orders}}\",\n  \"hi {{customer.nme}}\",\n]\nquick_replies = [\"{{bad name}}\"]\n";
    let p = problems("vars", &[("a.toml", body.as_bytes())]);
    assert!(
        has(
            &p,
            "a.toml:6: ",
            "unknown template variable `{{customer.nme}}`"
        ),
        "{p:?}"
    );
    assert!(
        has(&p, "a.toml:8: ", "malformed template variable"),
        "{p:?}"
    );
    assert!(!p.iter().any(|m| m.starts_with("a.toml:5:")), "{p:?}");
}

#[test]
fn the_same_example_under_two_intents_is_an_error() {
    let other = "[[intent]]\nid = \"money\"\nexamples = [\n  \"something else\",\n  \"I want a REFUND!\",\n]\nanswer = \"x\"\n\n[out_of_scope]\nexamples = [\"money back\"]\n";
    let p = problems(
        "same-example",
        &[("a.toml", GOOD.as_bytes()), ("b.toml", other.as_bytes())],
    );
    assert!(
        has(&p, "a.toml:3: ", "is also under [out_of_scope]"),
        "{p:?}"
    );
    assert!(
        has(&p, "b.toml:5: ", "is also under intent `refund`"),
        "{p:?}"
    );
}

#[test]
fn empty_non_utf8_and_oversized_files_are_errors() {
    let mut non_utf8 = b"[[intent]]\nid = \"a\"\nexamples = [\"caf".to_vec();
    non_utf8.extend_from_slice(&[0xE9, b'"', b']', b'\n']);
    let mut big = GOOD.as_bytes().to_vec();
    big.extend(std::iter::repeat_n(b'#', 10 * 1024 * 1024));
    let p = problems(
        "files",
        &[
            ("empty.toml", b""),
            ("latin1.toml", &non_utf8),
            ("big.toml", &big),
            ("ok.toml", GOOD.as_bytes()),
        ],
    );
    assert!(has(&p, "empty.toml:1: ", "empty file"), "{p:?}");
    assert!(has(&p, "latin1.toml:3: ", "not valid UTF-8"), "{p:?}");
    assert!(has(&p, "big.toml:1: ", "larger than"), "{p:?}");
}

#[test]
fn ids_thresholds_and_answer_keys_are_validated() {
    let body = "[[intent]]\nid = \"Order-Status\"\nexamples = [\"x y\"]\nanswer = \"a\"\nanswers = [\"b\"]\nthreshold = 1.5\n";
    let p = problems("ids", &[("a.toml", body.as_bytes())]);
    assert!(has(&p, "a.toml:2: ", "must match [a-z0-9_]+"), "{p:?}");
    assert!(
        has(&p, "a.toml:5: ", "either `answer` or `answers`"),
        "{p:?}"
    );
    assert!(has(&p, "a.toml:6: ", "threshold 1.5"), "{p:?}");
}

#[test]
fn missing_answers_and_lookalike_intents_are_only_warnings() {
    let body = "[[intent]]\nid = \"a\"\nexamples = [\"where is my order\", \"track my order\"]\n\n[[intent]]\nid = \"b\"\nexamples = [\"where is my order now\", \"track my order please\"]\nanswer = \"x\"\n\n[[intent]]\nid = \"human\"\nescalate = true\nexamples = [\"talk to a person\"]\n";
    let dir = temp_dir("warn");
    std::fs::write(dir.join("a.toml"), body).unwrap();
    let report = check_dir(&dir, &known(), &MatcherSettings::default());
    assert!(!report.has_errors(), "{:?}", report.problems);
    let text: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
    assert!(
        text.iter()
            .any(|p| p.contains("a.toml:2: warning: intent `a` has no answer")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|p| p.contains("a.toml:6: warning: intents `b` and `a`")
                && p.contains("too similar")),
        "{text:?}"
    );
    assert!(
        !text.iter().any(|p| p.contains("`human` has no answer")),
        "escalating intents need no answer"
    );
    assert!(report
        .problems
        .iter()
        .all(|p| p.severity == Severity::Warning));
    assert!(load_dir(&dir, &known()).is_ok());
}

#[test]
fn load_error_lists_every_error_as_file_line_message() {
    let dir = temp_dir("load");
    std::fs::write(
        dir.join("a.toml"),
        "[[intent]]\nid = \"a\"\nexamples = [\"x y\"]\npatterns = ['(']\nanswer = \"{{nope}}\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("b.toml"), "oops = 1\n").unwrap();
    let err = load_dir(&dir, &known()).unwrap_err();
    let text = err.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with(&format!(
            "{}:4: invalid regex",
            dir.join("a.toml").display()
        )),
        "{text}"
    );
    assert!(
        lines[1].starts_with(&format!(
            "{}:5: unknown template variable",
            dir.join("a.toml").display()
        )),
        "{text}"
    );
    assert!(
        lines[2].starts_with(&format!(
            "{}:1: invalid intent file",
            dir.join("b.toml").display()
        )),
        "{text}"
    );
}

#[test]
fn an_empty_or_missing_folder_is_an_error() {
    let dir = temp_dir("nofiles");
    assert!(load_dir(&dir, &known())
        .unwrap_err()
        .to_string()
        .contains("no *.toml intent files"));
    assert!(load_dir(&dir.join("missing"), &known())
        .unwrap_err()
        .to_string()
        .contains("cannot read intents folder"));
}

#[test]
fn the_shipped_shop_intents_pass_check_with_the_default_config_vars() {
    let shop = Path::new("intents/shop");
    let Ok(config) = std::fs::read_to_string("config/default.toml") else {
        return;
    };
    if !shop.exists() {
        return;
    }
    let table: toml::Table = toml::from_str(&config).unwrap();
    let mut known = BTreeSet::from(["customer.name".to_string()]);
    fn flatten(prefix: &str, t: &toml::Table, out: &mut BTreeSet<String>) {
        for (k, v) in t {
            let name = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(inner) => flatten(&name, inner, out),
                _ => {
                    out.insert(name);
                }
            }
        }
    }
    if let Some(toml::Value::Table(vars)) = table.get("vars") {
        flatten("", vars, &mut known);
    }
    let report = check_dir(shop, &known, &MatcherSettings::default());
    assert!(!report.has_errors(), "{:#?}", report.problems);
}

/// Eight patterns that each fit `regex_size_limit` but together overflow the combined set.
fn oversized_pattern_set() -> String {
    let pats: Vec<String> = "abcdefgh"
        .chars()
        .map(|c| format!("  'z{c}q\\w{{20}}',\n"))
        .collect();
    format!(
        "[[intent]]\nid = \"a\"\nexamples = [\"x y\"]\npatterns = [\n{}]\nanswer = \"hi\"\n",
        pats.concat()
    )
}

#[test]
fn a_pattern_set_too_big_to_combine_is_an_error_on_the_pattern_that_tips_it() {
    let p = problems(
        "regex-set",
        &[("a.toml", oversized_pattern_set().as_bytes())],
    );
    // Patterns are on lines 5..=12; the set of the first four still builds, the fifth tips it.
    assert!(
        has(
            &p,
            "a.toml:9: ",
            "pattern `zeq\\w{20}` makes the combined pattern set"
        ),
        "{p:?}"
    );
    assert_eq!(
        p.iter().filter(|m| !m.contains("warning:")).count(),
        1,
        "{p:?}"
    );
    // A set just below the limit is fine.
    let body = oversized_pattern_set().replace(
        "  'zeq\\w{20}',\n  'zfq\\w{20}',\n  'zgq\\w{20}',\n  'zhq\\w{20}',\n",
        "",
    );
    let p = problems("regex-set-ok", &[("a.toml", body.as_bytes())]);
    assert!(p.iter().all(|m| m.contains("warning:")), "{p:?}");
}

#[test]
fn patterns_that_match_an_empty_message_are_errors_on_their_line() {
    let body = "[[intent]]\nid = \"greet\"\nexamples = [\"hello there\"]\npatterns = [\n  '',\n  'a|',\n  '(?i)^(hi|hello|)\\b',\n  '(?i)\\bhello\\b',\n]\nanswer = \"hi\"\n";
    let p = problems("empty-pattern", &[("a.toml", body.as_bytes())]);
    for line in 5..=7 {
        assert!(
            has(
                &p,
                &format!("a.toml:{line}: "),
                "matches an empty message; it would answer everything"
            ),
            "line {line}: {p:?}"
        );
    }
    assert!(!p.iter().any(|m| m.starts_with("a.toml:8:")), "{p:?}");
}

#[test]
fn a_pattern_matching_an_out_of_scope_example_is_an_error_naming_it() {
    let intents = "[[intent]]\nid = \"orders\"\nexamples = [\"where is my order\"]\npatterns = ['(?i)\\bwhere\\b']\nanswer = \"x\"\n";
    let oos = "[out_of_scope]\nexamples = [\n  \"tell me a joke\",\n  \"where is the nearest beach\",\n]\n";
    let p = problems(
        "pattern-oos",
        &[("a.toml", intents.as_bytes()), ("oos.toml", oos.as_bytes())],
    );
    let hit = p
        .iter()
        .find(|m| m.starts_with("a.toml:4: ") && !m.contains("warning:"))
        .unwrap_or_else(|| panic!("{p:?}"));
    assert!(hit.contains("where is the nearest beach"), "{hit}");
    assert!(hit.contains("oos.toml:4)"), "{hit}");
}

#[test]
fn a_pattern_matching_another_intents_example_is_a_warning_naming_it() {
    let body = "[[intent]]\nid = \"orders\"\nexamples = [\"where is my order\"]\npatterns = ['(?i)\\border\\b']\nanswer = \"x\"\n\n[[intent]]\nid = \"refund\"\nexamples = [\n  \"money back please\",\n  \"refund my order\",\n]\nanswer = \"y\"\n";
    let dir = temp_dir("pattern-other");
    std::fs::write(dir.join("a.toml"), body).unwrap();
    let report = check_dir(&dir, &known(), &MatcherSettings::default());
    let warning = report
        .problems
        .iter()
        .find(|p| p.line == 4)
        .unwrap_or_else(|| panic!("{:?}", report.problems));
    assert_eq!(warning.severity, Severity::Warning, "{warning}");
    assert!(warning.message.contains("intent `refund`"), "{warning}");
    assert!(warning.message.contains("a.toml:11)"), "{warning}");
    assert!(!report.has_errors(), "{:?}", report.problems);
}

#[test]
fn an_unclosed_template_opening_is_an_error_at_the_answer() {
    let body = "[[intent]]\nid = \"a\"\nexamples = [\"x y\"]\nanswers = [\n  \"see {{links.orders}}\",\n  \"see {{links.orders}\",\n]\nquick_replies = [\"{{customer.name\"]\n";
    let p = problems("unclosed", &[("a.toml", body.as_bytes())]);
    assert!(has(&p, "a.toml:6: ", "unclosed `{{`"), "{p:?}");
    assert!(has(&p, "a.toml:8: ", "unclosed `{{`"), "{p:?}");
    assert!(!p.iter().any(|m| m.starts_with("a.toml:5:")), "{p:?}");
}
