//! Slack text: escaping relayed text, the [`Mrkdwn`] type that says "already safe to send", and
//! splitting long text into pieces Slack accepts.
//!
//! Slack parses `<...>` in message text as mentions (`<@U123>`, `<!channel>`) and links
//! (`<http://x|label>`), and `&` starts an entity. Escaping `&`, `<` and `>` makes any text we relay
//! display literally, so a customer cannot ping a channel or disguise a link.

/// Slack's limit for a section block's text, and the size we split messages to.
pub const SECTION_TEXT_MAX: usize = 3000;

/// Text relayed from a person, made inert: `&` → `&amp;`, `<` → `&lt;`, `>` → `&gt;`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Slack message text as a person reads it, for the platform-neutral core (and agents on other
/// platforms): `<@U123>` → `@U123` (or `@name` when the mention carries one), `<#C123|help>` →
/// `#help`, `<!here>` → `@here`, `<https://x.example|label>` → `label (https://x.example)`, a
/// bare link → the link, a link Slack made of typed text → that text, and the entities `&lt;` `&gt;` `&amp;` → `<` `>` `&`.
/// Relaying the result back to Slack goes through [`escape`] again, so nothing becomes live.
pub fn to_plain(slack_text: &str) -> String {
    let mut out = String::with_capacity(slack_text.len());
    let mut rest = slack_text;
    while let Some(open) = rest.find('<') {
        out.push_str(&unescape_entities(&rest[..open]));
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            out.push_str(&unescape_entities(&rest[open..]));
            rest = "";
            break;
        };
        out.push_str(&render_markup(&after[..close]));
        rest = &after[close + 1..];
    }
    out.push_str(&unescape_entities(rest));
    out
}

fn render_markup(inner: &str) -> String {
    let (target, label) = match inner.split_once('|') {
        Some((t, l)) => (t, Some(unescape_entities(l))),
        None => (inner, None),
    };
    let target = unescape_entities(target);
    if let Some(user) = target.strip_prefix('@') {
        return format!("@{}", label.as_deref().unwrap_or(user));
    }
    if let Some(channel) = target.strip_prefix('#') {
        return format!("#{}", label.as_deref().unwrap_or(channel));
    }
    if let Some(special) = target.strip_prefix('!') {
        return match (special, label) {
            (_, Some(label)) => label,
            (s, None) if s.starts_with("subteam^") => format!("@{}", &s["subteam^".len()..]),
            (s, None) => format!("@{s}"),
        };
    }
    match label {
        // Slack links what people type ("example.com" → <http://example.com|example.com>).
        Some(label) if !label.is_empty() && target.ends_with(label.as_str()) => label,
        Some(label) if !label.is_empty() => format!("{label} ({target})"),
        _ => target
            .strip_prefix("mailto:")
            .unwrap_or(&target)
            .to_string(),
    }
}

