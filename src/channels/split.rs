//! Splitting text for platforms that cap a message's length (Discord 2,000 characters, a Slack
//! section 3,000): on line breaks where possible, else between words, and only inside a word
//! longer than the limit. Nothing is dropped and every piece is within the limit.

/// Splits `text` into pieces of at most `limit` characters (not bytes).
pub fn split(text: &str, limit: usize) -> Vec<String> {
    assert!(limit > 0, "limit must be positive");
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.chars().count() > limit {
        // Byte index just past the first `limit` characters.
        let cut = rest
            .char_indices()
            .nth(limit)
            .map_or(rest.len(), |(i, _)| i);
        let window = &rest[..cut];
        // A separator just past the limit ends a piece that fits exactly.
        let with_next = &rest[..rest[cut..]
            .chars()
            .next()
            .map_or(cut, |c| cut + c.len_utf8())];
        let at = with_next
            .rfind('\n')
            .filter(|&i| i > 0)
            .or_else(|| with_next.rfind(' ').filter(|&i| i > 0));
        let (piece, next) = match at {
            // The separator ends this piece's line and is not repeated at the next one's start.
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (window, &rest[cut..]),
        };
        pieces.push(piece.to_string());
        rest = next;
    }
    if !rest.is_empty() || pieces.is_empty() {
        pieces.push(rest.to_string());
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_piece() {
        assert_eq!(split("hello", 10), vec!["hello"]);
        assert_eq!(split("", 10), vec![""]);
    }

    #[test]
    fn long_text_splits_on_lines_then_words_and_loses_nothing() {
        let para = "word ".repeat(150); // 750 chars
        let text = format!("{para}\n{para}\n{para}\n{para}");
        let pieces = split(&text, 2000);
        assert!(pieces.len() >= 2);
        assert!(pieces.iter().all(|p| p.chars().count() <= 2000));
        // Each cut removed exactly one separator; words are never broken.
        let rejoined: usize =
            pieces.iter().map(|p| p.chars().count()).sum::<usize>() + pieces.len() - 1;
        assert_eq!(rejoined, text.chars().count());
        assert!(pieces
            .iter()
            .all(|p| p.split_whitespace().all(|w| w == "word")));
    }

    #[test]
    fn a_word_longer_than_the_limit_is_cut_without_loss() {
        let text = "é".repeat(25);
        let pieces = split(&text, 10);
        assert_eq!(pieces.len(), 3);
        assert_eq!(pieces.concat(), text);
        assert!(pieces.iter().all(|p| p.chars().count() <= 10));
    }

    #[test]
    fn splits_at_the_last_space_within_the_limit() {
        assert_eq!(split("aaa bbb ccc", 7), vec!["aaa bbb", "ccc"]);
        assert_eq!(split("aaa\nbbb ccc", 9), vec!["aaa", "bbb ccc"]);
    }
}
