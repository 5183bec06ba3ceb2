//! The `!` commands agents type in a ticket's thread on a chat platform. Platform-free: adapters
//! hand over the text, the desk acts on the parsed [`Command`]. Text without a leading `!` is a
//! reply to relay to the customer.

/// What an agent's line in a ticket thread asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Plain text, or `!reply TEXT`: relayed to the customer.
    Reply(String),
    /// `!note TEXT`: internal, never relayed.
    Note(String),
    Claim,
    /// `!close [reason]`.
    Close(String),
    /// `!release`: back to the queue.
    Release,
    /// `!transfer NAME`: to another agent (an id or an unambiguous name).
    Transfer(String),
    /// `!reopen`: a resolved ticket.
    Reopen,
    /// `!snippet NAME`: send a canned answer.
    Snippet(String),
    /// `!anon TEXT`: a reply signed "Support team".
    Anon(String),
    /// `!priority P`: the priority as written; the desk checks it is one it knows.
    Priority(String),
    /// `!tag T` and `!untag T`.
    Tag(String),
    Untag(String),
    /// `!block` and `!unblock` the ticket's customer.
    Block,
    Unblock,
}

/// Why a `!` line is not a command the desk knows; shown to the agent as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("unknown command '!{0}'; use !note TEXT, !reply TEXT, !claim, !close [reason], !release, !transfer NAME, !reopen, !snippet NAME, !anon TEXT, !priority low|normal|high|urgent, !tag T, !untag T, !block or !unblock")]
    Unknown(String),
    #[error("!{0} needs text after it")]
    MissingText(&'static str),
}

/// Parses one line an agent wrote in a ticket thread. `explicit` (relay mode "explicit") means
/// only `!reply` reaches the customer, so plain text is `None`: agents talking among themselves.
pub fn parse(text: &str, explicit: bool) -> Result<Option<Command>, CommandError> {
    let trimmed = text.trim();
    let Some(rest) = trimmed.strip_prefix('!') else {
        return Ok((!explicit && !trimmed.is_empty()).then(|| Command::Reply(trimmed.to_string())));
    };
    let (word, arg) = match rest.find(char::is_whitespace) {
        Some(i) => (&rest[..i], rest[i..].trim()),
        None => (rest, ""),
    };
    let needs_text = |what: &'static str, make: fn(String) -> Command| {
        if arg.is_empty() {
            Err(CommandError::MissingText(what))
        } else {
            Ok(Some(make(arg.to_string())))
        }
    };
    match word.to_ascii_lowercase().as_str() {
        // "!" alone or "! hi" is punctuation, not a command: treat it as text.
        "" => Ok((!explicit).then(|| Command::Reply(trimmed.to_string()))),
        "note" => needs_text("note", Command::Note),
        "reply" => needs_text("reply", Command::Reply),
        "claim" => Ok(Some(Command::Claim)),
        "close" => Ok(Some(Command::Close(arg.to_string()))),
        "release" => Ok(Some(Command::Release)),
        "transfer" => needs_text("transfer", Command::Transfer),
        "reopen" => Ok(Some(Command::Reopen)),
        "snippet" => needs_text("snippet", Command::Snippet),
        "anon" => needs_text("anon", Command::Anon),
        "priority" => needs_text("priority", Command::Priority),
        "tag" => needs_text("tag", Command::Tag),
        "untag" => needs_text("untag", Command::Untag),
        "block" => Ok(Some(Command::Block)),
        "unblock" => Ok(Some(Command::Unblock)),
        _ => Err(CommandError::Unknown(word.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_a_reply_unless_relay_is_explicit() {
        assert_eq!(
            parse("  Hello there ", false),
            Ok(Some(Command::Reply("Hello there".into())))
        );
        assert_eq!(parse("Hello there", true), Ok(None));
        assert_eq!(parse("   ", false), Ok(None));
    }

    #[test]
    fn commands_parse_with_their_arguments() {
        assert_eq!(
            parse("!note customer is a VIP", false),
            Ok(Some(Command::Note("customer is a VIP".into())))
        );
        assert_eq!(
            parse("!reply on its way", true),
            Ok(Some(Command::Reply("on its way".into())))
        );
        assert_eq!(parse("!claim", false), Ok(Some(Command::Claim)));
        assert_eq!(parse("!CLAIM", false), Ok(Some(Command::Claim)));
        assert_eq!(
            parse("!close", false),
            Ok(Some(Command::Close(String::new())))
        );
        assert_eq!(
            parse("!close  refund sent ", false),
            Ok(Some(Command::Close("refund sent".into())))
        );
        assert_eq!(
            parse("!note\nmultiline\ntext", false),
            Ok(Some(Command::Note("multiline\ntext".into())))
        );
    }

    #[test]
    fn desk_commands_parse_with_their_arguments() {
        let p = |t: &str| parse(t, true);
        assert_eq!(p("!release"), Ok(Some(Command::Release)));
        assert_eq!(
            p("!transfer  bob "),
            Ok(Some(Command::Transfer("bob".into())))
        );
        assert_eq!(p("!reopen"), Ok(Some(Command::Reopen)));
        assert_eq!(
            p("!snippet refund_policy"),
            Ok(Some(Command::Snippet("refund_policy".into())))
        );
        assert_eq!(
            p("!anon We are on it"),
            Ok(Some(Command::Anon("We are on it".into())))
        );
        assert_eq!(
            p("!Priority HIGH"),
            Ok(Some(Command::Priority("HIGH".into())))
        );
        assert_eq!(p("!tag billing"), Ok(Some(Command::Tag("billing".into()))));
        assert_eq!(
            p("!untag billing"),
            Ok(Some(Command::Untag("billing".into())))
        );
        assert_eq!(p("!block"), Ok(Some(Command::Block)));
        assert_eq!(p("!unblock"), Ok(Some(Command::Unblock)));
        for (line, what) in [
            ("!transfer", "transfer"),
            ("!snippet ", "snippet"),
            ("!anon", "anon"),
            ("!priority", "priority"),
            ("!tag", "tag"),
            ("!untag", "untag"),
        ] {
            assert_eq!(p(line), Err(CommandError::MissingText(what)), "{line}");
        }
    }

    #[test]
    fn bad_commands_say_what_is_wrong() {
        assert_eq!(
            parse("!note", false),
            Err(CommandError::MissingText("note"))
        );
        assert_eq!(
            parse("!reply   ", true),
            Err(CommandError::MissingText("reply"))
        );
        assert_eq!(
            parse("!frobnicate x", false),
            Err(CommandError::Unknown("frobnicate".into()))
        );
        assert!(CommandError::Unknown("x".into())
            .to_string()
            .contains("!note"));
    }

    #[test]
    fn a_lone_exclamation_is_text() {
        assert_eq!(
            parse("! wow", false),
            Ok(Some(Command::Reply("! wow".into())))
        );
    }
}