fn unescape_entities(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Text that is safe to send as Slack `mrkdwn`: either escaped from plain text, or composed by us
/// on purpose (formatting such as `*bold*` or a `<@U123>` mention we mean). Every function that
/// sends message text ([`super::blocks`], [`super::api::SlackApi`]) takes this type, so relayed
/// text cannot reach Slack unescaped by accident.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mrkdwn(String);

impl Mrkdwn {
    /// Plain text (a customer's or an agent's words, a ticket subject): escaped.
    pub fn escaped(plain: &str) -> Self {
        Self(escape(plain))
    }

    /// Markup we wrote ourselves. Never pass text a person typed here: use [`Mrkdwn::escaped`] for
    /// those parts and join them with [`Mrkdwn::push`].
    pub fn trusted(markup: impl Into<String>) -> Self {
        Self(markup.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    pub fn push(&mut self, other: &Mrkdwn) -> &mut Self {
        self.0.push_str(&other.0);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Splits into pieces of at most `max_chars` characters (see [`split`]); escaped text stays
    /// escaped because no piece ends inside an `&...;` entity.
    pub fn split(&self, max_chars: usize) -> Vec<Mrkdwn> {
        split(&self.0, max_chars).into_iter().map(Mrkdwn).collect()
    }
}

impl std::fmt::Display for Mrkdwn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Splits `text` into pieces of at most `max_chars` characters (Unicode scalar values, which is
/// how Slack counts) with [`crate::channels::split`]: on line breaks, else between words (the
/// separator at a cut is dropped), else inside a word longer than a piece. What Slack needs
/// beyond it: a cut inside a word never breaks an `&amp;`-style entity in two (the start of
/// the entity moves to the next piece), and an empty or blank piece is left out (Slack refuses
/// empty text), so an empty text gives no pieces.
pub fn split(text: &str, max_chars: usize) -> Vec<String> {
    // The longest part of an entity a cut can leave behind is "&amp" (4 characters): cutting
    // that much shorter leaves room to move it to the next piece.
    const ENTITY_TAIL_MAX: usize = 4;
    let max_chars = max_chars.max(2 * ENTITY_TAIL_MAX);
    let mut pieces = crate::channels::split::split(text, max_chars - ENTITY_TAIL_MAX);
    for i in 1..pieces.len() {
        if let Some(at) = broken_entity_start(&pieces[i - 1], &pieces[i]) {
            let tail = pieces[i - 1].split_off(at);
            pieces[i].insert_str(0, &tail);
        }
    }
    pieces.retain(|p| !p.trim().is_empty());
    pieces
}

/// Where in `before` an entity starts that a cut split between `before` and `after`.
fn broken_entity_start(before: &str, after: &str) -> Option<usize> {
    let amp = before.rfind('&')?;
    let tail = &before[amp..];
    if tail.contains(';') || tail.len() >= 5 {
        return None;
    }
    ["&amp;", "&lt;", "&gt;"]
        .iter()
        .any(|entity| {
            entity
                .strip_prefix(tail)
                .is_some_and(|rest| !rest.is_empty() && after.starts_with(rest))
        })
        .then_some(amp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_neutralises_mentions_and_links() {
        assert_eq!(escape("<!channel> hi"), "&lt;!channel&gt; hi");
        assert_eq!(
            escape("<@U123> and <!here>"),
            "&lt;@U123&gt; and &lt;!here&gt;"
        );
        assert_eq!(
            escape("<http://evil.example|your bank>"),
            "&lt;http://evil.example|your bank&gt;"
        );
        assert_eq!(escape("fish & chips &amp;"), "fish &amp; chips &amp;amp;");
        assert_eq!(escape("plain *bold* ünïcödé 🙂"), "plain *bold* ünïcödé 🙂");
        assert_eq!(Mrkdwn::escaped("<!everyone>").as_str(), "&lt;!everyone&gt;");
    }

    #[test]
    fn slack_markup_reads_as_plain_text() {
        assert_eq!(to_plain("hi <@U123> and <@U9|ann>"), "hi @U123 and @ann");
        assert_eq!(
            to_plain("see <#C1|help> <!here> <!channel>"),
            "see #help @here @channel"
        );
        assert_eq!(
            to_plain("<!subteam^S1|@agents> <!subteam^S2>"),
            "@agents @S2"
        );
        assert_eq!(
            to_plain("<https://x.example/a?b=1&amp;c=2|my order>"),
            "my order (https://x.example/a?b=1&c=2)"
        );
        assert_eq!(to_plain("<http://example.com|example.com>"), "example.com");
        assert_eq!(to_plain("<https://example.com>"), "https://example.com");
        assert_eq!(to_plain("<mailto:a@b.example|a@b.example>"), "a@b.example");
        assert_eq!(to_plain("1 &lt; 2 &amp;&amp; 3 &gt; 2"), "1 < 2 && 3 > 2");
        assert_eq!(to_plain("&amp;lt; stays typed"), "&lt; stays typed");
        assert_eq!(to_plain("unclosed <@U1"), "unclosed <@U1");
        // Round trip: what a person typed, relayed, is inert again.
        assert_eq!(
            escape(&to_plain("<!channel> &lt;!channel&gt;")),
            "@channel &lt;!channel&gt;"
        );
    }

    /// The text minus the separators dropped at cuts.
    fn joined(pieces: &[String]) -> String {
        pieces.concat()
    }

    #[test]
    fn short_text_is_one_piece_and_empty_text_none() {
        assert_eq!(split("hello", 3000), vec!["hello"]);
        assert!(split("", 3000).is_empty());
        assert!(split("  ", 3000).is_empty());
    }

    #[test]
    fn splits_on_line_breaks_first() {
        let text = format!("{}\n{}\n{}", "a".repeat(10), "b".repeat(10), "c".repeat(10));
        let pieces = split(&text, 26);
        assert_eq!(
            pieces,
            vec![
                format!("{}\n{}", "a".repeat(10), "b".repeat(10)),
                "c".repeat(10)
            ]
        );
    }

    #[test]
    fn splits_on_spaces_when_a_line_is_too_long() {
        let text = "one two three four five six seven eight nine ten";
        let pieces = split(text, 12);
        assert_eq!(pieces.join(" "), text);
        assert!(pieces.iter().all(|p| p.chars().count() <= 12), "{pieces:?}");
    }

    #[test]
    fn multibyte_text_is_counted_in_characters_and_never_cut_inside_one() {
        // 2-, 3- and 4-byte characters, no spaces: forces hard cuts.
        let text = "äö€😀".repeat(1000);
        let pieces = split(&text, 3000);
        assert_eq!(joined(&pieces), text);
        assert_eq!(pieces.len(), 2);
        assert!(pieces.iter().all(|p| p.chars().count() <= 3000));
        let words = "grüße 😀 ".repeat(800);
        let pieces = split(&words, 3000);
        assert_eq!(pieces.join(" "), words);
        assert!(pieces.iter().all(|p| p.chars().count() <= 3000));
    }

    #[test]
    fn a_hard_cut_does_not_break_an_entity() {
        for limit in 8..20 {
            let text = escape(&"<&>".repeat(10)); // entities only, no spaces
            let pieces = split(&text, limit);
            assert_eq!(joined(&pieces), text, "limit {limit}");
            for p in &pieces {
                assert!(p.chars().count() <= limit, "{p:?} at {limit}");
                assert_eq!(p.matches('&').count(), p.matches(';').count(), "{p:?}");
            }
        }
    }

    #[test]
    fn long_text_is_never_dropped() {
        let text: String = (0..5000)
            .map(|i| format!("line {i} with some words\n"))
            .collect();
        let pieces = split(&text, SECTION_TEXT_MAX);
        assert!(pieces.len() > 30);
        assert_eq!(pieces.join("\n"), text);
        assert!(pieces.iter().all(|p| p.chars().count() <= SECTION_TEXT_MAX));
    }
}
