//! Text normalisation shared by training and classification: NFKC, case folding, letters and
//! digits only, single spaces. The same function runs on both sides, so they always agree.

use unicode_normalization::UnicodeNormalization;

/// Normalises `text` into `out` (cleared first), reading at most `max_chars` characters.
/// Apostrophes vanish ("what's" → "whats"); other non-alphanumerics become word breaks.
pub fn normalize_into(text: &str, max_chars: usize, out: &mut String) {
    out.clear();
    let mut pending_space = false;
    let mut push = |c: char, out: &mut String| {
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            for l in c.to_lowercase() {
                fold_into(l, out);
            }
        } else if !matches!(c, '\'' | '’' | '`') {
            pending_space = true;
        }
    };
    let head = match text.char_indices().nth(max_chars) {
        Some((i, _)) => &text[..i],
        None => text,
    };
    if head.is_ascii() {
        for c in head.chars() {
            push(c, out);
        }
    } else {
        for c in head.nfkc() {
            push(c, out);
        }
    }
}

/// Pushes a lower-case `c`, applying Unicode's full case folding where lower-casing alone
/// leaves two spellings of one word apart: ß (and ẞ) → ss, final sigma ς → σ. So "STRASSE" and
/// "Straße" both become "strasse", "ΟΔΟΣ" and "οδος" both "οδοσ".
fn fold_into(c: char, out: &mut String) {
    match c {
        'ß' => out.push_str("ss"), // also ẞ, which lower-cases to ß
        'ς' => out.push('σ'),
        // The other full foldings expand to a letter plus a combining mark, which this
        // normaliser treats as a word break; NFKC already folds ligatures such as "ﬁ".
        _ => out.push(c),
    }
}

/// Convenience wrapper that allocates.
pub fn normalize(text: &str) -> String {
    let mut out = String::new();
    normalize_into(text, usize::MAX, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_width_and_punctuation() {
        assert_eq!(normalize("  Where's   MY order?!"), "wheres my order");
        assert_eq!(normalize("ＦＵＬＬ width"), "full width");
        assert_eq!(normalize("café-au-lait"), "café au lait");
        assert_eq!(normalize("?!"), "");
    }

    #[test]
    fn folds_sharp_s_and_final_sigma() {
        assert_eq!(normalize("Straße"), "strasse");
        assert_eq!(normalize("STRASSE"), "strasse");
        assert_eq!(normalize("GROẞ"), "gross");
        assert_eq!(normalize("ΟΔΟΣ"), normalize("οδος"));
        assert_eq!(normalize("οδος"), "οδοσ");
    }

    #[test]
    fn truncates_long_input() {
        let mut out = String::new();
        normalize_into("abcdef", 3, &mut out);
        assert_eq!(out, "abc");
    }
}
